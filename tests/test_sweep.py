"""`hone sweep`: the curve fit, doubling gain and crossing, the train-fraction subsample, and a real tiny sweep."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

import hone
from browser import assert_clean
from hone.cli import app
from hone.sweep.curve import crossing, curve, fit


def _noisy(a: float, b: float, c: float, sizes: list[int], seed: int = 0, noise: float = 0.005) -> tuple[list, list]:
    rng = np.random.default_rng(seed)
    xs = [n for n in sizes for _ in range(3)]
    return xs, list(curve(np.array(xs), a, b, c) + rng.normal(0, noise, len(xs)))


def test_fit_recovers_a_known_curve_and_its_doubling_gain() -> None:
    xs, ys = _noisy(0.9, 2.0, 0.5, [50, 100, 200, 400, 800])
    fitted = fit(xs, ys)
    assert fitted["params"]["a"] == pytest.approx(0.9, abs=0.03)
    assert fitted["params"]["c"] == pytest.approx(0.5, abs=0.15)
    true_gain = float(curve(1600, 0.9, 2.0, 0.5) - curve(800, 0.9, 2.0, 0.5))
    assert fitted["doubling_gain"] == pytest.approx(true_gain, abs=0.01)
    assert fitted["at_examples"] == 800


def test_a_falling_loss_curve_gains_by_falling() -> None:
    xs = [50, 100, 200, 400] * 2
    ys = list(0.5 + 3.0 * np.array(xs, dtype=float) ** -0.6)
    fitted = fit(xs, ys, higher_is_better=False)
    assert fitted["form"] == "a + b * n**-c"
    drop = float(3.0 * 400**-0.6 - 3.0 * 800**-0.6)  # the gain is an improvement: the loss falls by this
    assert fitted["doubling_gain"] == pytest.approx(drop, rel=0.05)
    assert fitted["params"]["a"] == pytest.approx(0.5, abs=0.02)


def test_too_few_sizes_give_no_fit_and_a_reason() -> None:
    assert "reason" in fit([10, 10, 20, 20], [0.5, 0.52, 0.6, 0.61])


def test_crossing_is_found_for_crossing_curves_and_not_for_parallel_ones() -> None:
    slow_high = {"form": "a - b * n**-c", "params": {"a": 0.95, "b": 3.0, "c": 0.5}}
    fast_low = {"form": "a - b * n**-c", "params": {"a": 0.8, "b": 0.5, "c": 0.5}}
    found = crossing(slow_high, fast_low, 10, 10_000)
    assert found is not None
    n = found["examples"]
    assert abs(float(curve(n, 0.95, 3.0, 0.5) - curve(n, 0.8, 0.5, 0.5))) < 1e-3
    parallel = {"form": "a - b * n**-c", "params": {"a": 0.7, "b": 3.0, "c": 0.5}}
    assert crossing(slow_high, parallel, 10, 10_000) is None


def test_train_fraction_keeps_dev_and_test_and_is_seeded(config_dict: dict) -> None:
    def splits(fraction: float, seed: int) -> dict:
        data = {**config_dict["data"], "split": {"seed": 5, "train_fraction": fraction}}
        cfg = {**config_dict, "seed": seed, "data": data}
        return hone.check(cfg).splits

    full, half, half_again, other_seed = splits(1.0, 1), splits(0.5, 1), splits(0.5, 1), splits(0.5, 2)
    ids = {name: [ex.text for ex in exs] for name, exs in full.items()}
    for name in ("dev", "test"):
        assert [ex.text for ex in half[name]] == ids[name] == [ex.text for ex in other_seed[name]]
    assert len(half["train"]) == pytest.approx(len(full["train"]) / 2, abs=3)
    assert {ex.text for ex in half["train"]} <= set(ids["train"])
    assert [ex.text for ex in half["train"]] == [ex.text for ex in half_again["train"]]
    assert [ex.text for ex in half["train"]] != [ex.text for ex in other_seed["train"]]
    labels = {ex.label_key for ex in half["train"]}
    assert labels == {ex.label_key for ex in full["train"]}


def test_sweep_cli_writes_curves_resumes_and_draws_two_series(tmp_path: Path, config_dict: dict, page: Any) -> None:
    config_dict["baseline"] = {"methods": ["majority"]}
    config_dict["train"] = {**config_dict["train"], "epochs": 1, "batch_size": 32}
    config_dict["eval"] = {"bootstrap": 100}
    first, second = tmp_path / "full.yaml", tmp_path / "freeze.yaml"
    first.write_text(yaml.safe_dump(config_dict))
    frozen = {**config_dict, "name": "f", "model": {**config_dict["model"], "method": "freeze"}}
    second.write_text(yaml.safe_dump(frozen))
    runner = CliRunner()
    args = ["sweep", str(first), "--fractions", "0.5,1", "--seeds", "2", "--also", str(second)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    folder = Path(config_dict["runs_dir"]) / "t-sweep"
    sweep = json.loads((folder / "sweep.json").read_text())
    assert sweep["kind"] == "sweep" and sweep["metric"] == "macro_f1" and sweep["direction"] == "max"
    assert [s["label"] for s in sweep["series"]] == ["t full", "f freeze"]
    for series in sweep["series"]:
        assert len(series["points"]) == 4 and [s["n"] for s in series["summary"]] == [2, 2]
        assert series["fit"] is None and "distinct" in series["no_fit"]
        for point in series["points"]:
            scored = json.loads((Path(point["run_dir"]) / "eval.json").read_text())
            assert point["score"] == scored["metrics"]["macro_f1"]
            assert scored["n"] == sweep["test_examples"]
    half, whole = sweep["series"][0]["summary"]
    assert half["examples"] < whole["examples"]
    assert (folder / "sweep.png").stat().st_size > 1000
    page.goto((folder / "sweep.html").as_uri())
    assert "Learning curves" in page.inner_text("h1") and page.locator("tbody tr").count() == 4
    assert page.evaluate("document.querySelector('img').naturalWidth") > 100  # the embedded PNG decodes
    assert_clean(page)
    before = {p: p.stat().st_mtime for p in folder.glob("points/*/eval.json")}
    again = runner.invoke(app, args)
    assert again.exit_code == 0 and again.output.count("(done before)") == 8
    assert before == {p: p.stat().st_mtime for p in folder.glob("points/*/eval.json")}
    # a point interrupted after training keeps its model: the next run only scores it
    point = Path(sweep["series"][1]["points"][0]["run_dir"])
    (point / "eval.json").unlink()
    weights = {p: p.stat().st_mtime for p in (point / "model").iterdir()}
    third = runner.invoke(app, args)
    assert third.exit_code == 0 and third.output.count("(done before)") == 7, third.output
    assert (point / "eval.json").is_file() and weights == {p: p.stat().st_mtime for p in (point / "model").iterdir()}


def test_bad_fractions_are_refused(tmp_path: Path, config_dict: dict) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    result = CliRunner().invoke(app, ["sweep", str(path), "--fractions", "0,1.5"])
    assert result.exit_code != 0 and "fractions" in result.output


def test_jobs_train_points_in_processes_of_their_own_with_the_same_results(tmp_path: Path, config_dict: dict) -> None:
    import os

    config_dict["baseline"] = {"methods": ["majority"]}
    config_dict["train"] = {**config_dict["train"], "epochs": 1, "batch_size": 32, "threads": 1}
    config_dict["eval"] = {"bootstrap": 100}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    together = hone.api.sweep(path, [0.5, 1.0], seeds=1, name="together", jobs=2)
    alone = hone.api.sweep(path, [0.5, 1.0], seeds=1, name="alone")
    pairs = zip(together["series"][0]["points"], alone["series"][0]["points"], strict=True)
    for mine, theirs in pairs:
        assert (mine["fraction"], mine["examples"]) == (theirs["fraction"], theirs["examples"])
        assert mine["score"] == pytest.approx(theirs["score"], abs=0.02)
    records = {r.name: r for r in hone.runs(Path(config_dict["runs_dir"]) / "together" / "points")}
    pids = {records[Path(p["run_dir"]).name].pid for p in together["series"][0]["points"]}
    assert os.getpid() not in pids and None not in pids
