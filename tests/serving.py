"""Tiny trained runs to serve: two chat adapters and an extraction adapter on one tiny causal base, and a
classifier, NER, embedding and reranker run on a tiny encoder. Real `hone.train` runs of a few steps:
the adapters' weights are trained (non-zero), so mixing them up would change the answers.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import hone

WORDS = "red blue green cat dog sun moon".split()


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _train(root: Path, name: str, config: dict[str, Any]) -> Path:
    config = {"name": name, "runs_dir": str(root / "runs"), **config}
    return hone.train(hone.load_config(config), progress=False).path


def chat_run(root: Path, base: Path, name: str, seed: int, steps: int = 3, method: str = "lora", r: int = 4) -> Path:
    """An instruct run in root/runs/<name>: `method` (an adapter of rank `r`, alpha 2r), `steps` steps."""
    rng = random.Random(seed)
    rows = [{"prompt": f"say {w} {i}", "completion": f"{w} {w} {name}"} for i, w in enumerate(rng.choices(WORDS, k=40))]
    return _train(
        root,
        name,
        {
            "task": "instruct",
            "data": {"train": str(_write(root / f"{name}.jsonl", rows)), "max_length": 64},
            "model": {"name": str(base), "method": method, "lora": {"r": r, "alpha": 2 * r, "dropout": 0.0}},
            "seed": seed,
            "train": {"max_steps": steps, "batch_size": 8, "lr": 2e-2, "precision": "fp32", "patience": None},
            "generate": {"max_new_tokens": 8},
        },
    )


def extract_run(root: Path, base: Path, name: str = "attrs") -> Path:
    rng = random.Random(1)
    rows = []
    for _ in range(40):
        colour, size = rng.choice(["red", "blue", None]), rng.choice(["s", "m", None])
        text = " ".join(
            p
            for p in [
                f"colour {colour} ." if colour else "",
                f"size {size} ." if size else "",
                " ".join(rng.choices(WORDS, k=3)),
            ]
            if p
        )
        rows.append({"text": text, "fields": {"colour": colour, "size": size}})
    return _train(
        root,
        name,
        {
            "task": "extract",
            "data": {
                "train": str(_write(root / "attrs.jsonl", rows)),
                "max_length": 96,
                "instruction": "extract:",
                "fields": {"colour": {"values": ["red", "blue"]}, "size": {}},
            },
            "model": {"name": str(base), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
            "train": {"max_steps": 2, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "patience": None},
            "generate": {"max_new_tokens": 24},
        },
    )


def encoder_runs(root: Path, encoder: Path) -> dict[str, Path]:
    from conftest import make_rows

    train = {"max_steps": 2, "batch_size": 8, "lr": 1e-3, "precision": "fp32", "patience": None}
    model = {"name": str(encoder), "method": "full"}
    pairs = [{"query": f"{w} {i}", "positive": f"{w} case {i} help"} for i, w in enumerate(WORDS * 6)]
    spans = []
    for i, w in enumerate(WORDS * 4):
        text = f"the {w} is late {i}"
        spans.append({"text": text, "spans": [{"start": 4, "end": 4 + len(w), "label": "THING"}]})
    rerank = [{"query": f"{w} {i}", "passage": f"{w} case {i}", "label": 1} for i, w in enumerate(WORDS * 4)]
    rerank += [{"query": f"{w} {i}", "passage": f"other case {i + 1}", "label": 0} for i, w in enumerate(WORDS * 4)]
    return {
        "topics": _train(
            root,
            "topics",
            {
                "task": "classify",
                "model": model,
                "train": train,
                "data": {"train": str(_write(root / "c.jsonl", make_rows(60))), "max_length": 32},
            },
        ),
        "things": _train(
            root,
            "things",
            {
                "task": "ner",
                "model": model,
                "train": train,
                "data": {"train": str(_write(root / "n.jsonl", spans)), "max_length": 32},
            },
        ),
        "vectors": _train(
            root,
            "vectors",
            {
                "task": "embed",
                "model": model,
                "train": train,
                "data": {"train": str(_write(root / "e.jsonl", pairs)), "max_length": 32},
            },
        ),
        "ranker": _train(
            root,
            "ranker",
            {
                "task": "rerank",
                "model": model,
                "train": train,
                "data": {"train": str(_write(root / "r.jsonl", rerank)), "max_length": 32},
            },
        ),
    }
