"""Retrieval metrics: hand-computed cases, and agreement with independent implementations on random rankings."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from sklearn.metrics import ndcg_score

from hone.evaluate.retrieval_metrics import retrieval_metrics, retrieval_score, worse_queries

# Four queries whose values are worked out by hand in the comments.
RANKED = [
    ["a", "b", "c", "d"],  # relevant at ranks 2 and 4
    ["x", "y"],  # relevant never retrieved
    [f"d{i}" for i in range(12)],  # relevant at rank 11: beyond every cutoff
    ["r"],  # relevant at rank 1
]
RELEVANT = [{"b", "d"}, {"z"}, {"d10"}, {"r"}]
NDCG_A = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))  # 0.650920...


def test_hand_computed_values() -> None:
    result = retrieval_metrics(RANKED, RELEVANT)
    assert result["metrics"] == pytest.approx(
        {
            "recall@1": (0 + 0 + 0 + 1) / 4,
            "recall@5": (1 + 0 + 0 + 1) / 4,
            "recall@10": (1 + 0 + 0 + 1) / 4,
            "mrr@10": (1 / 2 + 0 + 0 + 1) / 4,
            "ndcg@10": (NDCG_A + 0 + 0 + 1) / 4,
        }
    )
    assert result["metrics"]["ndcg@10"] == pytest.approx(0.41273023245178314)
    assert [q["rank"] for q in result["per_query"]] == [2, None, 11, 1]
    assert [q["rr"] for q in result["per_query"]] == [0.5, 0.0, 0.0, 1.0]
    assert [q["recall@10"] for q in result["per_query"]] == [1.0, 0.0, 0.0, 1.0]
    assert retrieval_score(RANKED, RELEVANT) == pytest.approx(result["metrics"]["ndcg@10"])


def test_more_relevant_documents_than_the_cutoff() -> None:
    relevant = {f"r{i}" for i in range(12)}
    ranked = [f"r{i}" for i in range(12)]
    per_query = retrieval_metrics([ranked], [relevant])["per_query"][0]
    assert per_query["ndcg@10"] == pytest.approx(1.0)  # the ideal ranking holds only 10 relevant documents
    assert per_query["recall@10"] == pytest.approx(10 / 12)


def test_a_repeated_id_counts_once_and_custom_ks() -> None:
    result = retrieval_metrics([["a", "a", "b"]], [{"a", "b"}], ks=(2,))
    assert result["metrics"]["recall@2"] == 1.0  # "a", "b" after the repeat is dropped
    assert set(result["metrics"]) == {"recall@2", "mrr@10", "ndcg@10"}


@pytest.mark.parametrize(
    ("ranked", "relevant", "match"),
    [
        ([["a"]], [{"a"}, {"b"}], "1 rankings but 2 relevant sets"),
        ([], [], "no queries"),
        ([["a"], ["b"]], [{"a"}, set()], r"queries \[1\] have no relevant document"),
    ],
)
def test_inputs_that_cannot_be_scored(ranked: list, relevant: list, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        retrieval_metrics(ranked, relevant)


# --- independent references -------------------------------------------------------------------


def random_queries(n: int, seed: int) -> tuple[list[list[str]], list[set[str]]]:
    """Full permutations of a 30-document pool, each with 1-12 relevant documents."""
    rng = random.Random(seed)
    pool = [f"doc{i}" for i in range(30)]
    ranked, relevant = [], []
    for _ in range(n):
        ranked.append(rng.sample(pool, len(pool)))
        relevant.append(set(rng.sample(pool, rng.randint(1, 12))))
    return ranked, relevant


def sklearn_ndcg(ranked: list[str], relevant: set[str]) -> float:
    """sklearn's nDCG@10 with the ranking given as descending scores and binary gains."""
    y_true = np.array([[1.0 if doc in relevant else 0.0 for doc in ranked]])
    y_score = np.array([[float(len(ranked) - i) for i in range(len(ranked))]])
    return float(ndcg_score(y_true, y_score, k=10))


def trec_style(ranked: list[str], relevant: set[str]) -> dict[str, float]:
    """trec_eval's formulas, written over a 0/1 gain vector instead of id sets."""
    gains = np.array([doc in relevant for doc in ranked], dtype=float)
    discounts = 1.0 / np.log2(np.arange(2, 12))
    ideal = np.sort(np.concatenate([np.ones(len(relevant)), np.zeros(10)]))[::-1][:10]
    hits = np.flatnonzero(gains[:10])
    return {
        "recall@1": gains[:1].sum() / len(relevant),
        "recall@5": gains[:5].sum() / len(relevant),
        "recall@10": gains[:10].sum() / len(relevant),
        "mrr@10": 1.0 / (hits[0] + 1) if hits.size else 0.0,
        "ndcg@10": float(gains[:10] @ discounts / (ideal @ discounts)),
    }


def test_agrees_with_sklearn_ndcg_on_random_rankings() -> None:
    ranked, relevant = random_queries(200, seed=1)
    per_query = retrieval_metrics(ranked, relevant)["per_query"]
    ours = [q["ndcg@10"] for q in per_query]
    theirs = [sklearn_ndcg(r, rel) for r, rel in zip(ranked, relevant, strict=True)]
    assert ours == pytest.approx(theirs, abs=1e-12)
    assert retrieval_score(ranked, relevant) == pytest.approx(np.mean(theirs), abs=1e-12)


def test_agrees_with_trec_style_formulas_on_random_rankings() -> None:
    ranked, relevant = random_queries(200, seed=2)
    metrics = retrieval_metrics(ranked, relevant)["metrics"]
    reference = [trec_style(r, rel) for r, rel in zip(ranked, relevant, strict=True)]
    expected = {name: float(np.mean([ref[name] for ref in reference])) for name in reference[0]}
    assert metrics == pytest.approx(expected, abs=1e-12)


# --- worse queries ----------------------------------------------------------------------------


def test_worse_queries_lists_drops_largest_first_with_texts_side_by_side() -> None:
    corpus = {"a": "alpha", "b": "beta", "c": "gamma", "d": "delta"}
    queries = ["better", "small drop", "big drop", "unchanged"]
    before = [["b", "a"], ["a", "b"], ["a", "b", "c", "d"], ["a"]]
    after = [["a", "b"], ["b", "a"], ["b", "c", "x", "a"], ["a"]]
    relevant = [{"a"} for _ in queries]
    worse = worse_queries(before, after, relevant, queries, corpus, limit=5)
    assert [w["query"] for w in worse] == ["big drop", "small drop"]
    big = worse[0]
    assert (big["rank_before"], big["rank_after"], big["rr_before"], big["rr_after"]) == (1, 4, 1.0, 0.25)
    assert big["before"] == [
        {"id": "a", "text": "alpha", "relevant": True},
        {"id": "b", "text": "beta", "relevant": False},
        {"id": "c", "text": "gamma", "relevant": False},
    ]
    assert [d["text"] for d in big["after"]] == ["beta", "gamma", "(not in the corpus)"]
    assert worse_queries(before, after, relevant, queries, corpus, limit=1) == worse[:1]


def test_worse_queries_needs_one_of_each_per_query() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        worse_queries([["a"]], [], [{"a"}], ["q"], {}, limit=3)
