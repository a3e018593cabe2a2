"""embed-encode: embedding a corpus of chunks with MiniLM, hone's encode path against SentenceTransformer.encode.

hone's side is the function every hone retrieval path embeds with (`EmbedTask.vectors`: the index built at
evaluation, hard-negative mining, `hone export-embeddings`, the server's /v1/embeddings), on the model as
`EmbedTask.build_model` loads it, with the batch size those callers pass (`eval.batch_size`, 64). The
comparison is `SentenceTransformer(path).encode(chunks)` with its defaults. Both truncate at the model's
`max_seq_length` (256 for MiniLM: no chunk here is cut) and run fp32. The figure is chunks per second; the
check is the cosine between the two sides' vectors for every chunk.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import data
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure
from bench.train_classify import REAL_MODEL, model_dir

NAME = "embed-encode"


@dataclass(frozen=True)
class Sizes:
    chunks: int
    warm_chunks: int
    batch: int  # hone's: what its callers pass (eval.batch_size's default; the server's 64)


# 10,000 chunks take about 85 s a pass on the shared 2-core machine; 4,000 keep a full run (warm-up and
# 3 repeats of both sides) within about 5 minutes. Chunks/s does not depend on the count.
FULL = Sizes(chunks=4000, warm_chunks=256, batch=64)
SMOKE = Sizes(chunks=40, warm_chunks=8, batch=64)
SEED, MIN_COSINE = 0, 0.999


class Bench:
    def __init__(self, settings: Settings) -> None:
        from sentence_transformers import SentenceTransformer
        from transformers import AutoTokenizer

        from hone.tasks.embed import EmbedTask

        self.smoke = settings.smoke
        self.sizes = SMOKE if settings.smoke else FULL
        self.path = model_dir(settings.smoke)
        self.chunks = data.texts(self.sizes.chunks, SEED, min_words=3, max_words=100)
        self.st = SentenceTransformer(str(self.path), device="cpu")
        # hone's EmbedTask truncates at data.max_length (128 by default); set it to the model's own limit, which
        # the comparison uses, so both sides embed the same tokens
        self.task = EmbedTask(max_length=self.st.max_seq_length)
        self.model = self.task.build_model(str(self.path))
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        self.lengths = [
            len(ids)
            for ids in self.tokenizer(self.chunks, truncation=True, max_length=self.task.max_length)["input_ids"]
        ]
        self.vectors: dict[str, np.ndarray] = {}
        self.onnx = _onnx_models(self.model, self.tokenizer)

    def hone_onnx(self, chunks: list[str], kind: str) -> dict[str, Any]:
        """hone's same encode path, the model run by ONNX Runtime (`hone export --target onnx [--quantize int8]`)."""
        self.vectors[kind] = self.task.vectors(self.onnx[kind], self.tokenizer, chunks, self.sizes.batch)
        return {"chunks": len(chunks), "tokens": sum(self.lengths[: len(chunks)])}

    def hone(self, chunks: list[str]) -> dict[str, Any]:
        self.vectors[HONE] = self.task.vectors(self.model, self.tokenizer, chunks, self.sizes.batch)
        return {"chunks": len(chunks), "tokens": sum(self.lengths[: len(chunks)])}

    def comparison(self, chunks: list[str]) -> dict[str, Any]:
        self.vectors[COMPARISON] = self.st.encode(chunks)
        return {"chunks": len(chunks), "tokens": sum(self.lengths[: len(chunks)])}


def run(settings: Settings) -> Result:
    bench = Bench(settings)
    chunks, warm = bench.chunks, bench.chunks[: bench.sizes.warm_chunks]
    cases = [
        Case(
            "hone",
            f"hone EmbedTask.vectors, batch {bench.sizes.batch}",
            HONE,
            lambda: bench.hone(chunks),
            per="chunks",
            warm=lambda: bench.hone(warm),
        ),
        Case(
            "sentence-transformers",
            "SentenceTransformer.encode, defaults (batch 32)",
            COMPARISON,
            lambda: bench.comparison(chunks),
            per="chunks",
            warm=lambda: bench.comparison(warm),
        ),
    ]
    for kind, label in (("onnx", "fp32"), ("onnx-int8", "int8 dynamic quantisation")):
        cases.append(
            Case(
                f"hone-{kind}",
                f"hone EmbedTask.vectors on ONNX Runtime ({label}), batch {bench.sizes.batch}",
                HONE,
                lambda kind=kind: bench.hone_onnx(chunks, kind),
                per="chunks",
                warm=lambda kind=kind: bench.hone_onnx(warm, kind),
            )
        )
    figures = measure(cases, settings)
    return Result(NAME, __doc__.splitlines()[0], workload(bench), figures, settings, checks(bench))


def checks(bench: Bench) -> dict[str, Any]:
    """Cosine between hone's and sentence-transformers' vector of every chunk (from the last timed runs)."""
    b = _unit(bench.vectors[COMPARISON])
    found: dict[str, Any] = {"threshold": MIN_COSINE}
    for side, prefix in ((HONE, ""), ("onnx", "onnx_"), ("onnx-int8", "onnx_int8_")):
        cosine = (_unit(bench.vectors[side]) * b).sum(axis=1)
        found[f"{prefix}min_cosine"] = float(cosine.min())
        found[f"{prefix}mean_cosine"] = float(cosine.mean())
        found[f"{prefix}chunks_below"] = int((cosine < MIN_COSINE).sum())
    found["same_vectors"] = bool(found["min_cosine"] >= MIN_COSINE)
    found["onnx_same_vectors"] = bool(found["onnx_min_cosine"] >= MIN_COSINE)
    return found


def _onnx_models(model: Any, tokenizer: Any) -> dict[str, Any]:
    """The model traced to ONNX as `hone export --target onnx` traces it, fp32 and int8, run by ONNX Runtime."""
    import tempfile
    from pathlib import Path

    from hone.export.onnx import quantize_int8, trace
    from hone.models.onnx_runtime import OnnxModel

    folder = Path(tempfile.mkdtemp(prefix="hone-bench-onnx-"))
    trace(model, tokenizer, "embed", folder / "model.onnx")
    quantize_int8(folder / "model.onnx", folder / "model_int8.onnx")
    return {
        "onnx": OnnxModel(folder / "model.onnx", "sentence_embedding"),
        "onnx-int8": OnnxModel(folder / "model_int8.onnx", "sentence_embedding"),
    }


def _unit(vectors: np.ndarray) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float64)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def workload(bench: Bench) -> dict[str, Any]:
    lengths, words = bench.lengths, [len(c.split()) for c in bench.chunks]
    config = bench.st[0].auto_model.config
    return {
        "model": {
            "name": "tiny random BERT (tests/tiny.py)" if bench.smoke else f"{REAL_MODEL} (all-MiniLM-L6-v2)",
            "path": str(bench.path),
            "parameters": sum(p.numel() for p in bench.model.parameters()),
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "attention": config._attn_implementation,
            "modules": [type(m).__name__ for m in bench.st],
        },
        "data": {
            "source": "bench/data.py texts (seeded product sentences, log-uniform 3-100 words)",
            "chunks": len(bench.chunks),
            "distinct": len(set(bench.chunks)),
            "words": {"min": min(words), "median": statistics.median(words), "max": max(words)},
            "tokens": {
                "min": min(lengths),
                "median": statistics.median(lengths),
                "max": max(lengths),
                "sum": sum(lengths),
            },
            "max_length": bench.task.max_length,
        },
        "precision": "fp32 on both sides (bf16 matmuls are slower than fp32 on this CPU: no AMX)",
        "hone": {
            "path": "hone.tasks.embed.EmbedTask.vectors on EmbedTask.build_model's SentenceTransformer",
            "batching": f"{bench.sizes.batch} chunks sorted by token count, padded to the longest; inference_mode",
        },
        "comparison": {
            "path": "sentence_transformers.SentenceTransformer(path).encode(chunks)",
            "batching": "32 chunks sorted by character count, padded to the longest; inference_mode",
        },
        "timed": "tokenising, the forward passes, pooling and normalising, the vectors as numpy (model loading is not)",
        "warm_up": f"{bench.sizes.warm_chunks} chunks per side",
    }
