"""Exporting a causal-LM run: the adapter as trained, or merged into the base only when the merge is exact."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import hone
from hone.api import Run, export_llm
from hone.cli import app
from hone.export import llm
from tiny import write_tiny_causal

WORDS = "red blue green cat dog sun moon".split()


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


def _instruct_run(root: Path, model: Path, method: str, steps: int) -> Path:
    rng = random.Random(0)
    rows = [{"prompt": f"say {w} {i}", "completion": f"{w} {w}"} for i, w in enumerate(rng.choices(WORDS, k=40))]
    data = root / "say.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "instruct",
        "name": method,
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 64},
        "model": {"name": str(model), "method": method, "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
        "train": {"max_steps": steps, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "patience": None},
        "generate": {"max_new_tokens": 8},
        "eval": {"batch_size": 8},
    }
    return hone.train(hone.load_config(config), progress=False).path


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, tiny_causal: Path) -> Path:
    return _instruct_run(tmp_path_factory.mktemp("lora"), tiny_causal, "lora", 4)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory, tiny_causal: Path) -> Path:
    return _instruct_run(tmp_path_factory.mktemp("full"), tiny_causal, "full", 1)


def _logits(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([ids])).logits


def _prompt(run: Path) -> list[int]:
    loaded = Run(run).predictor().loaded
    return loaded.task.prompts(["say cat 3"], loaded.tokenizer)[0]


def test_adapter_export_loads_with_peft_and_answers_the_same(lora_run: Path, tiny_causal: Path, tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    weights = load_file(str(lora_run / "model" / "adapter_model.safetensors"))
    assert any(v.abs().max() > 0 for k, v in weights.items() if "lora_B" in k)  # training moved B off zero
    out = Path(export_llm(lora_run, tmp_path / "adapter", "adapter")["path"])
    assert {"adapter_config.json", "adapter_model.safetensors", "hone.json", "tokenizer.json"} <= {
        p.name for p in out.iterdir()
    }
    readme = (out / "README.md").read_text()
    assert str(tiny_causal) in readme and "PeftModel.from_pretrained" in readme
    exported = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(str(tiny_causal)), str(out)).eval()
    assert AutoTokenizer.from_pretrained(str(out)).chat_template
    ids = _prompt(lora_run)
    assert torch.equal(_logits(exported, ids), _logits(Run(lora_run).predictor().loaded.model, ids))
    assert not list(tmp_path.glob(".adapter*"))  # the staging folder was renamed into place


def test_merged_export_loads_without_peft_and_matches(lora_run: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    result = export_llm(lora_run, out, "merged", prompts=["say cat 3", [{"role": "user", "content": "say sun"}]])
    assert result == {
        "max_abs_diff": result["max_abs_diff"],
        "prompts": 2,
        "identical_generations": True,
        "path": str(out),
    }
    assert result["max_abs_diff"] <= 1e-3
    assert (out / "model.safetensors").is_file() and not (out / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(str(out)).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(out))
    assert tokenizer.chat_template and tokenizer.eos_token_id in merged.generation_config.eos_token_id
    ids = _prompt(lora_run)
    torch.testing.assert_close(
        _logits(merged, ids), _logits(Run(lora_run).predictor().loaded.model, ids), atol=1e-3, rtol=0
    )
    from hone.models.load import load_trained

    assert type(load_trained(out).model).__name__ == "LlamaForCausalLM"  # hone serves it as a full model too


def _corrupt(monkeypatch: pytest.MonkeyPatch) -> None:
    merge = llm.merged_copy

    def corrupted(model: torch.nn.Module) -> torch.nn.Module:
        merged = merge(model)
        with torch.no_grad():
            merged.model.layers[0].mlp.down_proj.weight.add_(0.5)
        return merged

    monkeypatch.setattr(llm, "merged_copy", corrupted)


@pytest.mark.parametrize("how", ["corrupted merge", "negative tolerance", "different answers"])
def test_a_merge_that_changes_outputs_writes_nothing(
    lora_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    import hone.tasks.causal

    tolerance, expected = 1e-3, "logits differ"
    if how == "corrupted merge":
        _corrupt(monkeypatch)
    elif how == "negative tolerance":
        tolerance = -1
    else:  # every call answers something new: merged and unmerged never agree
        calls = iter(range(100))
        monkeypatch.setattr(
            hone.tasks.causal, "generate", lambda model, tok, prompts, *a: [{"ids": [next(calls)]} for _ in prompts]
        )
        expected = "answers .* differently"
    with pytest.raises(RuntimeError, match=expected):
        llm.export_merged(lora_run, tmp_path / "merged", tolerance)
    assert list(tmp_path.iterdir()) == []


def test_full_and_classify_runs_are_refused(full_run: Path, config_dict: dict, tmp_path: Path) -> None:
    for target in ("adapter", "merged"):
        with pytest.raises(ValueError, match="already holds full weights.*no adapter export or merge is needed"):
            export_llm(full_run, tmp_path / target, target)
    config_dict["train"]["max_steps"] = 1
    classify = hone.train(hone.load_config(config_dict), progress=False)
    with pytest.raises(ValueError, match="is a classify run; adapter and merged exports are for causal-LM runs"):
        export_llm(classify, tmp_path / "x", "adapter")
    assert not [p for p in tmp_path.iterdir() if p.name in ("adapter", "merged", "x") or p.name.startswith(".")]


def test_cli_exports_adapter_and_merged(lora_run: Path, full_run: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    assert "merged" in runner.invoke(app, ["export", "--help"]).output
    result = runner.invoke(app, ["export", str(lora_run), "--out", str(tmp_path / "a"), "--target", "adapter"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "adapter_model.safetensors").is_file()
    result = runner.invoke(app, ["export", str(lora_run), "-o", str(tmp_path / "m"), "--target", "merged"])
    assert result.exit_code == 0, result.output
    assert re.search(r"checked on [1-8] held-out prompt\(s\)", result.output) and "identical greedy" in result.output
    assert (tmp_path / "m" / "model.safetensors").is_file()
    refused = runner.invoke(app, ["export", str(full_run), "--out", str(tmp_path / "f"), "--target", "merged"])
    assert refused.exit_code == 1 and "no adapter export or merge is needed" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "f").exists()
    bad = runner.invoke(app, ["export", str(lora_run), "--out", str(tmp_path / "b"), "--target", "tflite"])
    assert bad.exit_code == 2 and "choose embeddings, adapter, merged" in bad.output
