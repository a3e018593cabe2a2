"""Load a trained model from a run's `model/` directory alone: the task rebuilt from hone.json (through the
task registry), then its weights (`hone.models.weights`).

Only safetensors are read; a directory holding pickle weights is refused, because unpickling a
file someone handed you runs their code.
"""

from __future__ import annotations

from pathlib import Path

from hone.models.resolve import quiet_transformers
from hone.models.weights import LoadedModel, check_safetensors, load_for, read_meta, refuse_pickles
from hone.tasks import task_from_description

__all__ = ["LoadedModel", "check_safetensors", "load_trained", "refuse_pickles"]


def load_trained(model_dir: Path) -> LoadedModel:
    """Rebuild task, model and tokenizer from `model_dir` alone (plus the base model for adapters)."""
    quiet_transformers()
    meta = read_meta(model_dir)
    return load_for(task_from_description(meta), model_dir, meta)
