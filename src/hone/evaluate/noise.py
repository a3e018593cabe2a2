"""Suspect labels: the training examples a trained model fits worst, as candidates for label noise.

After training, a training example with a high loss is one the model could not fit: often its label is
wrong or ambiguous. Every task that can says how well the model fits each example
(`Task.example_losses`); this module scores the train split (a seeded sample beyond `CAP` examples), ranks
the examples, and writes eval.json's "suspect_labels" with the file:line of each so the data can be fixed.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from hone.tasks.base import ExampleScore

CAP = 2000  # examples scored; a few seconds for a small encoder on CPU
TOP = 10  # rows per table
TEXT_LIMIT = 500  # characters of text kept per row in eval.json


def suspect_labels(
    task: Any, model: Any, tokenizer: Any, train: Sequence[Any], batch_size: int, seed: int, cap: int = CAP
) -> dict[str, Any]:
    """eval.json's "suspect_labels": the highest-loss and most confidently wrong training examples.

    {"split": "train", "scored", "of", "note", "seconds", "highest_loss": [...], "confidently_wrong": [...]},
    or {"split": "train", "unavailable": reason} for a task without a per-example loss or an empty split.
    """
    from hone.train.setup import autocast_for_inference

    scorer = getattr(task, "example_losses", None)  # a task from outside hone may not have one
    if scorer is None:
        return unavailable(f"the {task.name} task does not say how well the model fits each example")
    if not train:
        return unavailable("the train split is empty")
    sample = sampled(train, cap, seed)
    start = time.perf_counter()
    scores = scorer(model, tokenizer, sample, batch_size, autocast_for_inference())
    seconds = time.perf_counter() - start
    if isinstance(scores, str):
        return unavailable(scores)
    return ranked(task, sample, scores, len(train), seconds)


def unavailable(reason: str) -> dict[str, Any]:
    return {"split": "train", "unavailable": reason}


def sampled(examples: Sequence[Any], cap: int, seed: int) -> list[Any]:
    """All examples when there are at most `cap`, else a seeded sample of `cap` kept in file order."""
    if len(examples) <= cap:
        return list(examples)
    keep = sorted(random.Random(seed).sample(range(len(examples)), cap))
    return [examples[i] for i in keep]


def ranked(
    task: Any, examples: Sequence[Any], scores: Sequence[ExampleScore], total: int, seconds: float
) -> dict[str, Any]:
    """The two top-`TOP` tables from scores of `examples` (out of `total` training examples)."""
    rows = [_row(ex, s) for ex, s in zip(examples, scores, strict=True)]
    highest = sorted(range(len(rows)), key=lambda i: -scores[i].loss)[:TOP]
    wrong = [i for i, s in enumerate(scores) if s.wrong]
    wrong.sort(key=lambda i: -(scores[i].confidence or 0.0))
    return {
        "split": "train",
        "scored": len(rows),
        "of": total,
        "note": _note(task, scores, len(rows), total),
        "seconds": round(seconds, 3),
        "highest_loss": [rows[i] for i in highest],
        "confidently_wrong": [rows[i] for i in wrong[:TOP]],
    }


def _note(task: Any, scores: Sequence[ExampleScore], scored: int, total: int) -> str:
    parts = [
        f"all {total} training examples scored"
        if scored == total
        else f"a seeded sample of {scored} of the {total} training examples scored"
    ]
    what = getattr(task, "example_loss_note", "")
    if what:
        parts.append(what)
    if all(s.wrong is None for s in scores):
        parts.append("confidently_wrong is empty: this task has no single predicted label to compare")
    return "; ".join(parts)


def _row(example: Any, score: ExampleScore) -> dict[str, Any]:
    text = str(getattr(example, "text", ""))
    row: dict[str, Any] = {
        "line": f"{example.source}:{example.line}",
        "text": text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…",
        "label": score.label,
        "predicted": score.predicted,
        "confidence": None if score.confidence is None else round(float(score.confidence), 4),
        "loss": round(float(score.loss), 4),
    }
    if score.label_probability is not None:
        row["label_probability"] = round(float(score.label_probability), 4)
    if score.detail:
        row["detail"] = score.detail
    return row
