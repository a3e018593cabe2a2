"""The shipped generative examples on the real SmolLM2-135M-Instruct: LoRA must beat prompting the base model.

Step budgets are cut (`--set train.max_steps=...`) so the tier fits CI on 2 CPU cores; the margins
asserted are well inside what these budgets reach (the measured figures are in the README).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import hone

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]


def run_example(tmp_path: Path, name: str, overrides: list[str]) -> tuple[dict, dict, hone.Run]:
    cfg = hone.load_config(ROOT / "examples" / name / "hone.yaml", [f"runs_dir={tmp_path / 'runs'}", *overrides])
    base = hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    return base, hone.evaluate(run), run


def test_copy_lora_learns_the_house_tone_and_stops_at_eos(tmp_path: Path) -> None:
    base, result, run = run_example(tmp_path, "copy", ["train.max_steps=40", "train.eval_every=20"])
    scores = {name: b["metrics"]["rouge_l"] for name, b in base["baselines"].items()}
    tuned = result["metrics"]["rouge_l"]
    # The test products never occur in training: the tone has to carry over to new products.
    assert tuned > scores["zero_shot"] + 0.3, (tuned, scores)
    assert result["metrics"]["repetition"] < 0.1
    check = hone.check_run(run, limit=8)
    assert check["template_parity"]["ok"]
    assert check["stopping"]["stopped"] == check["stopping"]["checked"], "a tuned chat model must stop at EOS"


def test_products_extraction_beats_prompting_with_valid_json_always(tmp_path: Path) -> None:
    base, result, _ = run_example(
        tmp_path, "products", ["train.max_steps=30", "train.eval_every=30", "data.split.test=0.1"]
    )
    scores = {name: b["metrics"]["field_f1_micro"] for name, b in base["baselines"].items()}
    metrics = result["metrics"]
    assert metrics["json_validity"] == 1.0
    assert all(b["metrics"]["json_validity"] == 1.0 for b in base["baselines"].values())
    assert metrics["field_f1_micro"] > max(scores.values()) + 0.1, (metrics, scores)
    assert result["comparison"]["better"], result["verdict"]
    assert metrics["null_accuracy"] > max(b["metrics"]["null_accuracy"] for b in base["baselines"].values()) + 0.1
    assert set(result["per_field"]) == {"brand", "color", "material", "size", "pack_count"}
