"""The lexical baseline a tuned embedder must beat: BM25 over the corpus, with bm25s.

Texts are lowercased, split into words of two or more word characters, and stripped of bm25s's
English stopwords; there is no stemming, so the baseline needs nothing beyond bm25s. Scoring is
bm25s's defaults (Lucene's BM25 variant, k1=1.5, b=0.75). A query shares no word with a document
scores it 0, and such documents are left out of the results rather than ranked arbitrarily.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np
from bm25s.tokenization import Tokenizer

from hone.tasks.embed_schema import CorpusDoc


class BM25Retriever:
    """Ranks corpus ids for a query by BM25 score."""

    name = "bm25"

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.tokenizer = _tokenizer()
        self.model = bm25s.BM25()

    def fit(self, corpus: Sequence[CorpusDoc]) -> None:
        """Index the corpus (replacing any earlier one)."""
        if not corpus:
            raise ValueError("the corpus is empty; BM25 needs documents to search")
        self.ids = [doc.id for doc in corpus]
        self.tokenizer = _tokenizer()  # a fresh vocabulary: a refit must not keep the old corpus's words
        tokens = self.tokenizer.tokenize([doc.text for doc in corpus], return_as="ids", show_progress=False)
        self.model = bm25s.BM25()
        self.model.index(tokens, show_progress=False)

    def search(self, queries: Sequence[str], k: int) -> list[list[str]]:
        """Up to `k` corpus ids per query, best first; documents sharing no word with the query are left out."""
        if not self.ids:
            raise RuntimeError("BM25Retriever.search called before fit; fit it on the corpus first")
        if k < 1:
            raise ValueError(f"k={k}: ask for at least one result per query")
        if not queries:
            return []
        # update_vocab=False: words the corpus never uses cannot match and are dropped.
        tokens = self.tokenizer.tokenize(list(queries), update_vocab=False, return_as="ids", show_progress=False)
        rows, scores = self.model.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False)
        return [self._hits(row, row_scores) for row, row_scores in zip(rows, scores, strict=True)]

    def _hits(self, row: np.ndarray, scores: np.ndarray) -> list[str]:
        return [self.ids[int(j)] for j, score in zip(row, scores, strict=True) if score > 0]


def _tokenizer() -> Tokenizer:
    return Tokenizer(lower=True, stopwords="en", stemmer=None)
