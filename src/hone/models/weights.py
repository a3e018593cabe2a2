"""Load a trained model's weights and tokenizer from a run's `model/` directory, for a task the caller has
already built: full weights, or base + PEFT adapter. (`hone.models.load.load_trained` rebuilds the task from
hone.json first; this module needs no task registry, so a task may load another run's model, as a reranker
loads its first-stage retriever.)

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


@dataclass
class LoadedModel:
    task: Any
    model: nn.Module
    tokenizer: Any
    meta: dict[str, Any]


def read_meta(model_dir: Path) -> dict[str, Any]:
    """hone.json of a trained model, after checking the folder holds no pickle and only readable safetensors."""
    meta_path = model_dir / "hone.json"
    if not meta_path.is_file():
        raise FileNotFoundError(
            f"{model_dir}: no hone.json; this is not a model written by `hone train` (train the run first)"
        )
    refuse_pickles(model_dir)
    for weights in model_dir.glob("*.safetensors"):
        check_safetensors(weights)
    return json.loads(meta_path.read_text())


def load_for(task: Any, model_dir: Path, meta: dict[str, Any]) -> LoadedModel:
    """`task`'s model and tokenizer with the weights saved in `model_dir` (read with `read_meta`), in eval mode."""
    from transformers import AutoTokenizer

    quiet_transformers()
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
