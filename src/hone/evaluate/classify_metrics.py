"""Classification metrics (scikit-learn): accuracy, macro/micro-F1, per-class P/R/F1, confusion."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Prediction = tuple[str, ...]


def _indicators(rows: Sequence[Prediction], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    out = np.zeros((len(rows), len(labels)), dtype=np.int8)
    for r, row in enumerate(rows):
        for label in row:
            if label in index:
                out[r, index[label]] = 1
    return out


def _single(rows: Sequence[Prediction], labels: Sequence[str]) -> np.ndarray:
    index = {label: i for i, label in enumerate(labels)}
    return np.array([index.get(row[0], -1) if row else -1 for row in rows])


def macro_f1(
    gold: Sequence[Prediction], predicted: Sequence[Prediction], labels: Sequence[str], multi_label: bool
) -> float:
    """Macro-F1: the unweighted mean of per-class F1."""
    from sklearn.metrics import f1_score

    # Single-label: the classes present in gold or predictions count (scikit-learn's convention).
    y_true, y_pred = _pair(gold, predicted, labels, multi_label)
    return float(f1_score(y_true, y_pred, average="macro", zero_division=0))


def _pair(
    gold: Sequence[Prediction], predicted: Sequence[Prediction], labels: Sequence[str], multi_label: bool
) -> tuple[np.ndarray, np.ndarray]:
    if multi_label:
        return _indicators(gold, labels), _indicators(predicted, labels)
    return _single(gold, labels), _single(predicted, labels)


def classification_metrics(
    gold: Sequence[Prediction], predicted: Sequence[Prediction], labels: Sequence[str], multi_label: bool
) -> dict[str, Any]:
    """All classification metrics as JSON-ready values."""
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    y_true, y_pred = _pair(gold, predicted, labels, multi_label)
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": macro_f1(gold, predicted, labels, multi_label),
        "micro_f1": float(f1_score(y_true, y_pred, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
    }
    all_ids = {} if multi_label else {"labels": list(range(len(labels)))}
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0, **all_ids)
    per_class = {
        label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, label in enumerate(labels)
    }
    result: dict[str, Any] = {"metrics": metrics, "per_class": per_class}
    if not multi_label:
        result["confusion"] = {"labels": list(labels), "matrix": _confusion(y_true, y_pred, len(labels))}
    return result


def _confusion(y_true: np.ndarray, y_pred: np.ndarray, n: int) -> list[list[int]]:
    matrix = np.zeros((n, n), dtype=int)
    for t, p in zip(y_true, y_pred, strict=True):
        if t >= 0 and p >= 0:
            matrix[t, p] += 1
    return matrix.tolist()
