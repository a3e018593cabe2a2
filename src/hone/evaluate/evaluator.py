"""One evaluator for baselines and tuned models: same split, same metrics, same cost measurement.

Also the comparison that decides a run: the tuned model's gain over the best baseline with a paired
bootstrap 95% interval, and the verdict sentence the report leads with.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hone.progress import unreported
from hone.tasks.base import Task, model_inputs


@dataclass
class Outcome:
    """A predictor's result on one split."""

    name: str
    metrics: dict[str, Any]  # {"metrics": {...}, "per_class": {...}, "confusion": {...}}
    predictions: list[Any]
    confidence: np.ndarray
    cost: dict[str, float]

    @property
    def scores(self) -> dict[str, float]:
        return self.metrics["metrics"]


def evaluate_predictor(task: Task, predictor: Any, examples: Sequence[Any]) -> Outcome:
    """Predict every example (timed), score against gold, and time single-example latency."""
    texts = model_inputs(examples)
    start = time.perf_counter()
    predictions, confidence = predictor.predict(texts)
    elapsed = time.perf_counter() - start
    metrics = task.metrics(task.gold(examples), predictions)
    cost = {"per_1000_s": 1000 * elapsed / max(len(texts), 1), "latency_ms": _latency_ms(predictor, texts)}
    return Outcome(predictor.name, metrics, list(predictions), np.asarray(confidence), cost)


def only(task: Task, outcome: Outcome, examples: Sequence[Any], positions: Sequence[int]) -> Outcome:
    """`outcome` restricted to `examples[i]` for i in `positions`, its metrics recomputed on them."""
    predictions = [outcome.predictions[i] for i in positions]
    metrics = task.metrics(task.gold([examples[i] for i in positions]), predictions)
    return Outcome(outcome.name, metrics, predictions, outcome.confidence[list(positions)], outcome.cost)


def _latency_ms(predictor: Any, texts: Sequence[Any], samples: int = 10, budget_s: float = 5.0) -> float:
    """Median wall time of predicting one input alone (what a single request would see).

    Up to `samples` inputs, but no more once `budget_s` is spent: one generated answer can take seconds.
    """
    times: list[float] = []
    with unreported():  # the inputs were counted when they were predicted in batches
        for text in list(texts)[:samples]:
            start = time.perf_counter()
            predictor.predict([text])
            times.append(time.perf_counter() - start)
            if sum(times) > budget_s:
                break
    return 1000 * float(np.median(times)) if times else 0.0


def paired_bootstrap(
    task: Task, gold: Sequence[Any], ours: Sequence[Any], theirs: Sequence[Any], resamples: int, seed: int
) -> tuple[float, float]:
    """95% interval of score(ours) - score(theirs), resampling test examples with replacement."""
    rng = np.random.default_rng(seed)
    n = len(gold)
    diffs = np.empty(resamples)
    for r in range(resamples):
        idx = rng.integers(0, n, n)
        g = [gold[i] for i in idx]
        diffs[r] = task.score(g, [ours[i] for i in idx]) - task.score(g, [theirs[i] for i in idx])
    low, high = np.percentile(diffs, [2.5, 97.5])
    return float(low), float(high)


def best_baseline(baselines: dict[str, dict[str, Any]], metric: str, higher_is_better: bool) -> str:
    pick = max if higher_is_better else min
    return pick(baselines, key=lambda name: baselines[name]["metrics"][metric])


def compare(
    task: Task,
    gold: Sequence[Any],
    tuned: Outcome,
    baseline_name: str,
    baseline_preds: Sequence[Any],
    resamples: int,
    seed: int,
) -> dict[str, Any]:
    """Gain of the tuned model over one baseline, its interval, and whether it is a proven gain."""
    ours = task.score(gold, tuned.predictions)
    theirs = task.score(gold, baseline_preds)
    sign = 1 if task.higher_is_better else -1
    low, high = paired_bootstrap(task, gold, tuned.predictions, baseline_preds, resamples, seed)
    gain = sign * (ours - theirs)
    ci = sorted((sign * low, sign * high))
    return {
        "baseline": baseline_name,
        "baseline_score": theirs,
        "tuned_score": ours,
        "gain": gain,
        "ci95": ci,
        "better": ci[0] > 0,
    }


def verdict(comparison: dict[str, Any], metric: str) -> str:
    """The one sentence a reader needs: does fine-tuning pay off here?"""
    name, gain = comparison["baseline"], comparison["gain"]
    low, high = comparison["ci95"]
    label = metric.replace("_", "-").replace("f1", "F1")
    ci = f"(95% CI {low:+.3f} to {high:+.3f})"
    if comparison["better"]:
        return f"Fine-tuning beats the best baseline ({name}) by {gain:+.3f} {label} {ci}."
    if gain > 0:
        return (
            f"Fine-tuning scores {gain:+.3f} {label} above the best baseline ({name}), but the interval {ci} "
            "includes zero: not a proven gain — keep the baseline or add data."
        )
    return f"Fine-tuning does not beat the best baseline ({name}): {gain:+.3f} {label} {ci} — keep the baseline."


class TunedPredictor:
    """A trained run's model behind the Predictor interface."""

    name = "tuned"

    def __init__(self, loaded: Any, batch_size: int = 64) -> None:
        self.loaded, self.batch_size = loaded, batch_size
        self._bound: tuple[Any, Any] | None = None  # (task, its predict bound to these weights)

    def fit(self, train: Sequence[Any]) -> None:  # already trained
        return None

    def predict(self, texts: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
        from hone.evaluate.predict import bound_predict
        from hone.train.setup import autocast_for_inference

        loaded = self.loaded
        if self._bound is None or self._bound[0] is not loaded.task:  # `Run.predictor` may swap the task
            predict = bound_predict(
                loaded.task, loaded.model, loaded.tokenizer, self.batch_size, autocast_for_inference()
            )
            self._bound = (loaded.task, predict)
        return self._bound[1](list(texts))
