"""Progress counts: a phase's count is the work done once, never more than its total."""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np

from hone.evaluate.evaluator import evaluate_predictor
from hone.progress import phase, tick, unreported


class Ticking:
    """A predictor that reports each input it predicts, as the batched inference loops do."""

    name = "ticking"

    def predict(self, texts: list[str]) -> tuple[list[str], np.ndarray]:
        tick(len(texts))
        return list(texts), np.ones(len(texts))


class Echo:
    def gold(self, examples: list[SimpleNamespace]) -> list[str]:
        return [ex.text for ex in examples]

    def metrics(self, gold: list[str], predicted: list[str]) -> dict:
        return {"metrics": {"accuracy": float(np.mean([g == p for g, p in zip(gold, predicted, strict=True)]))}}


def test_the_latency_probe_does_not_count_inputs_again() -> None:
    """Evaluation predicts every input in batches, then times a few alone: the count stayed at the total (it read
    38/36 on an extraction before)."""
    examples = [SimpleNamespace(text=f"t{i}") for i in range(36)]
    with phase("eval", total=len(examples), stream=io.StringIO()) as progress:
        outcome = evaluate_predictor(Echo(), Ticking(), examples)
    assert progress.done == len(examples)
    assert outcome.scores["accuracy"] == 1.0 and outcome.cost["latency_ms"] >= 0


def test_ticks_inside_unreported_reach_no_phase_and_outside_it_they_do() -> None:
    with phase("outer", total=10, stream=io.StringIO()) as progress:
        tick(2)
        with unreported():
            tick(5)
        tick(1)
    assert progress.done == 3
