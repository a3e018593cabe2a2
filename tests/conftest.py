"""Shared fixtures: a tiny random encoder and a small learnable classification dataset."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest

from tiny import write_tiny_encoder

pytest_plugins = ["browser"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TOPICS = {
    "billing": "invoice charge card payment money",
    "shipping": "order delivery package late where address",
    "account": "password login account email reset",
}


@pytest.fixture(autouse=True)
def _threads_given_back() -> object:
    """A test (or hone code it calls) that leaves torch on fewer threads slows every later test in the
    process, silently: the slow tier once ran 2.5x slower for it. Fail the test that did it instead."""
    import torch

    before = torch.get_num_threads()
    yield
    after = torch.get_num_threads()
    if after != before:
        torch.set_num_threads(before)
        pytest.fail(f"torch's thread count was left at {after} (was {before}); give the caller's back")


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"))


def make_rows(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Texts whose words reveal their label: a tiny model learns this in a few dozen steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(TOPICS)[i % len(TOPICS)]
        words = [rng.choice(TOPICS[label].split()) for _ in range(rng.randint(3, 10))]
        filler = [
            rng.choice(["the", "my", "is", "not", "please", "help", "i", "was"]) for _ in range(rng.randint(0, 4))
        ]
        mixed = words + filler
        rng.shuffle(mixed)
        rows.append({"text": " ".join(mixed) + f" {i}", "label": label})
    return rows


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in make_rows(150)))
    return path


@pytest.fixture
def config_dict(tmp_path: Path, dataset: Path, tiny_encoder: Path) -> dict:
    return {
        "name": "t",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(dataset), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"epochs": 4, "batch_size": 8, "lr": 3e-3, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 200},
        "baseline": {"methods": ["majority", "tfidf_lr"]},
    }


@pytest.fixture(scope="session")
def serve_runs(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> dict[str, Path]:
    """Trained runs to serve (see tests/serving.py): alpha, beta, attrs on one tiny causal base; encoder runs."""
    import serving
    from tiny import write_tiny_causal

    root = tmp_path_factory.mktemp("serve")
    base = write_tiny_causal(root / "base")
    runs = {
        "alpha": serving.chat_run(root, base, "alpha", 1),
        "beta": serving.chat_run(root, base, "beta", 2),
        "attrs": serving.extract_run(root, base),
        **serving.encoder_runs(root, tiny_encoder),
    }
    return runs
