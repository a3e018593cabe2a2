"""The Task contract: what the trainer, evaluator and server may ask of any task.

A task owns its example schema (see `TaskSpec` in `hone.tasks`), how it builds the model and its
head, its loss, how it predicts from raw texts and how predictions are scored and stored. Nothing
outside a task branches on the task's name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class ExampleScore:
    """How well a trained model fits one labelled example (`Task.example_losses`).

    `label` is the example's given label as JSON (a string, list or object); `predicted` what the model
    would say instead, with `confidence` its probability; `wrong` whether the two disagree, None where a
    loss has no single prediction to be wrong (generated answers). `detail` names the worst part (a token).
    """

    loss: float
    label: Any
    predicted: Any = None
    confidence: float | None = None
    wrong: bool | None = None
    label_probability: float | None = None
    detail: str | None = None


class Task(Protocol):
    name: str
    primary_metric: str
    higher_is_better: bool
    head_modules: tuple[str, ...]
    peft_task_type: str

    @classmethod
    def from_config(cls, config: Any, examples: Sequence[Any]) -> Task:
        """The task for a run, its label space (or corpus) taken from the config and every split."""
        ...

    def describe(self) -> dict[str, Any]:
        """What a saved model needs to rebuild this task (written to model/hone.json)."""
        ...

    def build_model(self, model_dir: str) -> nn.Module:
        """The pretrained body with this task's new head, in float32."""
        ...

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        """Tokenise once: training features with `input_ids` (for length grouping) and targets."""
        ...

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        """Pad a list of features into one batch."""
        ...

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Mean loss of one batch."""
        ...

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Any], np.ndarray]:
        """Predictions for raw texts, and a confidence per text."""
        ...

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore] | str:
        """One score per example, in order (batched, no grad, eval mode); or a string saying why this task
        has no per-example loss. `example_loss_note` (a class attribute) says what the loss is."""
        ...

    def gold(self, examples: Sequence[Any]) -> list[Any]:
        """The references of examples, in the form `metrics` compares predictions with."""
        ...

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Any]) -> dict[str, Any]:
        """{"metrics": {...}} and any breakdowns; `primary_metric` is a key of "metrics"."""
        ...

    def score(self, gold: Sequence[Any], predicted: Sequence[Any]) -> float:
        """The primary metric alone (cheap: called inside the bootstrap)."""
        ...

    def worst(
        self, examples: Sequence[Any], predicted: Sequence[Any], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """The mistakes worth reading first, as {text, gold, predicted, confidence, source, line}."""
        ...

    def to_json(self, prediction: Any) -> Any:
        """A prediction as JSON (baseline.json stores the baselines' test predictions)."""
        ...

    def from_json(self, payload: Any) -> Any:
        """The inverse of `to_json`."""
        ...


def model_inputs(examples: Sequence[Any]) -> list[Any]:
    """What a model is given for each example: its text, or (chat tasks) its prompt messages."""
    return [getattr(ex, "input", ex.text) for ex in examples]
