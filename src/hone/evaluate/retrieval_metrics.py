"""Retrieval metrics over ranked document ids: recall@k, MRR@10 and nDCG@10, and the queries a model made worse.

Relevance is binary: a document either answers the query (its id is in the query's relevant set)
or not. Per query, with `rank` the 1-based position of a document in the ranking:

- recall@k = |relevant ∩ top k| / |relevant|
- RR@10 = 1 / rank of the first relevant document when it is within the top 10, else 0
- nDCG@10 = Σ_{relevant in top 10} 1 / log2(rank + 1), divided by the same sum for an ideal
  ranking, which puts min(|relevant|, 10) relevant documents first

and each metric is the mean over queries. A ranking that repeats an id counts it at its first
position only. nDCG@10 is the primary metric.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

CUTOFF = 10
PRIMARY = f"ndcg@{CUTOFF}"
SHOWN = 3  # retrieved texts per side in worse_queries


def retrieval_metrics(
    ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]], ks: Sequence[int] = (1, 5, 10)
) -> dict[str, Any]:
    """Mean recall@k for each k in `ks`, MRR@10 and nDCG@10, and the per-query values behind them.

    Returns {"metrics": {"recall@1", ..., "mrr@10", "ndcg@10"}, "per_query": [{"rank", "recall@10",
    "rr", "ndcg@10"}]} where `rank` is the 1-based rank of the first relevant document anywhere in
    the ranking, or None when none was retrieved.
    """
    if any(k < 1 for k in ks):
        raise ValueError(f"ks {list(ks)} must all be at least 1 (recall@k counts the top k documents)")
    rankings = _checked(ranked, relevant)
    pairs = list(zip(rankings, relevant, strict=True))
    metrics = {f"recall@{k}": _mean(_recall(ranking, rel, k) for ranking, rel in pairs) for k in ks}
    per_query = [_query_values(ranking, rel) for ranking, rel in pairs]
    metrics[f"mrr@{CUTOFF}"] = _mean(q["rr"] for q in per_query)
    metrics[PRIMARY] = _mean(q[PRIMARY] for q in per_query)
    return {"metrics": metrics, "per_query": per_query}


def retrieval_score(ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> float:
    """Mean nDCG@10, the primary metric (cheap: called inside the bootstrap)."""
    rankings = _checked(ranked, relevant)
    return _mean(_ndcg(r, rel, CUTOFF) for r, rel in zip(rankings, relevant, strict=True))


def _checked(ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]]) -> list[list[str]]:
    """The rankings without repeated ids, after checking that every query can be scored."""
    if len(ranked) != len(relevant):
        raise ValueError(f"{len(ranked)} rankings but {len(relevant)} relevant sets; give one of each per query")
    if not ranked:
        raise ValueError("no queries to score; the evaluation split is empty")
    empty = [i for i, rel in enumerate(relevant) if not rel]
    if empty:
        raise ValueError(f"queries {empty[:10]} have no relevant document; drop them or add their positives")
    return [list(dict.fromkeys(ranking)) for ranking in ranked]


def _query_values(ranking: Sequence[str], relevant: set[str]) -> dict[str, Any]:
    rank = first_relevant_rank(ranking, relevant)
    return {
        "rank": rank,
        f"recall@{CUTOFF}": _recall(ranking, relevant, CUTOFF),
        "rr": 1.0 / rank if rank is not None and rank <= CUTOFF else 0.0,
        PRIMARY: _ndcg(ranking, relevant, CUTOFF),
    }


def first_relevant_rank(ranking: Sequence[str], relevant: set[str]) -> int | None:
    """The 1-based rank of the first relevant id in `ranking`, or None when there is none."""
    return next((i for i, doc in enumerate(ranking, start=1) if doc in relevant), None)


def _recall(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    return len(relevant.intersection(ranking[:k])) / len(relevant)


def _ndcg(ranking: Sequence[str], relevant: set[str], k: int) -> float:
    dcg = sum(1.0 / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], start=1) if doc in relevant)
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(len(relevant), k) + 1))
    return dcg / ideal


def _mean(values: Iterable[float]) -> float:
    items = list(values)
    return sum(items) / len(items)


# --- error analysis ---------------------------------------------------------------------------


def worse_queries(
    before_ranked: Sequence[Sequence[str]],
    after_ranked: Sequence[Sequence[str]],
    relevant: Sequence[set[str]],
    queries: Sequence[str],
    corpus_text: Mapping[str, str],
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The queries whose reciprocal rank dropped from `before` to `after`, largest drop first.

    Reciprocal rank here has no cutoff (1 / rank of the first relevant document, 0 when none), so
    a fall from rank 12 to 40 counts too. Each entry holds the query, its relevant ids, the rank
    before and after, and the top 3 retrieved documents of each side as {"id", "text", "relevant"}.
    """
    sizes = {len(before_ranked), len(after_ranked), len(relevant), len(queries)}
    if len(sizes) != 1:
        raise ValueError(
            f"before/after rankings, relevant sets and queries differ in length ({len(before_ranked)}, "
            f"{len(after_ranked)}, {len(relevant)}, {len(queries)}); give one of each per query"
        )
    rows = [
        _comparison(query, before, after, rel, corpus_text)
        for query, before, after, rel in zip(queries, before_ranked, after_ranked, relevant, strict=True)
    ]
    worse = [row for row in rows if row["rr_after"] < row["rr_before"]]
    worse.sort(key=lambda row: row["rr_after"] - row["rr_before"])  # stable: ties keep query order
    return worse[:limit]


def _comparison(
    query: str, before: Sequence[str], after: Sequence[str], relevant: set[str], corpus_text: Mapping[str, str]
) -> dict[str, Any]:
    rank_before, rank_after = first_relevant_rank(before, relevant), first_relevant_rank(after, relevant)
    return {
        "query": query,
        "relevant": sorted(relevant),
        "rank_before": rank_before,
        "rank_after": rank_after,
        "rr_before": 1.0 / rank_before if rank_before else 0.0,
        "rr_after": 1.0 / rank_after if rank_after else 0.0,
        "before": _shown(before, relevant, corpus_text),
        "after": _shown(after, relevant, corpus_text),
    }


def _shown(ranking: Sequence[str], relevant: set[str], corpus_text: Mapping[str, str]) -> list[dict[str, Any]]:
    top = list(dict.fromkeys(ranking))[:SHOWN]
    # A report must still render when an id is missing from the corpus; say so instead of failing.
    return [{"id": d, "text": corpus_text.get(d, "(not in the corpus)"), "relevant": d in relevant} for d in top]
