"""The corpus index kept per model state: found again for the same weights in another object, rebuilt after a
step, and bounded in memory."""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from hone.retrieval.index import VectorIndex
from hone.tasks import corpus_index


def _index(n: int, dim: int = 4) -> VectorIndex:
    return VectorIndex.build(np.random.default_rng(n).normal(size=(n, dim)), [str(i) for i in range(n)])


def test_the_same_weights_find_the_index_and_changed_weights_build_another() -> None:
    corpus_index.forget()
    model = nn.Linear(3, 2)
    built: list[int] = []

    def build() -> VectorIndex:
        built.append(1)
        return _index(5)

    first = corpus_index.index_for(model, "corpus", 32, build)
    assert corpus_index.index_for(copy.deepcopy(model), "corpus", 32, build) is first  # reloaded, same weights
    assert len(built) == 1
    corpus_index.index_for(model, "corpus", 64, build)  # another max_length embeds differently
    corpus_index.index_for(model, "another corpus", 32, build)
    with torch.no_grad():
        model.weight[0, 0] += 1e-6  # one optimizer step, however small
    corpus_index.index_for(model, "corpus", 32, build)
    assert len(built) == 4


def test_kept_indexes_are_bounded(monkeypatch) -> None:
    corpus_index.forget()
    monkeypatch.setattr(corpus_index, "MAX_KEPT_BYTES", 2 * 10 * 4 * 4)  # two indexes of 10 four-dim vectors
    models = [nn.Linear(2, 2) for _ in range(3)]
    for model in models:
        corpus_index.index_for(model, "c", 8, lambda: _index(10))
    assert len(corpus_index._kept) == 2  # the oldest went first
    corpus_index.index_for(nn.Linear(2, 2), "c", 8, lambda: _index(100))  # alone over the bound: used, not kept
    assert len(corpus_index._kept) == 2
    corpus_index.forget()
