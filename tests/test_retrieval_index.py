"""VectorIndex: exact search equals brute force, HNSW keeps recall, saves round-trip; the JSONL export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hone.retrieval.index import VectorIndex, export_jsonl


def random_vectors(n: int, d: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def brute_force(docs: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and cosine scores of the k most similar docs, by numpy alone."""
    unit_docs = docs / np.linalg.norm(docs, axis=1, keepdims=True)
    unit_queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    scores = unit_queries @ unit_docs.T
    top = np.argsort(-scores, axis=1)[:, :k]
    return top, np.take_along_axis(scores, top, axis=1)


def ids_of(n: int) -> list[str]:
    return [f"doc-{i}" for i in range(n)]


def test_exact_search_returns_the_true_nearest_neighbours() -> None:
    docs, queries = random_vectors(500, 16, seed=0) * 3.0, random_vectors(40, 16, seed=1)
    index = VectorIndex.build(docs, ids_of(500))
    found, scores = index.search(queries, 7)
    top, expected = brute_force(docs, queries, 7)
    assert index.kind == "flat" and len(index) == 500 and index.dim == 16
    assert found == [[f"doc-{j}" for j in row] for row in top]
    np.testing.assert_allclose(scores, expected, atol=1e-5)


def test_hnsw_recall_at_10_against_exact_search() -> None:
    docs, queries = random_vectors(5000, 32, seed=2), random_vectors(200, 32, seed=3)
    approximate = VectorIndex.build(docs, ids_of(5000), exact_below=1000)
    exact = VectorIndex.build(docs, ids_of(5000))
    assert (approximate.kind, exact.kind) == ("hnsw", "flat")
    found, _ = approximate.search(queries, 10)
    truth, _ = exact.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, truth, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("exact_below", [50_000, 100])
def test_save_and_load_give_identical_results(tmp_path: Path, exact_below: int) -> None:
    docs, queries = random_vectors(300, 8, seed=4), random_vectors(20, 8, seed=5)
    index = VectorIndex.build(docs, ids_of(300), exact_below=exact_below)
    index.save(tmp_path / "index")
    loaded = VectorIndex.load(tmp_path / "index")
    assert loaded.ids == index.ids and loaded.kind == index.kind
    before, after = index.search(queries, 5), loaded.search(queries, 5)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])
    assert json.loads((tmp_path / "index" / "ids.json").read_text())["count"] == 300


def test_k_larger_than_the_index_and_zero_vectors() -> None:
    docs = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], dtype=np.float32)
    found, scores = VectorIndex.build(docs, ["x", "y", "zero"]).search(np.array([[3.0, 0.0]]), 10)
    assert found == [["x", "y", "zero"]] or found == [["x", "zero", "y"]]  # y and zero both score 0
    np.testing.assert_allclose(scores, [[1.0, 0.0, 0.0]], atol=1e-6)


@pytest.mark.parametrize(
    ("vectors", "ids", "match"),
    [
        (np.zeros((2, 3)), ["a"], "2 vectors but 1 ids"),
        (np.zeros((2, 3)), ["a", "a"], "ids repeat"),
        (np.zeros(3), ["a"], "2-D array"),
        (np.array([[1.0, np.nan]]), ["a"], r"rows \[0\] hold NaN"),
    ],
)
def test_build_rejects_bad_input(vectors: np.ndarray, ids: list[str], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        VectorIndex.build(vectors, ids)


def test_search_rejects_queries_of_another_dimension_and_load_a_wrong_folder(tmp_path: Path) -> None:
    index = VectorIndex.build(random_vectors(5, 4, seed=6), ids_of(5))
    with pytest.raises(ValueError, match="3 dimensions but the index holds 4"):
        index.search(random_vectors(1, 3, seed=7), 2)
    with pytest.raises(FileNotFoundError, match="index.faiss or ids.json"):
        VectorIndex.load(tmp_path)


def test_export_jsonl_streams_rounded_rows(tmp_path: Path) -> None:
    path = tmp_path / "vectors.jsonl"
    vectors = (v for v in np.array([[0.12345678, -1.0], [2.0, 1e-9]], dtype=np.float32))  # a generator: streamed
    assert export_jsonl(path, ["a", "b"], ["alpha", "bêta"], vectors) == 2
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert rows == [
        {"id": "a", "text": "alpha", "vector": [0.123457, -1.0]},
        {"id": "b", "text": "bêta", "vector": [2.0, 0.0]},
    ]


def test_export_jsonl_leaves_no_file_when_inputs_disagree(tmp_path: Path) -> None:
    path = tmp_path / "vectors.jsonl"
    with pytest.raises(ValueError, match="export stopped at document 2"):
        export_jsonl(path, ["a", "b"], ["alpha"], np.ones((2, 2)))
    with pytest.raises(ValueError, match="'b' must be one row of finite numbers"):
        export_jsonl(path, ["a", "b"], ["alpha", "beta"], np.array([[1.0], [np.inf]]))
    assert list(tmp_path.iterdir()) == []
