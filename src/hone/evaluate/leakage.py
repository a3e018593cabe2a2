"""Test examples whose text is also in train, left out of the score by default.

`hone check` warns about them; evaluation acts on it: a copy of a training text measures memory, not
generalisation, so it inflates exactly the figure a verdict rests on. With `eval.leaked: exclude` (the
default) the tuned model and every baseline are scored on the test examples whose normal form
(`hone.data.split.normalise_text`: case, spacing and punctuation ignored) is not in train, and eval.json and
baseline.json say how many were left out and what the score was with them. `eval.leaked: keep` scores
every test example.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hone.data.split import normalise_text


def leaked_indices(train: Sequence[Any], test: Sequence[Any]) -> list[int]:
    """Positions in `test` of examples whose text's normal form occurs in `train` (texts only: examples
    whose input is not a string, e.g. conversations, are never counted)."""
    seen = {normalise_text(t) for t in map(_text, train) if t is not None}
    return [i for i, ex in enumerate(test) if (t := _text(ex)) is not None and normalise_text(t) in seen]


def _text(example: Any) -> str | None:
    text = getattr(example, "text", None)
    return text if isinstance(text, str) else None


def scored(config: Any, train: Sequence[Any], test: Sequence[Any]) -> tuple[list[int], list[int]]:
    """(positions scored, positions left out) of `test` under the config's `eval.leaked`. When every test
    example is also in train nothing is left out (there would be nothing to score; the check says so)."""
    leaked = leaked_indices(train, test) if config.eval.leaked == "exclude" else []
    if len(leaked) == len(test):
        leaked = []
    out = set(leaked)
    return [i for i in range(len(test)) if i not in out], leaked
