"""report.html: renders what the run holds, names what is missing, escapes every user string."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from hone.report.html import write_report
from hone.runs.registry import Registry

XSS = "<script>alert(1)</script>"
LABELS = ["billing", "refund", "shipping", "R&D <team>"]
VERDICT = "Fine-tuning beats the best baseline (tfidf_lr) by +0.090 macro-F1 (95% CI +0.040 to +0.140)."
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _metrics(**extra: Any) -> dict[str, float]:
    return {"accuracy": 0.74, "macro_f1": 0.71, "micro_f1": 0.74, **extra}


def _eval(**overrides: Any) -> dict[str, Any]:
    per_class = {label: {"precision": 0.8, "recall": 0.7, "f1": 0.75, "support": 30} for label in LABELS}
    worst = [
        {
            "text": f"please help {XSS} " + "x" * 600,
            "gold": "billing",
            "predicted": "refund",
            "confidence": 0.93,
            "source": "tickets.jsonl",
            "line": 17,
        },
        {
            "text": "where is my parcel",
            "gold": "shipping",
            "predicted": LABELS[3],
            "confidence": 0.61,
            "source": "tickets.jsonl",
            "line": 42,
        },
    ]
    payload = {
        "task": "classify",
        "primary_metric": "macro_f1",
        "higher_is_better": True,
        "n": 120,
        "metrics": {"accuracy": 0.82, "macro_f1": 0.80, "micro_f1": 0.82},
        "per_class": per_class,
        "confusion": {"labels": LABELS, "matrix": [[25, 3, 1, 1], [2, 26, 1, 1], [0, 1, 28, 1], [4, 0, 0, 26]]},
        "worst": worst,
        "comparison": {
            "baseline": "tfidf_lr",
            "baseline_score": 0.71,
            "tuned_score": 0.80,
            "gain": 0.09,
            "ci95": [0.04, 0.14],
            "better": True,
        },
        "cost": {
            "tuned": {"latency_ms": 4.2, "per_1000_s": 4.2, "device": "cpu", "batch_size": 64},
            "baselines": {"tfidf_lr": {"latency_ms": 0.05, "per_1000_s": 0.05}},
        },
        "verdict": VERDICT,
    }
    return {**payload, **overrides}


def _baseline() -> dict[str, Any]:
    def entry(f1: float, latency_ms: float) -> dict[str, Any]:
        return {"metrics": _metrics(macro_f1=f1), "cost": {"latency_ms": latency_ms, "per_1000_s": latency_ms}}

    return {
        "primary_metric": "macro_f1",
        "higher_is_better": True,
        "n": 120,
        "best": "tfidf_lr",
        "baselines": {"majority": entry(0.12, 0.01), "tfidf_lr": entry(0.71, 0.05), "embed_lr": entry(0.66, 3.1)},
        "predictions": {"majority": ["PREDICTION-LIST"] * 120},
    }


def _write_run(root: Path, name: str = "tickets", full: bool = True, **eval_overrides: Any) -> Path:
    run = root / name
    (run / "data").mkdir(parents=True)
    config = {
        "name": f"{name} {XSS}",
        "task": "classify",
        "model": {"name": "minilm", "method": "lora"},
        "data": {"train": "tickets.jsonl"},
    }
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    (run / "eval.json").write_text(json.dumps(_eval(**eval_overrides)))
    if not full:
        return run
    (run / "baseline.json").write_text(json.dumps(_baseline()))
    lines = [
        {"step": s, "epoch": s / 40, "loss": 2.0 / (1 + s / 10), "lr": 4e-5, "examples_per_s": 55.1}
        for s in range(10, 130, 10)
    ]
    lines += [{"step": s, "epoch": s / 40, "dev": {"macro_f1": 0.5 + s / 1000}} for s in (40, 80, 120)]
    text = "\n".join(json.dumps(line) for line in lines) + '\n{"step": 130, "lo'  # torn last line
    (run / "metrics.jsonl").write_text(text)
    problems = [
        {
            "category": "duplicate",
            "message": f"same text as line {i} {XSS}",
            "source": "tickets.jsonl",
            "line": i + 100,
            "field": "text",
            "severity": "warning",
        }
        for i in range(25)
    ]
    check = {
        "counts": {"error": 0, "warning": 25},
        "by_category": {"duplicate": 25},
        "problems": problems,
        "stats": {"rows": 600},
    }
    (run / "data" / "check.json").write_text(json.dumps(check))
    return run


def _pngs(page: str) -> list[bytes]:
    return [
        base64.b64decode(b64, validate=True)
        for b64 in re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    ]


def _assert_png(data: bytes) -> None:
    assert data.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        assert image.width > 100 and image.height > 100


def test_full_report(tmp_path: Path) -> None:
    path = write_report(_write_run(tmp_path))
    assert path == tmp_path / "tickets" / "report.html"
    page = path.read_text(encoding="utf-8")
    assert VERDICT in page
    assert 'class="verdict good"' in page
    for name in ["majority", "tfidf_lr", "embed_lr", "tuned"]:
        assert f"<td>{name}" in page
    assert "best baseline" in page
    pngs = _pngs(page)
    assert len(pngs) == 3  # loss, dev metric, confusion matrix
    for png in pngs:
        _assert_png(png)
    assert "metrics.jsonl: 1 unreadable line(s) skipped." in page
    assert "PREDICTION-LIST" not in page  # baseline.json's other keys are ignored


def test_every_user_string_is_escaped(tmp_path: Path) -> None:
    page = write_report(_write_run(tmp_path)).read_text(encoding="utf-8")
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "R&amp;D &lt;team&gt;" in page
    assert "R&D" not in page


def test_tables_rows_and_truncation(tmp_path: Path) -> None:
    page = write_report(_write_run(tmp_path)).read_text(encoding="utf-8")
    for label in ["billing", "refund", "shipping", "R&amp;D &lt;team&gt;"]:
        assert f"<tr><td>{label}</td><td class=num>0.800</td><td class=num>0.700</td>" in page
    assert "x" * 300 not in page and "x" * 200 in page  # texts are cut at ~300 characters
    assert "tickets.jsonl:17" in page and "0.930" in page
    assert page.count("same text as line") == 20
    assert "… and 5 more in data/check.json." in page
    assert "4.2 ms" in page and "4.2 s" in page and "10 µs" in page


def test_report_with_only_config_and_eval(tmp_path: Path) -> None:
    run = _write_run(tmp_path, full=False)
    page = write_report(run).read_text(encoding="utf-8")
    assert VERDICT in page
    assert "<td>tfidf_lr" in page  # known from eval.json's comparison and costs
    assert "<td>tuned" in page
    for command in [
        f"hone train {run / 'config.yaml'}",
        f"hone baseline {run / 'config.yaml'}",
        f"hone check {run / 'config.yaml'}",
    ]:
        assert command in page
    assert len(_pngs(page)) == 1  # the confusion matrix; no curves without metrics.jsonl
    _assert_png(_pngs(page)[0])


def test_config_only_says_what_to_run(tmp_path: Path) -> None:
    run = _write_run(tmp_path, full=False)
    (run / "eval.json").unlink()
    page = write_report(run).read_text(encoding="utf-8")
    assert "No verdict yet." in page and f"hone eval {run}" in page


def test_multilabel_without_confusion_and_not_better(tmp_path: Path) -> None:
    comparison = {**_eval()["comparison"], "better": False}
    run = _write_run(
        tmp_path, full=False, confusion=None, comparison=comparison, verdict="Fine-tuning does not beat tfidf_lr."
    )
    page = write_report(run).read_text(encoding="utf-8")
    assert 'class="verdict warn"' in page
    assert "No confusion matrix for this run" in page
    assert "<td>billing</td>" in page


def test_malformed_section_does_not_break_the_page(tmp_path: Path) -> None:
    run = _write_run(tmp_path, confusion={"labels": ["a", "b"], "matrix": [[1, 2, 3]]})
    page = write_report(run).read_text(encoding="utf-8")
    assert "Could not draw this from the run files" in page
    assert VERDICT in page and "<td>billing</td>" in page


def test_status_comes_from_the_registry(tmp_path: Path) -> None:
    run = _write_run(tmp_path)
    Registry(tmp_path / "registry.sqlite").start("tickets", "classify", "minilm", "lora", run, "h")
    page = write_report(run).read_text(encoding="utf-8")
    assert "<b>status</b> running" in page


def test_config_is_required(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="config.yaml"):
        write_report(tmp_path)


# --- runs not evaluated yet, generative tasks, evaluations on other files -----------------------------------------


def _instruct_run(root: Path, with_eval: bool) -> Path:
    """An instruct run trained (loss and dev loss logged); eval.json only when `with_eval`."""
    run = root / "copy"
    run.mkdir(parents=True)
    config = {"name": "copy", "task": "instruct", "model": {"name": "smollm2", "method": "lora"}, "data": {}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    lines = [{"step": s, "epoch": s / 10, "loss": 3.0 / s, "lr": 1e-4} for s in range(1, 11)]
    lines += [{"step": s, "epoch": s / 10, "dev": {"loss": 2.0 / s, "perplexity": 7.0 / s}} for s in (5, 10)]
    (run / "metrics.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    if with_eval:
        worst = [
            {
                "text": "Blurb for: oak desk",
                "gold": "A desk.",
                "predicted": "A chair.",
                "rouge_l": 0.3,
                "confidence": 0.5,
                "source": "copy.jsonl",
                "line": 3,
            }
        ]
        payload = {
            "task": "instruct",
            "primary_metric": "rouge_l",
            "higher_is_better": True,
            "n": 7,
            "metrics": {"rouge_l": 0.61, "exact_match": 0.0},
            "worst": worst,
            "error_categories": {"too_verbose": 1},
            "verdict": "No baseline results for this test split.",
        }
        (run / "eval.json").write_text(json.dumps(payload))
    return run


def _sections(page: str) -> list[str]:
    return re.findall(r"<h2>([^<]+)</h2>", page)


def test_a_run_not_evaluated_says_so_once_and_shows_only_what_it_has(tmp_path: Path) -> None:
    page = write_report(_instruct_run(tmp_path, with_eval=False)).read_text(encoding="utf-8")
    assert page.count("eval.json</code> is missing") == 1
    assert "No verdict yet." in page
    assert _sections(page) == ["Baselines vs tuned model", "Training curves", "Data check"]
    assert "—" not in page.split("<main>")[1], "a metric name or value shown as a dash"
    assert "dev loss by step" in page  # the dev metric the run logged, though eval.json is missing


def test_a_generative_run_shows_the_sections_of_its_task(tmp_path: Path) -> None:
    page = write_report(_instruct_run(tmp_path, with_eval=True)).read_text(encoding="utf-8")
    assert "Confusion matrix" not in page and "Per-label precision" not in page
    assert "dev loss by step" in page and "No dev evaluations" not in page
    assert "Examples the model gets wrong" in page and "Errors by kind" in page
    assert "eval.json</code> is missing" not in page


def test_a_classifier_not_evaluated_names_eval_once(tmp_path: Path) -> None:
    run = _write_run(tmp_path)
    (run / "eval.json").unlink()
    page = write_report(run).read_text(encoding="utf-8")
    assert page.count("is missing") == 1 and page.count(f"hone eval {run}") == 1
    assert "Confusion matrix" not in page and "dev macro_f1 by step" in page


def test_evaluations_on_other_files_are_shown(tmp_path: Path) -> None:
    run = _write_run(tmp_path)
    (run / "evaluations").mkdir()
    record = {
        **_eval(metrics={"accuracy": 0.7, "macro_f1": 0.66}, n=40),
        "test_file": f"/data/later {XSS}.csv",
        "sha256": "ab" * 32,
        "baselines": {"majority": {"macro_f1": 0.1}, "tfidf_lr": {"macro_f1": 0.61}},
        "best_baseline": "tfidf_lr",
        "verdict": "Fine-tuning beats the best baseline (tfidf_lr) by +0.050 macro-F1.",
    }
    (run / "evaluations" / "later-abababab.json").write_text(json.dumps(record))
    (run / "evaluations" / "broken-00000000.json").write_text("{not json")
    page = write_report(run).read_text(encoding="utf-8")
    assert "Evaluations on other files" in _sections(page)
    section = page.split("Evaluations on other files")[1].split("</section>")[0]
    assert "later &lt;script&gt;" in section and "<script" not in section
    assert "0.660" in section and "0.610" in section and "tfidf_lr" in section and ">40<" in section
    assert "+0.050 macro-F1" in section
    assert "broken-00000000.json could not be read" in page
    assert f"hone eval {run} --test" not in section


def test_no_evaluations_section_without_the_folder(tmp_path: Path) -> None:
    page = write_report(_write_run(tmp_path)).read_text(encoding="utf-8")
    assert "Evaluations on other files" not in page
