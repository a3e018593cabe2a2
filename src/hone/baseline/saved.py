"""The winning baseline, kept as a model of its run: when the verdict is "keep the baseline", the model hone
recommends is usable like the tuned one — `hone predict RUN --baseline`, `hone serve RUN/baseline-model`,
`hone export RUN --target baseline`.

A folder without pickle: `hone.json` (what it is: task, method, settings), `arrays.safetensors` (weights, idf),
`vocabulary.json` (TF-IDF vocabularies). Baselines that can be kept are those with `export()` and `restore()`
(majority, TF-IDF + LR, frozen embeddings + LR); the frozen encoder itself is not copied, its model name is
recorded and resolved on load, as the tuned model's base is.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

FOLDER = "baseline-model"
KIND = "baseline"


def can_keep(predictor: Any) -> bool:
    return hasattr(predictor, "export") and hasattr(type(predictor), "restore")


def keep(predictor: Any, folder: Path, describe: dict[str, Any]) -> Path:
    """Write `predictor` to `folder` (replacing what is there, whole or not at all); `describe` says the task and
    base model: {"task", "model", ...}."""
    from safetensors.numpy import save_file

    arrays, meta = predictor.export()
    vocabularies = [v.pop("vocabulary") for v in meta.get("vectorizers", [])]
    staging = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    if arrays:
        save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(staging / "arrays.safetensors"))
    if vocabularies:
        (staging / "vocabulary.json").write_text(json.dumps(vocabularies, ensure_ascii=False), encoding="utf-8")
    info = {**describe, "kind": KIND, "method": predictor.name, "settings": meta}
    (staging / "hone.json").write_text(json.dumps(info, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.rmtree(folder, ignore_errors=True)
    staging.rename(folder)
    return folder


def is_kept(folder: Path) -> bool:
    """Whether `folder` holds a kept baseline (its hone.json says kind "baseline")."""
    try:
        return json.loads((folder / "hone.json").read_text(encoding="utf-8")).get("kind") == KIND
    except (OSError, ValueError, AttributeError):
        return False


def load(folder: Path) -> Any:
    """The kept baseline in `folder`, ready to `predict(texts)`; `.meta` is its hone.json."""
    from safetensors.numpy import load_file

    from hone.baseline.classic import EmbedLogReg, Majority, TfidfLogReg
    from hone.models.resolve import resolve_model

    info = json.loads((folder / "hone.json").read_text(encoding="utf-8"))
    kinds = {"majority": Majority, "tfidf_lr": TfidfLogReg, "embed_lr": EmbedLogReg}
    if info.get("kind") != KIND or info.get("method") not in kinds:
        raise ValueError(f"{folder}: not a kept baseline (hone.json kind/method); keep one with `hone baseline`")
    arrays = load_file(str(folder / "arrays.safetensors")) if (folder / "arrays.safetensors").is_file() else {}
    meta = dict(info["settings"])
    if (folder / "vocabulary.json").is_file():
        vocabularies = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        meta["vectorizers"] = [{**v, "vocabulary": w} for v, w in zip(meta["vectorizers"], vocabularies, strict=True)]
    if info["method"] == "embed_lr":
        meta["encoder"] = str(resolve_model(info["model"]))
    kept = kinds[info["method"]].restore(arrays, meta)
    kept.meta = info
    return kept
