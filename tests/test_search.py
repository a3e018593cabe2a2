"""`hone train --search N`: N recipes tried on dev as ordinary runs, trials that fall behind pruned, only the
winner scored on test."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
import yaml

import hone
from hone.pipeline.search import space


@pytest.fixture
def project(tmp_path: Path, config_dict: dict[str, Any]) -> Path:
    config_dict["train"].update(epochs=2, batch_size=16)
    config_dict["data"]["split"] = {"dev": 0.2}
    (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
    return tmp_path / "hone.yaml"


def test_three_trials_on_dev_and_the_winner_alone_on_test(project: Path) -> None:
    lines: list[str] = []
    summary = hone.api.search(project, 3, progress=False, log=lines.append)
    runs = Path(hone.load_config(project).runs_dir)
    trials = summary["trials"]
    assert [t["run"] for t in trials] == ["t-t1", "t-t2", "t-t3"]
    assert len({json.dumps(t["recipe"], sort_keys=True) for t in trials}) == 3  # three different recipes
    complete = [t for t in trials if t["state"] == "complete"]
    winner = max(complete, key=lambda t: t["dev_score"])  # macro-F1 on dev: higher is better
    assert summary["winner"] == winner["run"] and summary["test"]["touched"] == 1
    for t in trials:  # test was read for the winner only
        assert (runs / t["run"] / "eval.json").exists() == (t["run"] == winner["run"])
    assert json.loads((runs / "t-search.json").read_text()) == json.loads(json.dumps(summary))
    assert (runs / winner["run"] / "search.json").exists()
    assert {r.name for r in hone.runs(runs)} >= {"t-t1", "t-t2", "t-t3"}
    assert any("scoring it on test, once" in line for line in lines)
    html = hone.report(runs / winner["run"]).read_text()
    assert "Search" in html and "t-t2" in html


def test_a_trial_behind_the_others_is_pruned_and_recorded_as_stopped(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(optuna.trial.Trial, "should_prune", lambda self: self.number == 1)
    summary = hone.api.search(project, 3, progress=False, log=lambda line: None)
    states = [t["state"] for t in summary["trials"]]
    assert states == ["complete", "pruned", "complete"]
    runs = Path(hone.load_config(project).runs_dir)
    status = {r.name: r.status for r in hone.runs(runs)}
    assert status["t-t2"] == "stopped" and not (runs / "t-t2" / "model").exists()
    assert summary["winner"] != "t-t2"


def test_the_space_follows_the_method() -> None:
    full = hone.load_config({"task": "classify", "data": {"train": "x.jsonl"}, "model": {"method": "full"}})
    lora = hone.load_config({"task": "classify", "data": {"train": "x.jsonl"}, "model": {"method": "lora"}})
    assert "head_lr_factor" in space(full) and "model.lora.r" not in space(full)
    assert "model.lora.r" in space(lora)
    low, high = space(full)["train.lr"][1]
    assert low < full.train.lr < high
