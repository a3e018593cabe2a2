"""Slow tier: the locations chain on the bundled MiniLM — each step beats its baselines, and the tuned
chain links more mentions to the right gazetteer entry than the untuned one. Margins, not exact floats."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

import hone

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "locations"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[hone.Run, dict, dict]]:
    runs = tmp_path_factory.mktemp("runs")
    out = {}
    for step in ("ner", "embed", "rerank"):
        cfg = hone.load_config(EXAMPLE / f"{step}.yaml", [f"runs_dir={runs}"])
        base = hone.baseline(cfg)
        run = hone.train(cfg, progress=False)
        out[step] = (run, base, hone.evaluate(run))
    return out


def test_ner_beats_the_gazetteer(trained: dict) -> None:
    _, base, ev = trained["ner"]
    # Measured here: F1 0.96 vs gazetteer 0.51 (over half the test place names are unseen in train).
    assert ev["comparison"]["better"] and ev["metrics"]["f1"] > base["baselines"]["gazetteer"]["metrics"]["f1"] + 0.2
    assert set(ev["per_type"]) == {"LOC", "ORG"}


def test_embed_beats_bm25_and_the_base_model(trained: dict) -> None:
    _, base, ev = trained["embed"]
    # Measured here: nDCG@10 0.96 vs BM25 0.80 and base MiniLM 0.76.
    for name in ("bm25", "base"):
        assert ev["metrics"]["ndcg@10"] > base["baselines"][name]["metrics"]["ndcg@10"] + 0.05, name
    assert ev["comparison"]["better"]


def test_rerank_beats_the_retriever_order(trained: dict) -> None:
    _, base, ev = trained["rerank"]
    # Measured here: nDCG@10 0.87 after reranking BM25's top 20 vs 0.81 before.
    assert ev["metrics"]["ndcg@10"] > base["baselines"]["retriever"]["metrics"]["ndcg@10"] + 0.02
    assert ev["comparison"]["better"]


def test_tuned_chain_links_more_mentions_than_the_untuned_chain(trained: dict) -> None:
    from hone.pipelines import EntityLinker, linking_accuracy

    spec = importlib.util.spec_from_file_location("chain", EXAMPLE / "chain.py")
    chain = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(chain)
    texts, gold = chain.gold_links(EXAMPLE / "ner_test.jsonl")
    corpus = EXAMPLE / "gazetteer_corpus.jsonl"
    ner, embed, rerank = (trained[s][0].path for s in ("ner", "embed", "rerank"))
    untuned = linking_accuracy(chain.untuned_chain(corpus).link(texts), gold)
    two_steps = linking_accuracy(EntityLinker.from_runs(ner, embed, None, corpus).link(texts), gold)
    three_steps = linking_accuracy(EntityLinker.from_runs(ner, embed, rerank, corpus).link(texts), gold)
    # Measured here: untuned 0.23, NER + embed 0.88, with the reranker 0.59 (it was trained on BM25's
    # candidates and is weaker than the tuned embedder on the embedder's own candidates).
    assert two_steps > untuned + 0.4, (two_steps, untuned)
    assert three_steps > untuned + 0.15, (three_steps, untuned)
