"""The rerank task on a tiny random encoder: BM25 candidates reordered by a trained cross-encoder."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import hone

TOPICS = {
    "invoice": "billing invoice charge card payment money",
    "delivery": "shipping order delivery package late address",
    "login": "account password login email reset",
}


def _rows(n_queries: int, seed: int = 0) -> list[dict]:
    """Distractors repeat the query's words (BM25 favours them); only the right passage names its topic."""
    rng = random.Random(seed)
    rows = []
    for i in range(n_queries):
        topic = list(TOPICS)[i % 3]
        asked = rng.sample(TOPICS[topic].split()[1:], 2)
        query = f"{' '.join(asked)} {i}"
        rows.append({"query": query, "passage": f"{TOPICS[topic].split()[0]} answer resolved {i}", "label": 1})
        for j in (1, 2):
            other = TOPICS[list(TOPICS)[(i + j) % 3]].split()[0]
            rows.append({"query": query, "passage": f"{other} note {' '.join(asked)} {i}", "label": 0})
    return rows


@pytest.fixture
def rerank_config(tmp_path: Path, tiny_encoder: Path) -> dict:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(90)))
    return {
        "task": "rerank",
        "name": "rr",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 48},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "rerank": {"top_k": 10},
        "train": {"epochs": 5, "batch_size": 16, "lr": 3e-3, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 100},
    }


def test_rerank_end_to_end_improves_on_the_retriever_order(rerank_config: dict) -> None:
    cfg = hone.load_config(rerank_config)
    result = hone.check(cfg)
    test_queries = {ex.query for ex in result.splits["test"]}
    train_queries = {ex.query for ex in result.splits["train"]}
    assert test_queries and not test_queries & train_queries, "one query's pairs must stay in one split"
    base = hone.baseline(cfg)
    assert set(base["baselines"]) == {"retriever"} and base["primary_metric"] == "ndcg@10"
    run = hone.train(cfg, progress=False)
    ev = hone.evaluate(run)
    assert ev["metrics"]["queries"] == len(test_queries)
    assert ev["metrics"]["mrr@10"] > base["baselines"]["retriever"]["metrics"]["mrr@10"]
    assert ev["verdict"] in Path(hone.report(run)).read_text()


def test_bad_labels_are_reported_with_lines(tmp_path: Path, rerank_config: dict) -> None:
    data = Path(rerank_config["data"]["train"])
    n = len(data.read_text().splitlines())
    with data.open("a") as fh:
        fh.write('{"query": "q", "passage": "p", "label": "yes"}\n{"query": "q", "label": 1}\n')
    result = hone.check(hone.load_config(rerank_config))
    assert [(p.line, p.category) for p in result.errors()] == [(n + 1, "wrong_type"), (n + 2, "missing_field")]


def test_an_embed_run_can_be_the_first_stage(
    rerank_config: dict, tmp_path: Path, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hone.tasks import corpus_index
    from hone.tasks.embed import EmbedTask

    pairs = tmp_path / "pairs_embed.jsonl"
    rows = [json.loads(line) for line in Path(rerank_config["data"]["train"]).read_text().splitlines()]
    pairs.write_text(
        "".join(json.dumps({"query": r["query"], "positive": r["passage"]}) + "\n" for r in rows if r["label"])
    )
    embed = {
        "task": "embed",
        "name": "first-stage",
        "runs_dir": rerank_config["runs_dir"],
        "data": {"train": str(pairs), "max_length": 32},
        "model": {"name": str(tiny_encoder)},
        "train": {"max_steps": 3, "batch_size": 16, "precision": "fp32"},
    }
    embed_run = hone.train(hone.load_config(embed), progress=False)
    corpus_index.forget()
    whole_corpus = []
    real = EmbedTask.vectors

    def spy(self, model, tokenizer, texts, batch_size, autocast=None):
        whole_corpus.append(list(texts) == [d.text for d in self.corpus])
        return real(self, model, tokenizer, texts, batch_size, autocast)

    monkeypatch.setattr(EmbedTask, "vectors", spy)
    rerank_config["rerank"] = {"retriever": str(embed_run.path), "top_k": 5}
    rerank_config["train"]["max_steps"] = 3
    cfg = hone.load_config(rerank_config)
    base = hone.baseline(cfg)
    candidates = base["baselines"]["retriever"]["predictions"]
    assert candidates and all(1 <= len(c) <= 5 for c in candidates)
    run = hone.train(cfg, progress=False)
    assert hone.evaluate(run)["metrics"]["queries"] > 0
    # one first-stage model, one corpus: embedded once for the baseline, dev evaluations, test and latency probes
    assert sum(whole_corpus) == 1
    rerank_config["rerank"]["retriever"] = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="not `bm25` and not a trained embed run"):
        hone.baseline(hone.load_config({**rerank_config, "name": "rr2"}))


def test_mined_negatives_are_the_first_stages_own_candidates(rerank_config: dict) -> None:
    """`rerank.mined_negatives`: each query with a relevant passage gains that many non-relevant pairs, taken in
    the first stage's order, skipping its relevant passages (and their copies) and pairs the data already gives;
    training sees them (`training_examples`)."""
    from hone.pipeline.steps import prepare, training_examples
    from hone.tasks.embed_schema import CorpusDoc
    from hone.tasks.rerank import mine_candidates

    rerank_config["rerank"]["mined_negatives"] = 3
    cfg = hone.load_config(rerank_config)
    prepared = prepare(cfg)
    train = list(prepared.splits["train"])
    task = prepared.task
    # a copy of a relevant passage under another id is still relevant: it must never come back as a negative
    first_query = next(ex for ex in train if ex.label > 0)
    task.corpus.append(CorpusDoc("copy-of-positive", first_query.passage))
    task._first_stage = None
    mined = mine_candidates(cfg, "", task, train)[len(train) :]
    queries = list(dict.fromkeys(ex.query for ex in train if ex.label > 0))
    assert len(mined) == 3 * len(queries)
    assert all(m.label == 0.0 and m.source == "mined:bm25" for m in mined)
    text = {doc.id: doc.text for doc in task.corpus}
    for query, ranking in zip(queries, task.candidates(queries), strict=True):
        given = {ex.passage for ex in train if ex.query == query}
        relevant = {ex.passage for ex in train if ex.query == query and ex.label > 0}
        expected = [text[d] for d in ranking if text[d] not in given][:3]
        assert [m.passage for m in mined if m.query == query] == expected
        assert not relevant & set(expected)
    # off by default; and the pipeline's training examples carry them when it is set
    assert mine_candidates(hone.load_config({**rerank_config, "rerank": {"top_k": 10}}), "", task, train) == train
    assert len(training_examples(prepared)) == len(train) + len(mined)
