"""Hard-negative mining: for each query, documents the model ranks high that are not its positive.

A negative teaches most when it is close to the query, but the closest documents are often
unlabelled positives (a second passage that also answers the query). So a candidate is kept only
when its cosine score is below the positive's score minus `margin`; anything scoring as high as
the positive is treated as a likely false negative and skipped. `skip_top` drops the first
candidates of each ranking outright, for corpora where the very top is mostly unlabelled positives.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from hone.retrieval.index import VectorIndex, unit_rows


def mine_hard_negatives(
    query_vecs: np.ndarray,
    doc_vecs: np.ndarray,
    doc_ids: Sequence[str],
    positives: Sequence[str | Collection[str]],
    k: int = 5,
    margin: float = 0.05,
    skip_top: int = 0,
) -> list[list[str]]:
    """Up to `k` negative ids per query, hardest first.

    `positives[i]` is the id (in `doc_ids`) of query i's positive, or the ids of all its copies (one passage
    stored under several ids): none of them is ever a negative. Candidates are the documents ranked by cosine
    similarity to the query, without the positives; the first `skip_top` are dropped, then those scoring at
    or above `positive score - margin`.
    """
    return mine_with_index(query_vecs, VectorIndex.build(doc_vecs, doc_ids), positives, k, margin, skip_top)


def mine_with_index(
    query_vecs: np.ndarray,
    index: VectorIndex,
    positives: Sequence[str | Collection[str]],
    k: int = 5,
    margin: float = 0.05,
    skip_top: int = 0,
) -> list[list[str]]:
    """`mine_hard_negatives` over documents already indexed (the corpus index of the mining model)."""
    if k < 1 or skip_top < 0:
        raise ValueError(f"k={k}, skip_top={skip_top}: k must be at least 1 and skip_top at least 0")
    queries = unit_rows(query_vecs, "query_vecs")
    own = [frozenset((p,) if isinstance(p, str) else p) for p in positives]
    thresholds = _positive_scores(queries, index, own) - margin
    mined: list[list[str]] = [[] for _ in own]
    pending = list(range(len(own)))
    depth = k + skip_top + max((len(p) for p in own), default=1)  # the positives themselves are usually on top
    while pending:
        ranked, scores = index.search(queries[pending], depth)
        for i, ids, row in zip(pending, ranked, scores, strict=True):
            mined[i] = _select(ids, row, own[i], thresholds[i], skip_top, k)
        # Too few kept while documents remain unseen: search those queries again, deeper.
        pending = [i for i in pending if len(mined[i]) < k] if depth < len(index) else []
        depth *= 4
    return mined


def _positive_scores(queries: np.ndarray, index: VectorIndex, positives: Sequence[frozenset[str]]) -> np.ndarray:
    """Cosine similarity of each (unit) query to its positive (the best of its copies), from the index's vectors."""
    if len(queries) != len(positives):
        raise ValueError(f"{len(queries)} query vectors but {len(positives)} positives; give one positive per query")
    row_of = {doc_id: i for i, doc_id in enumerate(index.ids)}
    missing = [
        (i, _one(p - row_of.keys()) if p else None) for i, p in enumerate(positives) if not p <= row_of.keys() or not p
    ]
    if missing:
        raise ValueError(f"positives not among doc_ids (query, id): {missing[:5]}; add them to the corpus")
    owner = np.repeat(np.arange(len(positives)), [len(p) for p in positives])
    rows = np.array([row_of[doc_id] for p in positives for doc_id in sorted(p)], dtype=np.int64)
    scores = np.einsum("ij,ij->i", queries[owner], index.index.reconstruct_batch(rows))
    starts = np.concatenate([[0], np.cumsum([len(p) for p in positives])[:-1]]).astype(np.int64)
    return np.maximum.reduceat(scores, starts) if len(positives) else scores


def _one(ids: frozenset[str]) -> str:
    return sorted(ids)[0]


def _select(
    ids: Sequence[str], scores: np.ndarray, positives: frozenset[str], threshold: float, skip_top: int, k: int
) -> list[str]:
    candidates = [(doc_id, score) for doc_id, score in zip(ids, scores, strict=False) if doc_id not in positives]
    return [doc_id for doc_id, score in candidates[skip_top:] if score < threshold][:k]
