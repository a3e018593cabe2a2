"""Hub-ready folders: a base is named by its Hub id where it has one, and model cards carry the Hub's YAML header
(read back with huggingface_hub's own ModelCard parser)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import hone
from hone.api import export_llm
from hone.export.card import model_card
from hone.models.resolve import HUB_IDS, hub_id, resolve_model
from hone.train.save import name_base_by_hub_id
from tiny import write_tiny_causal


def test_bundled_names_and_their_folders_map_to_hub_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert hub_id("minilm") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("smollm2") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert hub_id(str(resolve_model("minilm"))) == HUB_IDS["minilm"]  # the package folder a run names
    monkeypatch.setenv("HONE_CACHE", str(tmp_path / "cache"))
    converted = tmp_path / "cache" / "models" / "smollm2"
    converted.mkdir(parents=True)
    assert hub_id(str(converted)) == HUB_IDS["smollm2"]  # the dequantised cache folder, without converting
    assert hub_id("Qwen/Qwen2.5-0.5B") == "Qwen/Qwen2.5-0.5B"
    assert hub_id(str(tmp_path)) is None  # any other local folder has no Hub id
    assert hub_id("./my/model") is None


def test_adapter_config_names_the_hub_base(tmp_path: Path) -> None:
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "/root/.cache/x", "r": 4}))
    name_base_by_hub_id(tmp_path, "smollm2")
    config = json.loads((tmp_path / "adapter_config.json").read_text())
    assert config == {"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct", "r": 4}
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path)}))
    name_base_by_hub_id(tmp_path, str(tmp_path))  # a local base keeps its path: nothing better to name
    assert json.loads((tmp_path / "adapter_config.json").read_text())["base_model_name_or_path"] == str(tmp_path)


def test_card_header_parses_with_huggingface_hub(tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    run = tmp_path / "tickets"
    run.mkdir()
    evaluation = {
        "n": 80,
        "primary_metric": "macro_f1",
        "metrics": {"macro_f1": 0.9875, "accuracy": 0.99},
        "comparison": {"baseline": "embed_lr", "baseline_score": 0.7458, "gain": 0.2417, "ci95": [0.177, 0.315]},
        "verdict": "Fine-tuning beats the best baseline (embed_lr) by +0.242 macro-F1.",
    }
    (run / "eval.json").write_text(json.dumps(evaluation))
    meta = {"task": "classify", "base_model": "minilm", "method": "full"}
    card = ModelCard(model_card(meta, run, "tickets", "Load it with transformers.", "transformers", ["x"]))
    assert card.data.base_model == "sentence-transformers/all-MiniLM-L6-v2"
    assert card.data.library_name == "transformers" and card.data.pipeline_tag == "text-classification"
    assert card.data.tags == ["hone", "classify", "full", "x"]
    results = {r.metric_type: r for r in card.data.eval_results}
    assert results["macro_f1"].metric_value == 0.9875 and results["accuracy"].metric_value == 0.99
    assert "embed_lr +0.242, 95% CI +0.177 to +0.315" in results["macro_f1"].metric_name
    assert "embed_lr at 0.7458" in card.text and "+0.1770 to +0.3150" in card.text


@pytest.fixture(scope="module")
def evaluated_lora(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("card")
    base = write_tiny_causal(root / "base")
    rng = random.Random(0)
    rows = [{"prompt": f"say {w} {i}", "completion": f"{w} {w}"} for i, w in enumerate(rng.choices(["a", "b"], k=30))]
    (root / "say.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = hone.load_config(
        {
            "task": "instruct",
            "name": "say",
            "runs_dir": str(root / "runs"),
            "data": {"train": str(root / "say.jsonl"), "max_length": 64},
            "model": {"name": str(base), "method": "lora", "lora": {"r": 4, "alpha": 8}},
            "train": {"max_steps": 2, "batch_size": 8, "precision": "fp32", "patience": None},
            "generate": {"max_new_tokens": 4},
            "baseline": {"methods": ["zero_shot"]},
        }
    )
    hone.baseline(config)
    run = hone.train(config, progress=False)
    hone.evaluate(run)
    return run.path


def test_adapter_and_merged_exports_carry_a_hub_card(evaluated_lora: Path, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    export_llm(evaluated_lora, tmp_path / "adapter", "adapter")
    card = ModelCard.load(tmp_path / "adapter" / "README.md")
    assert card.data.library_name == "peft" and card.data.pipeline_tag == "text-generation"
    assert {r.metric_type for r in card.data.eval_results} >= {"rouge_l"}
    assert "PeftModel.from_pretrained" in card.text and "Best baseline: zero_shot" in card.text
    export_llm(evaluated_lora, tmp_path / "merged", "merged")
    merged = ModelCard.load(tmp_path / "merged" / "README.md")
    assert merged.data.library_name == "transformers" and "identical greedy answers" in merged.text
