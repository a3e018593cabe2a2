"""Export an embed run's corpus, embedded by the tuned model, as a folder vector stores load as written.

The folder holds `vectors.jsonl`, one point per document in the shape Qdrant's `PointStruct` takes
(`{"id": <UUID>, "vector": [...], "payload": {"doc_id": <hone id>, "text": ...}}`), `manifest.json`
(model, dimension, normalisation, distance, the id scheme, counts) and a README with the commands that load
it into Qdrant and LanceDB. Point ids are UUIDs because vector stores take UUIDs or integers, never free
strings: each is `uuid5(namespace, doc_id)`, so the same document always gets the same point id and a
user can compute it from their own id (the namespace is in the manifest); the original id is in the payload.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from hone.grammar import article

VECTORS_FILE = "vectors.jsonl"
MANIFEST_FILE = "manifest.json"
FORMAT = "hone-embeddings/1"
# Fixed forever: changing it would give every exported document a new point id.
ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://hone.invalid/embeddings/doc-id")


def point_id(doc_id: str) -> str:
    """The UUID a document with hone id `doc_id` is stored under (deterministic)."""
    return str(uuid.uuid5(ID_NAMESPACE, doc_id))


def export_embeddings(run_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Embed the run's corpus with its tuned model and write `out/` (vectors.jsonl, manifest.json, README.md).

    Returns the manifest, with "path". An `out` that is a file, or a folder holding anything but an earlier
    export, is refused before any work.
    """
    from hone.export.staging import staged
    from hone.pipeline import Run, prepare

    out = Path(out)
    if out.suffix == ".jsonl":
        raise ValueError(
            f"--out {out}: the embeddings export is a folder (vectors.jsonl, manifest.json, README.md); "
            f"give a folder such as {out.with_suffix('')}"
        )
    run = Run(Path(run_dir))
    prepared = prepare(run.config)
    if not hasattr(prepared.task, "vectors"):
        raise ValueError(f"{run.path} is {article(prepared.task.name)} run; the embeddings export needs an embed run")
    loaded = run.predictor(task=prepared.task).loaded
    corpus = prepared.task.corpus
    texts = [d.text for d in corpus]
    vectors = prepared.task.vectors(loaded.model, loaded.tokenizer, texts, prepared.config.eval.batch_size)
    manifest = build_manifest(run, loaded.meta, vectors)
    with staged(out, marker=MANIFEST_FILE) as tmp:
        write_points(tmp / VECTORS_FILE, [d.id for d in corpus], texts, vectors)
        (tmp / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
        (tmp / "README.md").write_text(_readme(manifest), encoding="utf-8")
    return {**manifest, "path": str(out)}


def build_manifest(run: Any, meta: dict[str, Any], vectors: np.ndarray) -> dict[str, Any]:
    """What a store needs to create the collection and a client to embed queries the same way."""
    from hone.models.resolve import hub_id

    norms = np.linalg.norm(vectors, axis=1) if len(vectors) else np.ones(0)
    normalized = bool(len(norms) and np.allclose(norms, 1.0, atol=1e-4))
    return {
        "format": FORMAT,
        "model": {
            "run": run.path.name,
            "path": str((run.dir.model).resolve()),
            "base_model": meta.get("base_model"),
            "base_model_hub_id": hub_id(str(meta.get("base_model"))),
            "max_length": meta.get("max_length"),
            "loads_with": "sentence_transformers.SentenceTransformer(path)",
        },
        "count": int(len(vectors)),
        "dimension": int(vectors.shape[1]) if vectors.ndim == 2 and len(vectors) else 0,
        "normalized": normalized,
        "distance": "cosine",  # unit vectors: cosine and dot product rank alike
        "store_settings": {"qdrant": {"distance": "Cosine"}, "lancedb": {"distance_type": "cosine"}},
        "ids": {
            "scheme": "uuid5",
            "namespace": str(ID_NAMESPACE),
            "payload_key": "doc_id",
            "how": "uuid.uuid5(uuid.UUID(namespace), doc_id)",
        },
        "files": {"vectors": VECTORS_FILE},
    }


def write_points(path: Path, ids: list[str], texts: list[str], vectors: np.ndarray) -> int:
    """One Qdrant-shaped point per line; floats rounded to 6 decimals. Returns the count written."""
    from hone.retrieval.index import DECIMALS

    if not (len(ids) == len(texts) == len(vectors)):
        raise ValueError(f"{len(ids)} ids, {len(texts)} texts, {len(vectors)} vectors: give one of each per document")
    if len(set(ids)) != len(ids):
        raise ValueError("document ids repeat in the corpus; give every document its own id (`hone check` lists them)")
    with path.open("w", encoding="utf-8") as f:
        for doc_id, text, vector in zip(ids, texts, vectors, strict=True):
            row = np.asarray(vector, dtype=np.float64)
            if not np.isfinite(row).all():
                raise ValueError(f"the vector of document {doc_id!r} holds NaN or infinity; check the model")
            point = {
                "id": point_id(doc_id),
                "vector": np.round(row, DECIMALS).tolist(),
                "payload": {"doc_id": doc_id, "text": text},
            }
            f.write(json.dumps(point, ensure_ascii=False) + "\n")
    return len(ids)


def _readme(manifest: dict[str, Any]) -> str:
    dim, count, model = manifest["dimension"], manifest["count"], manifest["model"]
    return f"""# Embeddings exported by hone

{count} documents embedded by the run `{model["run"]}` (base `{model["base_model"]}`): {dim} dimensions,
unit length, compare with cosine. Embed queries with the same model (`{model["loads_with"]}`).
Point ids are `uuid5` of the document id (namespace in manifest.json); the document id and text are the payload.

Qdrant (`pip install qdrant-client`; `QdrantClient(url=...)` for a server):

```python
import json
from qdrant_client import QdrantClient, models

points = [models.PointStruct(**json.loads(line)) for line in open("{VECTORS_FILE}")]
client = QdrantClient(path="qdrant-data")
client.create_collection("docs", vectors_config=models.VectorParams(size={dim}, distance=models.Distance.COSINE))
client.upload_points("docs", points)
```

LanceDB (`pip install lancedb`):

```python
import json
import lancedb

rows = [{{"id": p["id"], "vector": p["vector"], **p["payload"]}} for p in map(json.loads, open("{VECTORS_FILE}"))]
table = lancedb.connect("lance-data").create_table("docs", data=rows)
table.search(query_vector).distance_type("cosine").limit(5).to_list()
```
"""
