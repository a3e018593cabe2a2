"""Hard-negative mining: for each query, documents the model ranks high that are not its positive.

A negative teaches most when it is close to the query, but the closest documents are often
unlabelled positives (a second passage that also answers the query). So a candidate is kept only
when its cosine score is below the positive's score minus `margin`; anything scoring as high as
the positive is treated as a likely false negative and skipped. `skip_top` drops the first
candidates of each ranking outright, for corpora where the very top is mostly unlabelled positives.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hone.retrieval.index import VectorIndex, unit_rows


def mine_hard_negatives(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    doc_ids: Sequence[str],
    positives: Sequence[str],
    k: int = 5,
    margin: float = 0.05,
    skip_top: int = 0,
) -> list[list[str]]:
    """Up to `k` negative ids per query, hardest first.

    `positives[i]` is the id (in `doc_ids`) of query i's positive. Candidates are the documents
    ranked by cosine similarity to the query, without the positive; the first `skip_top` are
    dropped, then those scoring at or above `positive score - margin`.
    """
    if k < 1 or skip_top < 0:
        raise ValueError(f"k={k}, skip_top={skip_top}: k must be at least 1 and skip_top at least 0")
    queries = unit_rows(query_vecs, "query_vecs")
    index = VectorIndex.build(doc_vecs, doc_ids)
    thresholds = _positive_scores(queries, index, positives) - margin
    mined: list[list[str]] = [[] for _ in positives]
    depth = k + skip_top + 1  # +1: the positive itself is usually among the top
    pending = list(range(len(positives)))
    while pending:
        ranked, scores = index.search(queries[pending], depth)
        for i, ids, row in zip(pending, ranked, scores, strict=True):
            mined[i] = _select(ids, row, positives[i], thresholds[i], skip_top, k)
        # Too few kept while documents remain unseen: search those queries again, deeper.
        pending = [i for i in pending if len(mined[i]) < k] if depth < len(index) else []
        depth *= 4
    return mined


def _positive_scores(queries: np.ndarray, index: VectorIndex, positives: Sequence[str]) -> np.ndarray:
    """Cosine similarity of each (unit) query to its positive, from the vectors the index holds."""
    if len(queries) != len(positives):
        raise ValueError(f"{len(queries)} query vectors but {len(positives)} positives; give one positive per query")
    row_of = {doc_id: i for i, doc_id in enumerate(index.ids)}
    missing = [(i, p) for i, p in enumerate(positives) if p not in row_of]
    if missing:
        raise ValueError(f"positives not among doc_ids (query, id): {missing[:5]}; add them to the corpus")
    docs = index.index.reconstruct_batch(np.array([row_of[p] for p in positives], dtype=np.int64))
    return np.einsum("ij,ij->i", queries, docs)


def _select(
    ids: Sequence[str], scores: np.ndarray, positive: str, threshold: float, skip_top: int, k: int
) -> list[str]:
    candidates = [(doc_id, score) for doc_id, score in zip(ids, scores, strict=False) if doc_id != positive]
    return [doc_id for doc_id, score in candidates[skip_top:] if score < threshold][:k]
