"""ONNX export of encoder runs: onnxruntime's own session gives the run's outputs, int8 is measured, and
`hone serve` serves the exported folder through ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import hone
from hone.api import Run, export_onnx
from hone.cli import app

ort = pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def classify_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    from conftest import make_rows

    root = tmp_path_factory.mktemp("onnx-classify")
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in make_rows(90)))
    config = {
        "name": "tickets",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(root / "data.jsonl"), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"max_steps": 6, "batch_size": 8, "lr": 3e-3, "patience": None, "precision": "fp32"},
    }
    return hone.train(hone.load_config(config), progress=False).path


def _session_logits(folder: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder))  # the README's lines
    session = ort.InferenceSession(str(folder / "model.onnx"))
    batch = tokenizer(texts, padding=True, return_tensors="np")
    return session.run(None, {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})[0]


def test_classify_onnx_matches_the_run_in_onnxruntime(classify_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "onnx"
    result = CliRunner().invoke(
        app, ["export", str(classify_run), "--target", "onnx", "--quantize", "int8", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "model.onnx: min cosine" in result.output and "model_int8.onnx: min cosine" in result.output
    texts = ["my card payment failed twice", "where is my package", "reset password"]
    loaded = Run(classify_run).predictor().loaded
    batch = loaded.tokenizer(texts, padding=True, return_tensors="pt")
    with torch.inference_mode():
        expected = loaded.model(**batch).logits.numpy()
    np.testing.assert_allclose(_session_logits(out, texts), expected, atol=1e-4)
    checks = json.loads((out / "hone.json").read_text())["onnx"]
    assert checks["model.onnx"]["min_cosine"] >= 0.999
    assert checks["model.onnx"]["onnx_score"] == pytest.approx(checks["model.onnx"]["torch_score"], abs=1e-6)
    assert 0 <= checks["model_int8.onnx"]["onnx_score"] <= 1 and "min_cosine" in checks["model_int8.onnx"]
    assert (out / "model_int8.onnx").stat().st_size < (out / "model.onnx").stat().st_size


def test_serve_pool_serves_the_onnx_folder_through_onnxruntime(classify_run: Path, tmp_path: Path) -> None:
    from hone.models.onnx_runtime import OnnxModel
    from hone.serve.pool import ModelPool

    out = tmp_path / "onnx"
    export_onnx(classify_run, out)
    served = ModelPool(None, None).load_run(out, "tickets-onnx")
    assert isinstance(served.model, OnnxModel) and served.kind == "classify"
    texts = ["invoice charge card money", "login email reset", "delivery late address"]
    labels, _ = served.task.predict(served.model, served.tokenizer, texts, 64)
    assert [p["labels"] for p in hone.predict(classify_run, texts)] == [list(label) for label in labels]


def test_embed_onnx_gives_sentence_transformers_vectors(tiny_encoder: Path, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    rows = [{"query": f"card payment {i}", "positive": f"billing invoice case {i}"} for i in range(40)]
    (tmp_path / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "embed",
        "name": "emb",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(tmp_path / "pairs.jsonl"), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "lora", "lora": {"r": 4, "alpha": 8}},
        "train": {"max_steps": 2, "batch_size": 8, "precision": "fp32", "patience": None},
    }
    run = hone.train(hone.load_config(config), progress=False)
    result = export_onnx(run.path, tmp_path / "onnx")
    assert result["checks"]["model.onnx"]["min_cosine"] >= 0.999
    texts = ["card payment 3", "billing invoice case 7"]
    pooled = _session_logits(tmp_path / "onnx", texts)  # sentence_embedding, before normalisation
    expected = SentenceTransformer(str(run.path / "model"), device="cpu").encode(texts)
    np.testing.assert_allclose(pooled, expected, atol=1e-4)


def test_other_quantisations_are_refused_before_any_work(classify_run: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="only int8"):
        export_onnx(classify_run, tmp_path / "out", quantize="fp8")
    assert not (tmp_path / "out").exists()
