"""The whole pipeline through the CLI and the Python API, on a tiny random encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hone
from hone.cli import app

runner = CliRunner()


def _write_config(tmp_path: Path, config_dict: dict) -> Path:
    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    return path


def _ok(args: list[str], code: int = 0, stdin: str | None = None) -> str:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == code, result.output + repr(result.exception)
    assert "Traceback" not in result.output
    return result.output


def test_cli_end_to_end(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"]["epochs"] = 3
    config = _write_config(tmp_path, config_dict)
    run_dir = tmp_path / "runs" / "t"
    assert "data ok" in _ok(["check", str(config)])
    out = _ok(["baseline", str(config)])
    assert "majority" in out and "tfidf_lr" in out
    _ok(["train", str(config), "--set", "train.batch_size=16"])
    out = _ok(["eval", str(run_dir)])
    assert "test macro_f1" in out and "baseline (" in out
    _ok(["report", str(run_dir)])
    result = json.loads((run_dir / "eval.json").read_text())
    assert {"metrics", "per_class", "confusion", "worst", "comparison", "cost", "verdict"} <= set(result)
    assert result["cost"]["tuned"]["per_1000_s"] > 0 and set(result["cost"]["baselines"]) == {"majority", "tfidf_lr"}
    assert result["verdict"] in (run_dir / "report.html").read_text()
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["train"]["batch_size"] == 16 and saved["train"]["warmup_ratio"] == 0.1  # every default written
    assert "finished" in _ok(["runs", "--dir", str(tmp_path / "runs")])
    lines = _ok(["predict", str(run_dir)], stdin='my invoice charge on the card\n{"text": "password reset login"}\n')
    predictions = [json.loads(line) for line in lines.splitlines()]
    assert [p["text"] for p in predictions] == ["my invoice charge on the card", "password reset login"]
    assert all(p["label"] in {"billing", "shipping", "account"} for p in predictions)


def test_check_reports_every_bad_row_without_traceback(tmp_path: Path, config_dict: dict, dataset: Path) -> None:
    good = dataset.read_text()
    bad = '{"text": "no label here"}\n{"text": "", "label": "billing"}\nnot json at all\n{"text": "x", "label": NaN}\n'
    dataset.write_text(good + bad)
    config = _write_config(tmp_path, config_dict)
    out = _ok(["check", str(config)], code=1)
    n = len(good.splitlines())
    for offset, category in [(1, "missing_field"), (2, "empty_field"), (3, "invalid_json"), (4, "non_standard_json")]:
        assert f"{dataset}:{n + offset}: error {category}" in out.replace("\n", "")
    out = _ok(["train", str(config)], code=1)
    assert "4 bad row(s)" in out and "data.on_error: skip" in out
    assert not (tmp_path / "runs" / "t" / "model").exists()
    report = json.loads((tmp_path / "runs" / "t" / "data" / "check.json").read_text())
    assert len([p for p in report["problems"] if p["severity"] == "error"]) == 4


def test_on_error_skip_trains_and_records(tmp_path: Path, config_dict: dict, dataset: Path) -> None:
    dataset.write_text(dataset.read_text() + "{broken\n")
    config_dict["data"]["on_error"] = "skip"
    config_dict["train"]["max_steps"] = 2
    run = hone.train(hone.load_config(config_dict), progress=False)
    report = json.loads((run.path / "data" / "check.json").read_text())
    assert [p["category"] for p in report["problems"] if p["severity"] == "error"] == ["invalid_json"]


def test_bad_config_is_a_clear_usage_error(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"]["learning_rate"] = 1e-4
    out = _ok(["train", str(_write_config(tmp_path, config_dict))], code=2)
    assert "train.learning_rate: unknown key" in out


def test_a_data_folder_is_one_message_naming_its_key(tmp_path: Path, config_dict: dict) -> None:
    folder = tmp_path / "test-split"
    folder.mkdir()
    config_dict["data"]["test"] = str(folder)
    result = runner.invoke(app, ["check", str(_write_config(tmp_path, config_dict))])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    (line,) = result.output.strip().splitlines()
    assert f"data.test: {folder} is a directory: give a .jsonl/.csv" in line


def test_init_writes_a_config_that_validates() -> None:
    text = _ok(["init", "classify"])
    assert hone.load_config(yaml.safe_load(text)).task == "classify"
    assert "# Peak learning rate" in text


def test_multi_label(tmp_path: Path, config_dict: dict) -> None:
    rows = [json.loads(line) for line in Path(config_dict["data"]["train"]).read_text().splitlines()]
    for i, row in enumerate(rows):
        row["label"] = [row["label"], "urgent"] if i % 4 == 0 else [row["label"]]
    data = tmp_path / "multi.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config_dict["data"].update(train=str(data), multi_label=True)
    config_dict["train"].update(epochs=2)
    cfg = hone.load_config(config_dict)
    hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    assert "confusion" not in result and set(result["per_class"]) == {"account", "billing", "shipping", "urgent"}
    assert 0.0 <= result["metrics"]["macro_f1"] <= 1.0 and "verdict" in result
    assert isinstance(run.predict(["invoice charge"])[0]["labels"], list)


def test_tune_is_three_lines(
    dataset: Path, tiny_encoder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    run = hone.tune(
        dataset,
        task="classify",
        model__name=str(tiny_encoder),
        train__epochs=3,
        train__lr=3e-3,
        eval__bootstrap=100,
        baseline__methods="[majority]",
    )
    assert (run.path / "report.html").is_file() and run.path.parent == tmp_path / "runs"
    assert run.predict(["invoice payment charge card"])[0]["label"] == "billing"


def test_public_surface_is_sorted_and_real() -> None:
    assert hone.__all__ == sorted(hone.__all__)
    for name in hone.__all__:
        assert getattr(hone, name) is not None
    assert callable(hone.train) and callable(hone.evaluate) and callable(hone.report)


def test_verbs_are_not_shadowed_by_stage_packages() -> None:
    import hone.baseline.classic  # noqa: F401
    import hone.evaluate.evaluator  # noqa: F401
    import hone.report.html  # noqa: F401
    import hone.runs.registry  # noqa: F401
    import hone.train.trainer  # noqa: F401

    for verb in ("baseline", "train", "evaluate", "report", "runs"):
        assert callable(getattr(hone, verb)), verb
