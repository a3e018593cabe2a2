"""Hard-negative mining on constructed vectors whose cosine scores to the query are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hone.retrieval.mining import mine_hard_negatives

QUERY = np.array([[1.0, 0.0]])


def at(*scores: float) -> np.ndarray:
    """2-D unit vectors whose cosine similarity to QUERY is each of `scores`."""
    return np.array([[s, math.sqrt(1.0 - s * s)] for s in scores])


# The positive scores 0.8; with margin 0.05 a negative must score below 0.75.
DOC_IDS = ["positive", "near-duplicate", "within-margin", "plausible", "weaker", "far"]
DOCS = at(0.8, 0.81, 0.78, 0.6, 0.3, -0.5)


def test_a_near_duplicate_of_the_positive_is_skipped_and_a_plausible_negative_kept() -> None:
    assert mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive"], k=2) == [["plausible", "weaker"]]
    assert mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive"], k=10) == [["plausible", "weaker", "far"]]


def test_margin_and_skip_top() -> None:
    no_margin = mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive"], k=2, margin=0.0)
    assert no_margin == [["within-margin", "plausible"]]  # 0.78 < 0.8; the 0.81 duplicate still goes
    skipped = mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive"], k=2, skip_top=3)
    assert skipped == [["weaker", "far"]]  # the 3 best non-positive candidates are dropped outright


def test_searches_deeper_when_the_top_is_all_likely_false_negatives() -> None:
    ids = ["positive"] + [f"dup{i}" for i in range(30)] + ["negative"]
    docs = at(0.8, *[0.9] * 30, 0.5)
    assert mine_hard_negatives(QUERY, docs, ids, ["positive"], k=2) == [["negative"]]


def test_each_query_uses_its_own_positive() -> None:
    queries = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    docs = np.array([[1.0, 0.0, 0.0], [0.9, 0.1, 0.4], [0.0, 0.0, 1.0], [0.3, 0.0, 0.9]])
    mined = mine_hard_negatives(queries, docs, ["p1", "a", "p2", "b"], ["p1", "p2"], k=1)
    assert mined == [["a"], ["b"]]


def test_bad_input_is_explained() -> None:
    with pytest.raises(ValueError, match=r"positives not among doc_ids .*\(0, 'missing'\)"):
        mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["missing"])
    with pytest.raises(ValueError, match="1 query vectors but 2 positives"):
        mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive", "far"])
    with pytest.raises(ValueError, match="k must be at least 1"):
        mine_hard_negatives(QUERY, DOCS, DOC_IDS, ["positive"], k=0)
