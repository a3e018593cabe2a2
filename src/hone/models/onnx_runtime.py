"""An ONNX export of an encoder run (`hone export --target onnx`) run by ONNX Runtime behind the interface hone's
tasks call: `model(input_ids=..., attention_mask=...)` gives `.logits` (classify, ner, rerank), and
`model({"input_ids", "attention_mask"})` gives `{"sentence_embedding"}` (embed). So every task's `predict`, the
evaluator and the server use an ONNX model as they use the torch one.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import torch
from torch import nn

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"


class OnnxModel(nn.Module):
    """An ONNX Runtime session as a module with no parameters (the weights live in the session)."""

    def __init__(self, path: Path, output: str, threads: int | None = None) -> None:
        import onnxruntime as ort

        super().__init__()
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.output = output
        self.path = path

    def forward(self, features: Any = None, input_ids: Any = None, attention_mask: Any = None) -> Any:
        if isinstance(features, dict):  # the sentence-transformers calling convention
            input_ids, attention_mask = features["input_ids"], features["attention_mask"]
        feeds = {"input_ids": _int64(input_ids), "attention_mask": _int64(attention_mask)}
        result = torch.from_numpy(self.session.run([self.output], feeds)[0])
        if self.output == "sentence_embedding":
            return {"sentence_embedding": result}
        return SimpleNamespace(logits=result)


def _int64(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy().astype(np.int64) if isinstance(x, torch.Tensor) else np.asarray(x, np.int64)


def is_onnx_export(folder: Path) -> bool:
    return (folder / ONNX_FILE).is_file() and (folder / "hone.json").is_file()


def load_onnx(folder: Path, int8: bool = False, threads: int | None = None) -> Any:
    """The export in `folder` as a `LoadedModel` (task from hone.json, tokenizer, ONNX Runtime model)."""
    import json

    from transformers import AutoTokenizer

    from hone.models.weights import LoadedModel
    from hone.tasks import task_from_description

    meta = json.loads((folder / "hone.json").read_text())
    path = folder / (INT8_FILE if int8 else ONNX_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; export again with `hone export RUN --target onnx --quantize int8`")
    output = "sentence_embedding" if meta.get("task") == "embed" else "logits"
    tokenizer = AutoTokenizer.from_pretrained(str(folder))
    return LoadedModel(task_from_description(meta), OnnxModel(path, output, threads), tokenizer, meta)
