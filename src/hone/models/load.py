"""Load a trained model from a run's `model/` directory: full weights or base + PEFT adapter.

Only safetensors are read; a directory holding pickle weights is refused, because unpickling a
file someone handed you runs their code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from hone.models.resolve import is_pickle_name, quiet_transformers, resolve_model
from hone.tasks import task_from_description


@dataclass
class LoadedModel:
    task: Any
    model: nn.Module
    tokenizer: Any
    meta: dict[str, Any]


def load_trained(model_dir: Path) -> LoadedModel:
    """Rebuild task, model and tokenizer from `model_dir` alone (plus the base model for adapters)."""
    from transformers import AutoTokenizer

    quiet_transformers()
    meta_path = model_dir / "hone.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{model_dir}: no hone.json; this is not a model written by `hone train` (train the run first)"
        )
    refuse_pickles(model_dir)
    for weights in model_dir.glob("*.safetensors"):
        check_safetensors(weights)
    meta = json.loads(meta_path.read_text())
    task = task_from_description(meta)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if (model_dir / "adapter_config.json").is_file():
        from peft import PeftModel

        base = task.build_model(str(resolve_model(meta["base_model"])))
        model = PeftModel.from_pretrained(base, str(model_dir))
    else:
        model = task.build_model(str(model_dir))
    model.eval()
    return LoadedModel(task, model, tokenizer, meta)


def refuse_pickles(directory: Path) -> None:
    found = sorted(p.name for p in directory.iterdir() if is_pickle_name(p))
    if found:
        raise PermissionError(
            f"{directory} holds pickle files {found} (refused by name; hone never unpickles them); hone loads "
            "safetensors only, because loading a pickle executes code from the file. Convert them to safetensors "
            "with a tool you trust, then remove them."
        )


def check_safetensors(path: Path) -> None:
    """Read the header only: a truncated or garbled weights file is a clear error, not a crash mid-load."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as fh:
            list(fh.keys())
    except Exception as exc:  # safetensors raises its own error types for every kind of bad file
        raise ValueError(
            f"{path} is not a readable safetensors file ({type(exc).__name__}: {exc}); it is damaged or was not "
            "written by hone: restore it, or train the run again"
        ) from None
