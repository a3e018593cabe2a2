"""Text classification: one label per text (softmax + cross-entropy) or several (sigmoid + BCE).

Primary metric: macro-F1, so rare classes count as much as common ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import ClassifyConfig
from hone.tasks.base import ExampleScore
from hone.tasks.batching import pad_ids
from hone.tasks.schema_classify import TextExample, label_problems, parse_example

Prediction = tuple[str, ...]


@dataclass
class ClassifyTask:
    labels: list[str]
    multi_label: bool = False
    max_length: int = 128
    threshold: float = 0.5

    name = "classify"
    primary_metric = "macro_f1"
    higher_is_better = True
    head_modules = ("classifier",)
    peft_task_type = "SEQ_CLS"
    example_loss_note = "loss: cross-entropy of the given label (multi-label: mean binary cross-entropy)"

    @classmethod
    def from_config(cls, config: ClassifyConfig, examples: Sequence[TextExample]) -> ClassifyTask:
        """Label space: the declared labels, else every label in any split, sorted.

        A label seen only in dev or test still needs an index (the check warns about it); the model
        cannot learn it, and the metrics say so instead of the run crashing.
        """
        labels = config.data.labels or sorted({label for ex in examples for label in ex.labels})
        return cls(labels=list(labels), multi_label=config.data.multi_label, max_length=config.data.max_length)

    def describe(self) -> dict[str, Any]:
        """What a saved model needs to rebuild this task (written to model/hone.json)."""
        return {
            "task": self.name,
            "labels": self.labels,
            "multi_label": self.multi_label,
            "max_length": self.max_length,
        }

    def build_model(self, model_dir: str) -> nn.Module:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(
            model_dir,
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id={label: i for i, label in enumerate(self.labels)},
            problem_type="multi_label_classification" if self.multi_label else "single_label_classification",
            dtype=torch.float32,
        )

    def encode(self, examples: Sequence[TextExample], tokenizer: Any) -> list[dict[str, Any]]:
        ids = tokenizer([ex.text for ex in examples], truncation=True, max_length=self.max_length)["input_ids"]
        index = {label: i for i, label in enumerate(self.labels)}
        return [{"input_ids": row, "target": self._target(ex, index)} for row, ex in zip(ids, examples, strict=True)]

    def encode_texts(self, texts: Sequence[str], tokenizer: Any) -> list[dict[str, Any]]:
        ids = tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [{"input_ids": row} for row in ids]

    def _target(self, ex: TextExample, index: dict[str, int]) -> Any:
        if not self.multi_label:
            return index[ex.label]
        target = [0.0] * len(self.labels)
        for label in ex.labels:
            target[index[label]] = 1.0
        return target

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch = pad_ids(features, tokenizer.pad_token_id)
        if "target" in features[0]:
            dtype = torch.float32 if self.multi_label else torch.long
            batch["labels"] = torch.tensor([f["target"] for f in features], dtype=dtype)
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        if self.multi_label:
            return nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"])
        return nn.functional.cross_entropy(logits, batch["labels"])

    def outputs(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)

    def decode(self, scores: np.ndarray) -> list[Prediction]:
        """Probabilities (n, labels) -> one label per row, or every label over the threshold."""
        if not self.multi_label:
            return [(self.labels[i],) for i in scores.argmax(axis=1)]
        return [tuple(self.labels[i] for i in np.flatnonzero(row >= self.threshold)) for row in scores]

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Prediction], np.ndarray]:
        """Labels and confidence for raw texts."""
        from hone.evaluate.predict import batched

        features = self.encode_texts(texts, tokenizer)
        rows = batched(model, features, lambda f: self.collate(f, tokenizer), batch_size, self.outputs, autocast)
        scores = np.stack(rows) if rows else np.zeros((0, len(self.labels)), dtype=np.float32)
        return self.decode(scores), self.confidence(scores)

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[TextExample], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """The loss of each example's given label(s), what the model predicts instead, and how sure it is."""
        from hone.evaluate.predict import batched

        features = self.encode(examples, tokenizer)
        rows = batched(model, features, lambda f: self.collate(f, tokenizer), batch_size, self.outputs, autocast)
        scores = np.stack(rows) if rows else np.zeros((0, len(self.labels)), dtype=np.float32)
        predicted, confidence = self.decode(scores), self.confidence(scores)
        eps = 1e-12
        out = []
        for i, (ex, f) in enumerate(zip(examples, features, strict=True)):
            if self.multi_label:
                target, p = np.asarray(f["target"]), np.clip(scores[i], eps, 1 - eps)
                loss, given = float(-(target * np.log(p) + (1 - target) * np.log(1 - p)).mean()), None
            else:
                given = float(scores[i, f["target"]])
                loss = float(-np.log(max(given, eps)))
            label, pred = self._as_json(self.gold([ex])[0]), self._as_json(predicted[i])
            out.append(ExampleScore(loss, label, pred, float(confidence[i]), label != pred, given))
        return out

    def _as_json(self, labels: Prediction) -> Any:
        """One label as a string; a multi-label set as a sorted list."""
        return sorted(labels) if self.multi_label else (labels[0] if labels else None)

    def worst(
        self, examples: Sequence[TextExample], predicted: Sequence[Prediction], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Wrong predictions, most confident first: the errors that matter most."""
        gold = self.gold(examples)
        wrong = [i for i, (g, p) in enumerate(zip(gold, predicted, strict=True)) if tuple(g) != tuple(p)]
        wrong.sort(key=lambda i: -float(confidence[i]))
        return [
            {
                "text": examples[i].text,
                "gold": _show(gold[i]),
                "predicted": _show(predicted[i]),
                "confidence": round(float(confidence[i]), 4),
                "source": examples[i].source,
                "line": examples[i].line,
            }
            for i in wrong[:limit]
        ]

    def to_json(self, prediction: Prediction) -> list[str]:
        return list(prediction)

    def from_json(self, payload: list[str]) -> Prediction:
        return tuple(payload)

    def confidence(self, scores: np.ndarray) -> np.ndarray:
        """How sure the model is of what it predicted (max probability, or mean decisiveness)."""
        if not self.multi_label:
            return scores.max(axis=1)
        return np.abs(scores - 0.5).mean(axis=1) * 2

    def gold(self, examples: Sequence[TextExample]) -> list[Prediction]:
        return [tuple(sorted(ex.labels)) for ex in examples]

    def metrics(self, gold: Sequence[Prediction], predicted: Sequence[Prediction]) -> dict[str, Any]:
        from hone.evaluate.classify_metrics import classification_metrics

        return classification_metrics(gold, predicted, self.labels, self.multi_label)

    def score(self, gold: Sequence[Prediction], predicted: Sequence[Prediction]) -> float:
        from hone.evaluate.classify_metrics import macro_f1

        return macro_f1(gold, predicted, self.labels, self.multi_label)


def _show(labels: Sequence[str]) -> str:
    return ", ".join(labels) if labels else "(none)"


def _baselines(config: ClassifyConfig, model_dir: str, task: Any) -> list[Any]:
    from hone.baseline.classic import make_baselines

    data = config.data
    return make_baselines(config.baseline.methods, data.multi_label, config.seed, model_dir, data.max_length)


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=ClassifyTask,
        parse=parse_example,
        label_problems=label_problems,
        long_inputs="truncate",
        baselines=_baselines,
    )


SPEC = _spec()
