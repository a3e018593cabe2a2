"""The models the serving benchmarks run: SmolLM2-135M-Instruct, or in smoke mode the tests' tiny random
Llama (2 layers, hidden 32, built in-process), with randomly initialised LoRA adapters on top.
"""

from __future__ import annotations

import sys
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from bench.common import ROOT

REAL_MODEL = "smollm2"
# LoRA B is drawn from U(-B_RANGE, B_RANGE), with lora_alpha = r (scaling 1). Non-zero, so every adapter
# changes every layer's output and the answers differ from the base model's; small enough that SmolLM2
# still writes sensible values. PEFT's own non-zero init (init_lora_weights=False: U(-1/sqrt(r), 1/sqrt(r)))
# turns the model into noise, whose values all run to the length cap: that would time runaway decoding,
# not extraction.
B_RANGE = 0.1
_KEEP: list[Any] = []  # the tiny model's temporary folder, removed when the process exits


def model_dir(smoke: bool) -> Path:
    """The tiny random model's folder (built once per process) or the real model's converted folder."""
    if smoke:
        return _tiny_dir()
    from hone.models.resolve import resolve_model

    return resolve_model(REAL_MODEL)


@cache
def _tiny_dir() -> Path:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # tests/tiny.py is the one definition of the tiny models; bench reuses it
    from tiny import write_tiny_causal

    folder = tempfile.TemporaryDirectory(prefix="hone-bench-")
    _KEEP.append(folder)
    return write_tiny_causal(Path(folder.name) / "tiny-causal")


def tokenizer(path: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path))


def base_model(path: Path) -> nn.Module:
    """The base model in fp32, as hone's server loads it."""
    from hone.tasks.causal import build_causal_lm

    return build_causal_lm(str(path)).eval()


def with_random_loras(model: nn.Module, names: list[str], r: int, seed: int) -> nn.Module:
    """A PeftModel with one LoRA adapter per name on every linear layer, B non-zero (see B_RANGE)."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(r=r, lora_alpha=r, lora_dropout=0.0, target_modules="all-linear", init_lora_weights=False)
    torch.manual_seed(seed)
    peft_model = get_peft_model(model, config, adapter_name=names[0])
    for name in names[1:]:
        peft_model.add_adapter(name, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, param in peft_model.named_parameters():
            if ".lora_B." in key:
                param.copy_(torch.empty(param.shape).uniform_(-B_RANGE, B_RANGE, generator=generator))
    return peft_model.eval()


def describe(path: Path, model: nn.Module, smoke: bool) -> dict[str, Any]:
    """The model part of a workload description."""
    config = model.config
    base_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    return {
        "name": "tiny random Llama (tests/tiny.py)" if smoke else f"{REAL_MODEL} (SmolLM2-135M-Instruct)",
        "path": str(path),
        "parameters": base_params,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
        "vocab": config.vocab_size,
    }


def lora_workload(count: int, r: int) -> dict[str, Any]:
    return {
        "adapters": count,
        "r": r,
        "alpha": r,
        "targets": "all-linear",
        "init": f"A: PEFT init_lora_weights=False (kaiming uniform); B: U(-{B_RANGE}, {B_RANGE}), seeded",
    }
