"""`hone advise`: every recommendation path, run evidence, the checklist, answers files and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.config import ConfigError
from hone.plan.advise import Answers, advise, template

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({"task": "classify", "labelled_examples": 40}, "prompting"),
        ({"task": "qa", "labelled_examples": 300, "knowledge_in_documents": True, "facts_change": True}, "rag"),
        ({"task": "other", "labelled_examples": 2000, "needs_tools": True}, "agent"),
        ({"task": "ner", "labelled_examples": 1500, "latency_ms": 50, "daily_volume": 100_000}, "encoder_finetune"),
        ({"task": "retrieval", "labelled_examples": 800, "sensitive_data": True}, "encoder_finetune"),
        ({"task": "generate", "labelled_examples": 600, "sensitive_data": True}, "lora_finetune"),
        ({"task": "extract", "labelled_examples": 900, "daily_volume": 50_000}, "lora_finetune"),
        ({"task": "generate", "labelled_examples": 300, "house_style": True}, "lora_finetune"),
    ],
)
def test_each_path_is_recommended_with_its_reasons(answers: dict, expected: str) -> None:
    result = advise(answers)
    assert result.recommendation == expected
    assert result.reasons[expected], "the winner must say why"
    assert result.scores[expected] > result.scores[result.runner_up]


def test_few_labels_beat_privacy_only_when_data_is_too_thin() -> None:
    thin = advise({"task": "extract", "labelled_examples": 30, "sensitive_data": True})
    assert thin.recommendation == "prompting"
    assert any("label more" in r for r in thin.reasons["prompting"])


@pytest.fixture(scope="module")
def baseline_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    from conftest import make_rows

    root = tmp_path_factory.mktemp("advise")
    data = root / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in make_rows(90)))
    cfg = {
        "name": "adv",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "baseline": {"methods": ["majority", "tfidf_lr"]},
    }
    hone.baseline(cfg)
    return root / "runs" / "adv"


def test_a_baseline_that_meets_the_target_wins_over_fine_tuning(baseline_run: Path) -> None:
    base = json.loads((baseline_run / "baseline.json").read_text())
    score = base["baselines"][base["best"]]["metrics"]["macro_f1"]
    wants = {"task": "classify", "labelled_examples": 2000, "latency_ms": 20, "daily_volume": 10**6}
    met = advise({**wants, "target": score - 0.01}, run=baseline_run)
    assert met.recommendation == "prompting"
    assert any(f"{score:.3f}" in r for r in met.reasons["prompting"])
    unmet = advise({**wants, "target": min(score + 0.05, 1.0) if score < 0.999 else 1.01}, run=baseline_run)
    assert unmet.recommendation == "encoder_finetune"
    baseline_item = next(i for i in met.checklist if i.name == "baseline")
    assert baseline_item.status == "ok" and base["best"] in baseline_item.why


def test_a_proven_tuned_gain_counts_for_fine_tuning_and_a_failed_one_against(baseline_run: Path) -> None:
    ev = baseline_run / "eval.json"
    answers = {"task": "classify", "labelled_examples": 600}
    try:
        ev.write_text(json.dumps({"comparison": {"gain": 0.2, "ci95": [0.1, 0.3], "better": True}}))
        proven = advise(answers, run=baseline_run)
        ev.write_text(json.dumps({"comparison": {"gain": -0.05, "ci95": [-0.1, 0.02], "better": False}}))
        failed = advise(answers, run=baseline_run)
    finally:
        ev.unlink()
    assert proven.scores["encoder_finetune"] - failed.scores["encoder_finetune"] == 9
    assert any("does not prove a gain" in r for r in failed.reasons["encoder_finetune"])


def test_against_reasons_are_negative_and_shown() -> None:
    stale = advise({"task": "qa", "labelled_examples": 40, "knowledge_in_documents": True, "facts_change": True})
    assert stale.recommendation == "rag"
    assert stale.scores["lora_finetune"] < 0
    assert any(r.startswith("-") and "stale" in r for r in stale.reasons["lora_finetune"])
    assert any("< 100" in r for r in stale.reasons["prompting"]), "the threshold is stated"
    assert "< 100 labelled examples" in stale.to_json()["thresholds"]["few_labels"]


def test_the_run_data_check_feeds_the_data_quality_item(baseline_run: Path) -> None:
    check = baseline_run / "data" / "check.json"
    saved = check.read_text() if check.is_file() else None
    try:
        check.parent.mkdir(parents=True, exist_ok=True)
        check.write_text(json.dumps({"counts": {"errors": {"bad_json": 2, "empty_text": 1}, "warnings": {}}}))
        bad = {i.name: i for i in advise({"labelled_examples": 600}, run=baseline_run).checklist}
        check.write_text(json.dumps({"counts": {"errors": {}, "warnings": {}}}))
        clean = {i.name: i for i in advise({"labelled_examples": 600}, run=baseline_run).checklist}
    finally:
        check.write_text(saved) if saved is not None else check.unlink()
    assert bad["data quality"].status == "warning" and "3 bad row" in bad["data quality"].why
    assert clean["data quality"].status == "ok"
    assert bad["baseline"].status == "ok" and "no baseline" not in bad["red flags"].why


def test_a_target_above_labeller_agreement_is_a_red_flag() -> None:
    answers = {"success_metric": "macro_f1", "target": 0.95, "annotator_agreement": 0.75, "label_guidelines": True}
    items = {i.name: i for i in advise(answers).checklist}
    assert items["red flags"].status == "warning" and "0.75 labeller agreement" in items["red flags"].why
    assert items["labelling consistency"].status == "warning" and items["labelling consistency"].action
    reachable = {i.name: i for i in advise({**answers, "target": 0.7, "annotator_agreement": 0.9}).checklist}
    assert "agreement" not in reachable["red flags"].why
    assert reachable["labelling consistency"].status == "ok"


def test_checklist_flags_what_is_missing_and_scope_creep() -> None:
    items = {i.name: i for i in advise({"task": "other", "other_tasks": ["summaries"], "timeline_weeks": 1}).checklist}
    assert items["success metric"].status == "missing"
    assert items["baseline"].status == "missing"
    assert items["timeline"].status == "warning"
    assert items["red flags"].status == "warning" and "summaries" in items["red flags"].why
    answers = {"success_metric": "macro_f1", "target": 0.9, "label_guidelines": True, "annotator_agreement": 0.95}
    ready = {i.name: i for i in advise(answers).checklist}
    assert ready["success metric"].status == "ok" and ready["labelling consistency"].status == "ok"


def test_bad_answers_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text("task: clasify\nlabeled: 3\n")
    with pytest.raises(ConfigError) as err:
        advise(path)
    message = str(err.value)
    assert str(path) in message and "task" in message and "labeled" in message
    assert "--template" in message


def test_template_loads_back_to_the_defaults(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(template())
    assert Answers.model_validate(yaml.safe_load(path.read_text())) == Answers()
    assert all(f.description for f in Answers.model_fields.values())


def test_the_shipped_answers_and_flags_over_a_file() -> None:
    shipped = ROOT / "examples" / "advise" / "answers.yaml"
    assert advise(shipped).recommendation == "lora_finetune"
    assert advise(shipped, needs_tools=True).recommendation == "agent"


def test_cli_prints_json_and_writes_both_views(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "advice.json"
    args = ["advise", "--task", "qa", "--labelled", "50", "--documents", "--json", "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["recommendation"] == "rag" == json.loads(out.read_text())["recommendation"]
    assert "# Advice" in out.with_suffix(".md").read_text()
    bad = runner.invoke(app, ["advise", "--task", "poetry"])
    assert bad.exit_code == 2 and "task" in bad.output and "Traceback" not in bad.output


def test_cli_flags_override_the_answers_file(tmp_path: Path) -> None:
    shipped = ROOT / "examples" / "advise" / "answers.yaml"
    args = ["advise", "--answers", str(shipped), "--compute", "gpu", "--agreement", "0.8", "--target", "0.9", "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["answers"]["compute"] == "gpu" and printed["answers"]["task"] == "extract"
    items = {i["name"]: i for i in printed["checklist"]}
    assert items["compute"]["status"] == "ok" and "0.8 labeller agreement" in items["red flags"]["why"]


def test_cli_with_a_run_writes_the_advice_into_it(baseline_run: Path) -> None:
    result = CliRunner().invoke(app, ["advise", "--run", str(baseline_run), "--labelled", "700"])
    assert result.exit_code == 0, result.output
    assert "Recommendation" in result.output
    assert json.loads((baseline_run / "advice.json").read_text())["checklist"]
