"""The Task contract: what the trainer, evaluator and server may ask of any task.

A task owns its example schema, how it builds the model and its head, its loss, how it turns
model outputs into predictions and how predictions are scored. Nothing outside a task branches on
the task's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import torch
from torch import nn


class Task(Protocol):
    name: str
    primary_metric: str
    higher_is_better: bool
    head_modules: tuple[str, ...]
    peft_task_type: str

    def build_model(self, model_dir: str) -> nn.Module:
        """The pretrained body with this task's new head, in float32."""
        ...

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        """Tokenise once: one feature dict per example (token ids and targets)."""
        ...

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        """Pad a list of features into one batch."""
        ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean loss of one batch."""
        ...

    def outputs(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Per-example scores (e.g. class probabilities) for a batch."""
        ...

    def decode(self, scores: Any) -> list[Any]:
        """Turn stacked scores into predictions in the task's label space."""
        ...

    def gold(self, examples: Sequence[Any]) -> list[Any]:
        """The reference predictions of examples, in the same form decode returns."""
        ...

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        """Every metric of the task; `primary_metric` is one of the keys."""
        ...

    def score(self, gold: Sequence[Any], predicted: Sequence[Any]) -> float:
        """The primary metric alone (cheap: called inside the bootstrap)."""
        ...
