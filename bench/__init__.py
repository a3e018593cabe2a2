"""hone's benchmark suite: `python -m bench <name> [--smoke] [--repeats N]`, `python -m bench --list`.

Benchmarks measure; tests check. Each benchmark module (`NAME`, `run(settings) -> Result`) times hone's way
of doing some work against a comparison in the same process, alternating them (`bench.common`), and its
result, with the workload it ran, is written as JSON under `bench/results/`. To add one: write the module
and register it in `BENCHMARKS`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.common import MIN_REPEATS, RESULTS, Settings, write


@dataclass(frozen=True)
class Entry:
    module: str
    summary: str


BENCHMARKS: dict[str, Entry] = {
    "extract-prefix": Entry(
        "bench.extract_prefix",
        "20 fields from one ~300-token document: one constrained decode (prefix cache cold and warm) vs one "
        "generate per field",
    ),
    "extract-corpus": Entry(
        "bench.extract_corpus",
        "8 documents x 20 fields through hone serve /v1/extract at 8 clients: fan-out and whole object vs one "
        "generate per field, documents/s",
    ),
    "train-lora": Entry(
        "bench.train_lora",
        "LoRA instruction tuning of SmolLM2: hone train (packed rows, answer-only logits) vs Trainer + PEFT "
        "(fp32, padded), tokens/s",
    ),
    "mfu": Entry(
        "bench.mfu",
        "model-FLOPs utilisation of hone's LoRA step against the bf16 and fp32 matmul peaks measured in the same run",
    ),
    "memory": Entry(
        "bench.memory",
        "peak RSS of LoRA training (hone vs Trainer + PEFT) and of serving 4 adapters (one base vs 4 merged models)",
    ),
    "train-classify": Entry(
        "bench.train_classify",
        "full fine-tuning of MiniLM for 4-way classification: hone train (length-grouped) vs Trainer (padded), "
        "examples/s, held-out macro-F1",
    ),
    "embed-encode": Entry(
        "bench.embed_encode",
        "embedding chunks with MiniLM: hone's EmbedTask.vectors vs SentenceTransformer.encode, chunks/s, cosine",
    ),
    "serve-multi-lora": Entry(
        "bench.serve_multi_lora",
        "16 requests over 8 LoRA adapters in one batch vs the base model alone and vs one request at a time",
    ),
    "serve-onnx": Entry(
        "bench.serve_onnx",
        "/v1/classify at 16, 4 and 1 clients on a real `hone serve`: the run's ONNX export on ONNX Runtime vs torch",
    ),
    "train-ddp": Entry(
        "bench.train_ddp",
        "data-parallel hone train on 2 processes (torchrun, gloo) vs 1 process, same global batches and threads, "
        "examples/s",
    ),
    "serve-batch": Entry(
        "bench.serve_batch",
        "/v1/classify and /v1/chat/completions at 1, 4 and 16 clients on a real `hone serve`: batching on vs off",
    ),
}


def run(
    name: str,
    smoke: bool = False,
    repeats: int | None = None,
    threads: int = 2,
    out_dir: Path = RESULTS,
    progress: bool = False,
) -> tuple[dict[str, Any], Path]:
    """Run one benchmark and write its JSON; returns (the JSON data, its path).

    A full run takes the median of at least 3 repeats on `threads` torch threads; a smoke run does one
    repeat of tiny sizes on one thread (a second thread only adds synchronisation to a model that small).
    The caller's torch thread count is restored afterwards.
    """
    import torch

    if name not in BENCHMARKS:
        raise KeyError(f"no benchmark {name!r}; known: {', '.join(sorted(BENCHMARKS))}")
    settings = Settings(smoke=smoke, repeats=1 if smoke else MIN_REPEATS, progress=progress)
    if repeats is not None:
        if not smoke and repeats < MIN_REPEATS:
            raise ValueError(f"--repeats: a full run takes the median of at least {MIN_REPEATS} repeats")
        settings = replace(settings, repeats=repeats)
    module = importlib.import_module(BENCHMARKS[name].module)
    before = torch.get_num_threads()
    torch.set_num_threads(1 if smoke else threads)
    try:
        data = module.run(settings).to_json()
    finally:
        torch.set_num_threads(before)
    return data, write(data, out_dir)
