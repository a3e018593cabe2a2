"""The embed task through the pipeline on a tiny random encoder, and sentence-transformers parity."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import hone

TOPICS = {
    "invoice": "billing invoice charge card payment money",
    "delivery": "shipping order delivery package late address",
    "login": "account password login email reset",
}


def _pairs(n: int, seed: int = 0) -> list[dict]:
    """A query and a passage sharing a topic and a number: the number pins the one right passage."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        topic = list(TOPICS)[i % 3]
        words = TOPICS[topic].split()
        query = f"{rng.choice(words)} {rng.choice(words)} {i}"
        passage = f"{topic} {' '.join(rng.sample(words, 3))} case {i} help"
        rows.append({"query": query, "positive": passage})
    return rows


@pytest.fixture
def embed_config(tmp_path: Path, tiny_encoder: Path) -> dict:
    data = tmp_path / "pairs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _pairs(150)))
    return {
        "task": "embed",
        "name": "emb",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"epochs": 6, "batch_size": 16, "lr": 3e-3, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 100},
    }


def test_embed_end_to_end_beats_the_untuned_base(embed_config: dict) -> None:
    cfg = hone.load_config(embed_config)
    base = hone.baseline(cfg)
    assert set(base["baselines"]) == {"bm25", "base"} and base["primary_metric"] == "ndcg@10"
    run = hone.train(cfg, progress=False)
    ev = hone.evaluate(run)
    assert {"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"} <= set(ev["metrics"])
    assert ev["metrics"]["ndcg@10"] > base["baselines"]["base"]["metrics"]["ndcg@10"] + 0.1
    assert ev["verdict"] in Path(hone.report(run)).read_text()


def test_saved_model_loads_in_sentence_transformers_with_the_same_vectors(embed_config: dict) -> None:
    from sentence_transformers import SentenceTransformer

    embed_config["train"]["max_steps"] = 5
    run = hone.train(hone.load_config(embed_config), progress=False)
    texts = ["where is my package 7", "reset my password please"]
    loaded = run.predictor().loaded
    ours = loaded.task.vectors(loaded.model, loaded.tokenizer, texts, batch_size=8)
    theirs = SentenceTransformer(str(run.path / "model"), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(ours, theirs, atol=1e-5)


def test_lora_embedder_is_saved_merged_and_loads_in_sentence_transformers(embed_config: dict) -> None:
    from sentence_transformers import SentenceTransformer

    embed_config["model"]["method"] = "lora"
    embed_config["train"].update(max_steps=6, lr=1e-2)
    run = hone.train(hone.load_config(embed_config), progress=False)
    assert not (run.path / "model" / "adapter_config.json").exists()
    texts = ["invoice charge 3", "password reset 9"]
    loaded = run.predictor().loaded
    ours = loaded.task.vectors(loaded.model, loaded.tokenizer, texts, batch_size=8)
    theirs = SentenceTransformer(str(run.path / "model"), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(ours, theirs, atol=1e-5)
    base = SentenceTransformer(embed_config["model"]["name"], device="cpu").encode(texts, normalize_embeddings=True)
    assert not np.allclose(ours, base, atol=1e-3), "LoRA training changed nothing"


def test_hard_negatives_mined_with_the_base_model_reach_training(embed_config: dict, monkeypatch) -> None:
    from hone.tasks.embed import EmbedTask

    seen = {}
    real = EmbedTask.encode

    def spy(self, examples, tokenizer):
        seen["negatives"] = [len(ex.negatives) for ex in examples]
        seen["positive_kept_out"] = all(ex.positive not in ex.negatives for ex in examples)
        return real(self, examples, tokenizer)

    monkeypatch.setattr(EmbedTask, "encode", spy)
    embed_config["embed"] = {"hard_negatives": 2, "mining_margin": 0.0}
    embed_config["train"]["max_steps"] = 2
    hone.train(hone.load_config(embed_config), progress=False)
    assert seen["negatives"] and min(seen["negatives"]) >= 1 and max(seen["negatives"]) <= 2
    assert seen["positive_kept_out"]


def test_export_embeddings_writes_the_corpus_vectors(embed_config: dict, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hone.cli import app

    embed_config["train"]["max_steps"] = 2
    run = hone.train(hone.load_config(embed_config), progress=False)
    out = tmp_path / "vectors"
    result = CliRunner().invoke(app, ["export", str(run.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (out / "vectors.jsonl").read_text().splitlines()]
    assert len(rows) == 150 and {"id", "payload", "vector"} == set(rows[0]) and len(rows[0]["vector"]) == 32
    bad = CliRunner().invoke(app, ["export", str(run.path), "--out", str(out), "--target", "tflite"])
    assert bad.exit_code == 2 and "choose embeddings" in bad.output


def test_the_corpus_is_embedded_once_per_model_state(embed_config: dict, monkeypatch) -> None:
    """Dev evaluations embed the corpus once each (the weights differ); the test evaluation of the best weights
    finds that index, and its one-query latency probes search it instead of embedding the corpus again."""
    from hone.tasks import corpus_index
    from hone.tasks.embed import EmbedTask

    corpus_index.forget()
    calls: list[int] = []  # texts per call; -1 for a call on the whole corpus
    real = EmbedTask.vectors

    def spy(self, model, tokenizer, texts, batch_size, autocast=None):
        whole = len(texts) == len(self.corpus) and list(texts) == [d.text for d in self.corpus]
        calls.append(-1 if whole else len(texts))
        return real(self, model, tokenizer, texts, batch_size, autocast)

    monkeypatch.setattr(EmbedTask, "vectors", spy)
    embed_config["train"].update(epochs=2, patience=None)
    run = hone.train(hone.load_config(embed_config), progress=False)
    assert calls.count(-1) == 2  # two dev evaluations, two model states
    calls.clear()
    ev = hone.evaluate(run)
    assert calls.count(-1) == 0  # the best weights were indexed at their dev evaluation
    probes = calls.index(ev["n"]) + 1  # after the test queries, all at once: ten one-query latency probes
    assert calls[probes : probes + 10] == [1] * 10 and ev["cost"]["tuned"]["latency_ms"] > 0

    corpus_index.forget()  # a new process: the test evaluation indexes the corpus once, not once per call
    calls.clear()
    run._predictor = None
    hone.evaluate(run)
    assert calls.count(-1) == 1 and calls[calls.index(-1) + 1 : calls.index(-1) + 12] == [ev["n"]] + [1] * 10
