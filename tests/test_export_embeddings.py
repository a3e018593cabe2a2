"""The embeddings export loads, as written, into Qdrant (local mode) and LanceDB through their own clients, and
their searches find what hone's own index finds."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.export.embeddings import ID_NAMESPACE, point_id

TOPICS = {
    "invoice": "billing invoice charge card payment money",
    "delivery": "shipping order delivery package late address",
    "login": "account password login email reset",
}


@pytest.fixture(scope="module")
def embed_export(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> tuple[Path, Path]:
    """A tiny embed run (2 steps) whose corpus ids are free strings, as users write them, and its export."""
    root = tmp_path_factory.mktemp("embed-export")
    corpus = [
        {"id": f"G{i:04d}", "text": f"{t} {' '.join(w.split()[i % 3 :][:3])} case {i}"}
        for i, (t, w) in enumerate(list(TOPICS.items()) * 10)
    ]
    pairs = [{"query": f"{d['text'].split()[1]} {i}", "positive": d["text"]} for i, d in enumerate(corpus)]
    (root / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (root / "pairs.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    config = {
        "task": "embed",
        "name": "emb",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(root / "pairs.jsonl"), "corpus": str(root / "corpus.jsonl"), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"max_steps": 2, "batch_size": 8, "precision": "fp32", "patience": None},
    }
    run = hone.train(hone.load_config(config), progress=False)
    out = root / "vectors"
    result = CliRunner().invoke(app, ["export", str(run.path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "30 chunk(s), 32 dimensions" in result.output
    return run.path, out


def _rows(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "vectors.jsonl").read_text().splitlines()]


def _query_vector(run: Path, text: str) -> list[float]:
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(run / "model"), device="cpu").encode([text], normalize_embeddings=True)[0].tolist()


def _hone_top(rows: list[dict], query: list[float], k: int) -> list[str]:
    from hone.retrieval.index import VectorIndex

    index = VectorIndex.build(np.array([r["vector"] for r in rows]), [r["payload"]["doc_id"] for r in rows])
    return index.search(np.array([query]), k)[0][0]


def test_manifest_and_points_describe_themselves(embed_export: tuple[Path, Path]) -> None:
    run, out = embed_export
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["count"] == 30 and manifest["dimension"] == 32
    assert manifest["normalized"] is True and manifest["distance"] == "cosine"
    assert manifest["model"]["run"] == "emb" and manifest["model"]["base_model_hub_id"] is None  # a local folder
    rows = _rows(out)
    first = rows[0]
    assert set(first) == {"id", "vector", "payload"} and first["payload"]["doc_id"] == "G0000"
    assert first["id"] == str(uuid.uuid5(uuid.UUID(manifest["ids"]["namespace"]), "G0000")) == point_id("G0000")
    assert uuid.UUID(manifest["ids"]["namespace"]) == ID_NAMESPACE
    norms = np.linalg.norm(np.array([r["vector"] for r in rows]), axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5)
    assert "QdrantClient" in (out / "README.md").read_text()


def test_qdrant_local_mode_loads_the_export_as_written(embed_export: tuple[Path, Path], tmp_path: Path) -> None:
    from qdrant_client import QdrantClient, models

    run, out = embed_export
    manifest = json.loads((out / "manifest.json").read_text())
    points = [models.PointStruct(**json.loads(line)) for line in (out / "vectors.jsonl").open()]  # the README's lines
    client = QdrantClient(path=str(tmp_path / "qdrant"))
    client.create_collection(
        "docs", vectors_config=models.VectorParams(size=manifest["dimension"], distance=models.Distance.COSINE)
    )
    client.upload_points("docs", points, wait=True)
    assert client.count("docs").count == 30
    query = _query_vector(run, "card payment 4")
    hits = client.query_points("docs", query=query, limit=5).points
    assert [h.payload["doc_id"] for h in hits] == _hone_top(_rows(out), query, 5)
    assert str(hits[0].id) == point_id(hits[0].payload["doc_id"])
    client.close()


def test_lancedb_loads_the_export_as_written(embed_export: tuple[Path, Path], tmp_path: Path) -> None:
    import lancedb

    run, out = embed_export
    rows = [{"id": p["id"], "vector": p["vector"], **p["payload"]} for p in _rows(out)]  # the README's lines
    table = lancedb.connect(str(tmp_path / "lance")).create_table("docs", data=rows)
    assert table.count_rows() == 30
    query = _query_vector(run, "password reset 7")
    found = table.search(query).distance_type("cosine").limit(5).to_list()
    assert [r["doc_id"] for r in found] == _hone_top(_rows(out), query, 5)
    assert found[0]["id"] == point_id(found[0]["doc_id"]) and found[0]["text"].startswith("login")


def test_export_refuses_a_jsonl_path_and_other_tasks(embed_export: tuple[Path, Path], tmp_path: Path) -> None:
    run, _ = embed_export
    bad = CliRunner().invoke(app, ["export", str(run), "--out", str(tmp_path / "vectors.jsonl")])
    assert bad.exit_code != 0 and "is a folder" in bad.output and not (tmp_path / "vectors.jsonl").exists()
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("mine")
    bad = CliRunner().invoke(app, ["export", str(run), "--out", str(taken)])
    assert bad.exit_code != 0 and "other files" in bad.output and (taken / "notes.txt").read_text() == "mine"
