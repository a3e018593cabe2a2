"""What tuning cost on general prompts: eval.json's forgetting figures and the report section showing them."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

import hone
from hone.evaluate.forgetting import forgetting, general_prompts
from tiny import write_tiny_causal

SECTION = "Held-out loss and general prompts (forgetting)"


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny instruct LoRA run, trained, evaluated and reported."""
    root = tmp_path_factory.mktemp("forgetting")
    model = write_tiny_causal(root / "model")
    rng = random.Random(0)
    words = rng.choices("red blue green cat dog sun moon".split(), k=40)
    data = root / "say.jsonl"
    data.write_text(
        "".join(json.dumps({"prompt": f"say {w} {i}", "completion": f"{w} {w}"}) + "\n" for i, w in enumerate(words))
    )
    config = {
        "task": "instruct",
        "name": "say",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 64},
        "model": {"name": str(model), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
        "train": {"max_steps": 4, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "patience": None},
        "generate": {"max_new_tokens": 4},
        "eval": {"batch_size": 16},
    }
    run = hone.train(hone.load_config(config), progress=False)
    hone.evaluate(run)
    hone.report(run)
    return run.path


def test_general_prompts_ship_with_the_package() -> None:
    rows = general_prompts()
    assert len(rows) == 12 and all(set(r) == {"prompt", "reference"} and r["prompt"] and r["reference"] for r in rows)


def test_eval_records_base_vs_tuned_on_general_prompts(lora_run: Path) -> None:
    result = json.loads((lora_run / "eval.json").read_text())
    forgot = result["forgetting"]
    assert math.isfinite(forgot["base_perplexity"]) and math.isfinite(forgot["tuned_perplexity"])
    assert forgot["ratio"] == pytest.approx(forgot["tuned_perplexity"] / forgot["base_perplexity"])
    assert forgot["base_perplexity"] != forgot["tuned_perplexity"]  # the adapters really were switched off
    assert len(forgot["answers"]) == 12 and set(forgot["answers"][0]) == {"prompt", "reference", "base", "tuned"}
    assert result["held_out"]["tokens"] > 0 and math.isfinite(result["held_out"]["loss"])


def test_adapters_off_is_the_base_model(lora_run: Path) -> None:
    from transformers import AutoModelForCausalLM

    loaded = hone.Run(lora_run).predictor().loaded
    base = AutoModelForCausalLM.from_pretrained(loaded.meta["base_model"]).eval()
    separate = forgetting(loaded.task, base, loaded.model, loaded.tokenizer, 16)
    recorded = json.loads((lora_run / "eval.json").read_text())["forgetting"]
    assert separate["base_perplexity"] == pytest.approx(recorded["base_perplexity"], rel=1e-4)
    assert [a["base"] for a in separate["answers"]] == [a["base"] for a in recorded["answers"]]


def test_report_shows_the_section_escaped(lora_run: Path) -> None:
    page = (lora_run / "report.html").read_text()
    assert SECTION in page and "Tuned / base perplexity" in page and "Held-out (test split)" in page
    assert "Translate the word &#x27;cat&#x27; into Spanish." in page


def test_classify_run_has_no_such_section(config_dict: dict) -> None:
    config_dict["train"]["max_steps"] = 1
    run = hone.train(hone.load_config(config_dict), progress=False)
    result = hone.evaluate(run)
    assert "forgetting" not in result and "held_out" not in result
    assert SECTION not in hone.report(run).read_text()
