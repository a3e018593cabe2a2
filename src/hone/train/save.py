"""Write the final model into the run directory, atomically, with what it takes to reload it.

`model/` holds either a PEFT adapter (adapter_config.json + adapter_model.safetensors, the new head
included) or a full model (config.json + model.safetensors), the tokenizer, and `hone.json`: the
task's label space and the base model, so loading needs nothing outside the directory.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from torch import nn

from hone.config.schema import HoneConfig


def save_final_model(model: nn.Module, tokenizer: Any, task: Any, config: HoneConfig, target: Path) -> None:
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _merge_sentence_transformer_adapters(model)
    # A task may ask for another form of the weights on disk (pretrain: adapters merged into a plain model).
    model = getattr(task, "prepare_for_save", lambda m: m)(model)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    meta = {**task.describe(), "base_model": config.model.name, "method": config.model.method, "format": 1}
    (tmp / "hone.json").write_text(json.dumps(meta, indent=2))
    name_base_by_hub_id(tmp, config.model.name)
    for path in tmp.iterdir():
        _fsync(path)
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)


def name_base_by_hub_id(folder: Path, base_model: str) -> None:
    """Point `adapter_config.json`'s base_model_name_or_path at the base's Hub id where it has one: PEFT writes the
    local folder the base was loaded from (a cache path no other machine has). hone reads the base from hone.json."""
    from hone.models.resolve import hub_id

    path = folder / "adapter_config.json"
    upstream = hub_id(base_model)
    if upstream is None or not path.is_file():
        return
    config = json.loads(path.read_text())
    config["base_model_name_or_path"] = upstream
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")


def _merge_sentence_transformer_adapters(model: nn.Module) -> None:
    """A sentence-transformers model is saved with LoRA merged in, so every consumer of that format
    (SentenceTransformer(path), vector databases' ingestion scripts) loads it without PEFT."""
    from hone.models.adapt import sentence_transformer_body, set_sentence_transformer_body

    body = sentence_transformer_body(model)
    if body is not None and hasattr(body, "merge_and_unload"):
        set_sentence_transformer_body(model, body.merge_and_unload())


def _fsync(path: Path) -> None:
    if path.is_file():
        with open(path, "rb") as fh:
            os.fsync(fh.fileno())
