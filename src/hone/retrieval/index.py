"""Cosine-similarity search over embeddings with faiss, saved without pickle, and a JSONL export.

Vectors are L2-normalised and searched by inner product, so scores are cosine similarities in
[-1, 1] (a zero vector scores 0 against everything). Below `exact_below` vectors the index is
exact (`IndexFlatIP`); above it, an HNSW graph (M=32, efSearch=128), which answers in
milliseconds at millions of vectors at the cost of a little recall. A saved index is a folder
holding `index.faiss` (faiss's own format) and `ids.json`.

`export_jsonl` writes `{"id", "text", "vector"}` lines for the ingest scripts of external vector
stores (OpenSearch bulk, Qdrant upsert) when the corpus outgrows one process.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

EXACT_BELOW = 50_000
HNSW_M = 32  # graph neighbours per vector: recall vs memory
HNSW_EF_CONSTRUCTION = 200  # candidates while building: a better graph for a one-off cost
HNSW_EF_SEARCH = 128  # candidates while searching: recall vs latency
INDEX_FILE = "index.faiss"
IDS_FILE = "ids.json"
DECIMALS = 6


class VectorIndex:
    """Document ids and a faiss index of their normalised vectors; search returns ids, best first."""

    def __init__(self, index: faiss.Index, ids: Sequence[str]) -> None:
        if index.ntotal != len(ids):
            raise ValueError(f"the faiss index holds {index.ntotal} vectors but {len(ids)} ids were given")
        self.index = index
        self.ids = list(ids)

    @property
    def kind(self) -> str:
        """ "hnsw" for the approximate graph index, "flat" for exact search."""
        return "hnsw" if isinstance(self.index, faiss.IndexHNSW) else "flat"

    @property
    def dim(self) -> int:
        return int(self.index.d)

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def build(cls, vectors: np.ndarray, ids: Sequence[str], exact_below: int = EXACT_BELOW) -> VectorIndex:
        """Index `vectors` (n, d) under `ids`: exact below `exact_below` vectors, HNSW from there on."""
        matrix = unit_rows(vectors, "vectors")
        _check_ids(ids, len(matrix))
        n, d = matrix.shape
        if n < exact_below:
            index: faiss.Index = faiss.IndexFlatIP(d)
        else:
            index = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            index.hnsw.efSearch = HNSW_EF_SEARCH
        index.add(matrix)
        return cls(index, ids)

    def search(self, queries: np.ndarray, k: int) -> tuple[list[list[str]], np.ndarray]:
        """The ids of the `k` most similar vectors per query row, best first, and their cosine scores.

        Scores have shape (m, min(k, len(self))); a row with fewer hits than columns (possible
        with HNSW) has shorter ids and -inf in the unused score columns.
        """
        if k < 1:
            raise ValueError(f"k={k}: ask for at least one result per query")
        matrix = unit_rows(queries, "queries")
        if matrix.shape[1] != self.dim:
            raise ValueError(
                f"queries have {matrix.shape[1]} dimensions but the index holds {self.dim}-dimensional "
                "vectors; embed the queries with the model that embedded the documents"
            )
        scores, rows = self.index.search(matrix, min(k, len(self)))
        ids = [[self.ids[j] for j in row if j >= 0] for row in rows]
        return ids, np.where(rows >= 0, scores, -np.inf).astype(np.float32)

    def save(self, folder: Path) -> None:
        """Write `index.faiss` and `ids.json` into `folder` (created if needed); ids last, as the marker."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(folder / INDEX_FILE))
        meta = {"kind": self.kind, "dim": self.dim, "count": len(self), "metric": "cosine", "ids": self.ids}
        _write_atomic(folder / IDS_FILE, json.dumps(meta, ensure_ascii=False))

    @classmethod
    def load(cls, folder: Path) -> VectorIndex:
        """The index `save` wrote into `folder`."""
        folder = Path(folder)
        missing = [name for name in (INDEX_FILE, IDS_FILE) if not (folder / name).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder} has no {' or '.join(missing)}; point at a folder VectorIndex.save wrote")
        meta = json.loads((folder / IDS_FILE).read_text(encoding="utf-8"))
        index = faiss.read_index(str(folder / INDEX_FILE))
        if isinstance(index, faiss.IndexHNSW):
            index.hnsw.efSearch = HNSW_EF_SEARCH
        if index.ntotal != len(meta["ids"]):
            raise ValueError(
                f"{folder}: {INDEX_FILE} holds {index.ntotal} vectors but {IDS_FILE} {len(meta['ids'])} ids; "
                "the files are from different saves — save the index again"
            )
        return cls(index, meta["ids"])


def unit_rows(vectors: np.ndarray, name: str) -> np.ndarray:
    """A C-contiguous float32 copy of a 2-D array with every non-zero row scaled to unit length."""
    matrix = np.array(vectors, dtype=np.float32, order="C", copy=True)
    if matrix.ndim != 2 or matrix.shape[0] == 0 or matrix.shape[1] == 0:
        raise ValueError(f"{name} must be a non-empty 2-D array (count, dimensions), got shape {matrix.shape}")
    bad = np.flatnonzero(~np.isfinite(matrix).all(axis=1))
    if bad.size:
        raise ValueError(f"{name} rows {bad[:10].tolist()} hold NaN or infinity; check the embedding step")
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)
    return matrix


def _check_ids(ids: Sequence[str], n: int) -> None:
    if len(ids) != n:
        raise ValueError(f"{n} vectors but {len(ids)} ids; give one id per vector row")
    if len(set(ids)) != n:
        raise ValueError("ids repeat; give every vector its own id (deduplicate the corpus first)")


def _write_atomic(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


# --- export -----------------------------------------------------------------------------------


def export_jsonl(
    path: Path, ids: Iterable[str], texts: Iterable[str], vectors: Iterable[Sequence[float]] | np.ndarray
) -> int:
    """Stream one `{"id", "text", "vector"}` line per document to `path`; return how many were written.

    Vectors are written as given (not normalised), each float rounded to 6 decimals. The file
    appears only once complete: it is written beside `path` and renamed at the end.
    """
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    try:
        count = _write_rows(temporary, ids, texts, vectors)
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)  # only left when writing failed
    return count


def _write_rows(
    temporary: Path, ids: Iterable[str], texts: Iterable[str], vectors: Iterable[Sequence[float]] | np.ndarray
) -> int:
    count = 0
    with temporary.open("w", encoding="utf-8") as f:
        try:
            for doc_id, text, vector in zip(ids, texts, vectors, strict=True):
                f.write(json.dumps(_export_row(doc_id, text, vector), ensure_ascii=False) + "\n")
                count += 1
        except ValueError as e:  # zip's length mismatch or a bad vector
            raise ValueError(f"export stopped at document {count + 1}: {e}; give one id, text and vector each") from e
    return count


def _export_row(doc_id: str, text: str, vector: Sequence[float] | np.ndarray) -> dict[str, Any]:
    row = np.asarray(vector, dtype=np.float64)
    if row.ndim != 1 or not np.isfinite(row).all():
        raise ValueError(f"the vector of {doc_id!r} must be one row of finite numbers (got shape {row.shape})")
    return {"id": doc_id, "text": text, "vector": np.round(row, DECIMALS).tolist()}
