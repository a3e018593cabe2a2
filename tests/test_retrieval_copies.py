"""A corpus holding one passage under several ids: every copy of a positive is a right answer, scored as one
passage, and never mined as a negative."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from hone.retrieval.mining import mine_hard_negatives
from hone.tasks.embed import EmbedTask
from hone.tasks.embed_schema import CorpusDoc, PairExample
from hone.tasks.rerank import RerankExample, RerankTask

CORPUS = [
    CorpusDoc("a", "reset your password from the login page"),
    CorpusDoc("b", "reset your password from the login page"),  # the same passage, stored twice
    CorpusDoc("c", "invoices are sent on the first of the month"),
    CorpusDoc("d", "reset your password from the login page"),
]


def _pair(query: str, positive: str) -> PairExample:
    return PairExample(query, positive, (), "test.jsonl", 1)


def test_embed_gold_holds_every_copy_and_a_copy_counts_as_the_positive_once() -> None:
    task = EmbedTask(corpus=list(CORPUS))
    examples = [_pair("forgot password", CORPUS[0].text), _pair("when is my invoice", CORPUS[2].text)]
    assert task.gold(examples) == [{"a", "b", "d"}, {"c"}]
    found_copy = task.metrics(task.gold(examples), [["d", "c"], ["c", "a"]])["metrics"]
    assert found_copy["recall@1"] == 1.0 and found_copy["ndcg@10"] == 1.0  # d is as right as a
    second = task.metrics(task.gold(examples[:1]), [["c", "b", "a", "d"]])["metrics"]
    assert math.isclose(second["ndcg@10"], 1 / math.log2(3)) and second["mrr@10"] == 0.5  # three copies, one passage
    assert math.isclose(task.score(task.gold(examples[:1]), [["c", "b"]]), 1 / math.log2(3))


def test_rerank_gold_holds_every_copy_of_a_relevant_passage() -> None:
    task = RerankTask(corpus=list(CORPUS))
    examples = [
        RerankExample("forgot password", CORPUS[1].text, 1.0, "test.jsonl", 1),
        RerankExample("forgot password", CORPUS[2].text, 0.0, "test.jsonl", 2),
    ]
    gold = task.gold(examples)
    assert gold[0] == ("forgot password", frozenset({"a", "b", "d"}))
    assert task.metrics(gold, [["d", "c"], ["d", "c"]])["metrics"]["recall@1"] == 1.0


def test_a_copy_of_the_positive_is_never_mined_as_a_negative() -> None:
    query = np.array([[1.0, 0.0]])
    docs = np.array([[0.8, 0.6], [0.8, 0.6], [0.6, 0.8], [0.0, 1.0]])
    ids = ["positive", "copy", "other", "far"]
    # a negative margin would keep anything scoring up to 0.9: the copy (0.8) too, were it not a positive
    assert mine_hard_negatives(query, docs, ids, [{"positive", "copy"}], k=3, margin=-0.1) == [["other", "far"]]
    assert mine_hard_negatives(query, docs, ids, ["positive"], k=3, margin=-0.1) == [["copy", "other", "far"]]


def test_mining_with_the_base_model_skips_the_copies_in_the_corpus(
    tmp_path: Path, tiny_encoder: Path, monkeypatch
) -> None:
    import hone
    from hone.pipeline import prepare
    from hone.pipeline.steps import training_examples

    passages = [f"topic {i} passage about item {i} and its care" for i in range(12)]
    rows = [{"query": f"how to care for item {i}", "positive": passages[i]} for i in range(12) for _ in range(2)]
    rows = [{**r, "query": f"{r['query']} ({j})"} for j, r in enumerate(rows)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = [{"id": f"{i}-{copy}", "text": text} for i, text in enumerate(passages) for copy in range(3)]
    (tmp_path / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    cfg = hone.load_config(
        {
            "task": "embed",
            "name": "copies",
            "runs_dir": str(tmp_path / "runs"),
            "data": {
                "train": str(tmp_path / "pairs.jsonl"),
                "corpus": str(tmp_path / "corpus.jsonl"),
                "max_length": 32,
            },
            "model": {"name": str(tiny_encoder), "method": "full"},
            "embed": {"hard_negatives": 4, "mining_margin": 0.0},
        }
    )
    real = EmbedTask.vectors
    rng = np.random.default_rng(0)

    def blurred(self, *args, **kwargs):  # copies embedded in different batches differ in the last digits
        vectors = real(self, *args, **kwargs)
        return vectors + rng.normal(0, 1e-3, vectors.shape).astype(np.float32)

    monkeypatch.setattr(EmbedTask, "vectors", blurred)
    mined = training_examples(prepare(cfg))
    assert all(len(ex.negatives) == 4 for ex in mined)
    assert not any(ex.positive in ex.negatives for ex in mined)
