"""Slow tier: the bundled MiniLM end to end. Results from real training are asserted with margins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import hone

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "tickets"


def test_demo_fine_tuning_beats_every_baseline(tmp_path: Path) -> None:
    result = hone.demo(tmp_path / "runs", log=lambda *args: None)
    ev = result["eval"]
    # Measured here: tuned 0.99 vs best baseline 0.75 (+0.24, CI +0.18..+0.32).
    assert ev["comparison"]["better"], ev["verdict"]
    assert ev["comparison"]["gain"] > 0.08
    assert ev["metrics"]["macro_f1"] > 0.85
    assert ev["cost"]["tuned"]["per_1000_s"] > 0
    html = Path(result["report"]).read_text()
    assert ev["verdict"] in html and "embed_lr" in html and "tfidf_lr" in html
    assert [r.status for r in hone.runs(tmp_path / "runs")] == ["finished"]


def test_lora_on_minilm_reloads_to_the_same_predictions(tmp_path: Path) -> None:
    cfg = hone.load_config(
        EXAMPLE / "hone.yaml",
        [f"runs_dir={tmp_path}", "name=lora", "model.method=lora", "train.max_steps=30", "train.lr=5e-4"],
    )
    run = hone.train(cfg, progress=False)
    texts = [json.loads(line)["text"] for line in (EXAMPLE / "tickets.jsonl").read_text().splitlines()[:12]]
    first = run.predict(texts)
    again = hone.Run(run.path).predict(texts)
    assert [p["label"] for p in first] == [p["label"] for p in again]
    assert [p["confidence"] for p in first] == pytest.approx([p["confidence"] for p in again], abs=2e-3)
    assert (run.path / "model" / "adapter_model.safetensors").is_file()


def test_check_measures_truncation_with_the_real_tokenizer(tmp_path: Path) -> None:
    rows = [{"text": "word " * (20 if i % 5 else 400), "label": "ab"[i % 2]} for i in range(40)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({**r, "text": r["text"] + str(i)}) + "\n" for i, r in enumerate(rows)))
    result = hone.check({"data": {"train": str(data), "max_length": 64}})
    truncated = [p for p in result.warnings() if p.category == "truncated"]
    assert len(truncated) == 1 and "20.0%" in truncated[0].message
