"""Batched inference with any task: length-sorted batches, no grad, the run's precision."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.tasks.base import Task


def predict_scores(
    task: Task,
    model: nn.Module,
    features: Sequence[dict[str, Any]],
    tokenizer: Any,
    batch_size: int,
    autocast: Any = None,
) -> np.ndarray:
    """Scores for every feature, in input order. Batches hold similar lengths to avoid padding."""
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    device = next(model.parameters()).device
    rows: list[np.ndarray] = []
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            chunk = [features[i] for i in order[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in task.collate(chunk, tokenizer).items() if k != "labels"}
            rows.append(task.outputs(model, batch).float().cpu().numpy())
    model.train(was_training)
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    stacked = np.concatenate(rows)
    out = np.empty_like(stacked)
    out[np.array(order)] = stacked
    return out
