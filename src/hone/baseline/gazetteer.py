"""The dictionary baseline an NER fine-tune must beat: tag every string seen as an entity in train.

`fit` remembers each training entity's surface form (casefolded, as a sequence of words, so
whitespace and case do not matter) with its most frequent type; `predict_spans` tags the longest
known form at each word, left to right, never overlapping. It costs nothing to run and shows how
much of a test set is memorisation.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from hone.tasks.ner_schema import NerExample, Span, word_offsets

Words = tuple[str, ...]


class Gazetteer:
    """Longest-match lookup of training entity strings, at word boundaries."""

    name = "gazetteer"

    def __init__(self) -> None:
        self.entries: dict[Words, str] = {}
        # first word -> the lengths (in words) of entries starting with it, longest first
        self.lengths: dict[str, list[int]] = {}

    def fit(self, train: Sequence[NerExample]) -> None:
        votes: dict[Words, Counter[str]] = defaultdict(Counter)
        for ex in train:
            for span in ex.spans:
                key = _words(ex.text[span.start : span.end])
                if key:
                    votes[key][span.label] += 1
        # Most frequent type; ties go to the alphabetically first, so a refit gives the same table.
        self.entries = {key: min(c, key=lambda label: (-c[label], label)) for key, c in votes.items()}
        lengths: dict[str, set[int]] = defaultdict(set)
        for key in self.entries:
            lengths[key[0]].add(len(key))
        self.lengths = {first: sorted(n, reverse=True) for first, n in lengths.items()}

    def predict_spans(self, texts: Sequence[str]) -> list[list[Span]]:
        """Entity spans per text: at each word the longest known entry, then scanning on after it."""
        return [self._spans(text) for text in texts]

    def predict(self, texts: Sequence[str]) -> tuple[list[list[Span]], np.ndarray]:
        """Spans per text and a confidence of 1.0 each (a lookup has no graded score)."""
        return self.predict_spans(texts), np.ones(len(texts))

    def _spans(self, text: str) -> list[Span]:
        offsets = word_offsets(text)
        words = [text[a:b].casefold() for a, b in offsets]
        found, i = [], 0
        while i < len(words):
            n = self._match(words, i)
            if n:
                found.append(Span(offsets[i][0], offsets[i + n - 1][1], self.entries[tuple(words[i : i + n])]))
            i += n or 1
        return found

    def _match(self, words: list[str], i: int) -> int:
        """The length in words of the longest entry starting at word i, or 0."""
        for n in self.lengths.get(words[i], ()):
            if i + n <= len(words) and tuple(words[i : i + n]) in self.entries:
                return n
        return 0


def _words(surface: str) -> Words:
    """A surface form as casefolded words: 'New  York' and 'new york' are the same entry."""
    return tuple(surface[a:b].casefold() for a, b in word_offsets(surface))
