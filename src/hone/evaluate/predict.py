"""Batched inference for any task: length-sorted batches, no grad, the run's precision."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.progress import tick

Batch = dict[str, torch.Tensor]


def bound_predict(
    task: Any, model: nn.Module, tokenizer: Any, batch_size: int, autocast: Any = None
) -> Callable[[Sequence[Any]], tuple[list[Any], np.ndarray]]:
    """`task.predict` with one fixed model state, for a predictor called many times (an evaluation and its
    one-input latency probes). A task that prepares something once per model state (the embed task's corpus
    index) does so through its own `bind`; any other task just predicts."""
    bind = getattr(task, "bind", None)
    if bind is not None:
        return bind(model, tokenizer, batch_size, autocast)
    return lambda texts: task.predict(model, tokenizer, list(texts), batch_size, autocast)


def batched(
    model: nn.Module,
    features: Sequence[dict[str, Any]],
    collate: Callable[[Sequence[dict[str, Any]]], Batch],
    batch_size: int,
    forward: Callable[[nn.Module, Batch], torch.Tensor],
    autocast: Any = None,
) -> list[np.ndarray]:
    """`forward(model, batch)` over every feature, one output row per feature, in input order.

    Batches hold features of similar length, so little compute goes to padding; training targets
    (`labels`) are left out of the batch.
    """
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    out: list[np.ndarray] = [np.zeros(0)] * len(features)
    first = next(model.parameters(), None)  # an ONNX Runtime model has none: it runs on the CPU
    device = first.device if first is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate([features[i] for i in idx]).items() if k != "labels"}
            rows = forward(model, batch).float().cpu().numpy()
            for row, i in enumerate(idx):
                out[i] = rows[row]
            tick(len(idx))
    model.train(was_training)
    return out
