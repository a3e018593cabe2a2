"""The BM25 baseline: the obviously matching document ranks first; no-overlap documents are left out."""

from __future__ import annotations

import pytest

from hone.retrieval.bm25 import BM25Retriever
from hone.tasks.embed_schema import CorpusDoc

CORPUS = [
    CorpusDoc("cats", "The cat sat on the mat and purred at the other cats"),
    CorpusDoc("bread", "How to bake sourdough bread: flour, water, salt and a starter"),
    CorpusDoc("stocks", "Stock markets fell sharply today as rates rose"),
    CorpusDoc("dogs", "Dogs chase cats in the park"),
]


def fitted() -> BM25Retriever:
    retriever = BM25Retriever()
    retriever.fit(CORPUS)
    return retriever


def test_the_matching_document_ranks_first() -> None:
    retriever = fitted()
    assert retriever.name == "bm25"
    results = retriever.search(["SOURDOUGH bread recipe", "why did the stock market fall", "cats"], k=2)
    assert results[0] == ["bread"]  # the only document sharing a word; the others score 0 and are left out
    assert results[1] == ["stocks"]  # "market" does not match "markets": there is no stemming
    assert results[2] == ["dogs", "cats"]  # one "cats" each: BM25 prefers the shorter document


def test_stopwords_and_unknown_words_match_nothing() -> None:
    assert fitted().search(["the and of", "zzz qqq", ""], k=3) == [[], [], []]


def test_refit_replaces_the_corpus_and_misuse_is_explained() -> None:
    retriever = fitted()
    retriever.fit([CorpusDoc("only", "quantum chromodynamics")])
    assert retriever.search(["bread", "quantum"], k=5) == [[], ["only"]]
    with pytest.raises(RuntimeError, match="before fit"):
        BM25Retriever().search(["q"], k=1)
    with pytest.raises(ValueError, match="at least one"):
        retriever.search(["q"], k=0)
