"""Export an encoder run (classify, ner, embed, rerank) to ONNX for ONNX Runtime, and check it against the run.

The graph is traced from the run's own model with `torch.onnx.export` (the TorchScript exporter, which
Optimum's exporters wrap; `optimum-onnx` itself requires transformers < 4.58 and cannot be installed beside
hone's transformers 5), with dynamic batch and sequence axes: inputs `input_ids` and `attention_mask` (int64),
output `logits` (classify, ner, rerank) or `sentence_embedding` (embed: pooled, before hone's normalisation).
`--quantize int8` adds `model_int8.onnx`, ONNX Runtime's dynamic int8 quantisation of the same graph.

Every file is checked before the folder is written: the run's test texts through ONNX Runtime and through the
torch model, compared by cosine (embed) or largest logit difference and identical predictions (the others).
fp32 must reach cosine 0.999 and identical predictions, else nothing is written; int8 is reported as measured
(cosine, prediction agreement and the task's metric on the test split next to the fp32 model's).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from hone.export.staging import check_target, staged
from hone.grammar import article
from hone.models.onnx_runtime import INT8_FILE, ONNX_FILE, OnnxModel

ENCODER_TASKS = ("classify", "ner", "embed", "rerank")
MIN_COSINE = 0.999
OPSET = 17
PIPELINE_LIBRARY = {"embed": "sentence-transformers"}


def export_onnx(run_dir: str | Path, out: str | Path, quantize: str | None = None) -> dict[str, Any]:
    """Write `out/model.onnx` (and `model_int8.onnx` with quantize="int8"), tokenizer, hone.json, README.md.
    Returns {"path", "checks": {file: figures}}; RuntimeError when the fp32 graph disagrees with the run."""
    from hone.models.load import load_trained
    from hone.pipeline import Run, prepare

    run_dir, out = Path(run_dir), Path(out)
    if quantize not in (None, "int8"):
        raise ValueError(f"--quantize {quantize}: only int8 (ONNX Runtime's dynamic quantisation) is offered")
    run = Run(run_dir)
    loaded = load_trained(run.dir.model)
    task = loaded.task.name
    if task not in ENCODER_TASKS:
        encoders = ", ".join(ENCODER_TASKS)
        raise ValueError(f"{run_dir} is {article(task)} run; ONNX export is for {encoders} (else: gguf)")
    check_target(out)
    prepared = prepare(run.config)
    texts = _texts(prepared)
    model = _plain(loaded.model)
    with staged(out) as tmp:
        trace(model, loaded.tokenizer, task, tmp / ONNX_FILE)
        checks = {ONNX_FILE: compare(loaded, model, tmp / ONNX_FILE, texts, prepared)}
        _refuse_if_different(checks[ONNX_FILE], out)
        if quantize:
            quantize_int8(tmp / ONNX_FILE, tmp / INT8_FILE)
            checks[INT8_FILE] = compare(loaded, model, tmp / INT8_FILE, texts, prepared)
        _companions(tmp, run_dir, loaded, checks)
    return {"path": str(out), "checks": checks}


class _Graph:
    """What is traced: the model's forward on (input_ids, attention_mask) returning one tensor."""

    def __init__(self, model: Any, task: str) -> None:
        import torch

        class Forward(torch.nn.Module):
            def __init__(self, inner: Any) -> None:
                super().__init__()
                self.inner = inner

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                if task == "embed":
                    return self.inner({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]
                return self.inner(input_ids=input_ids, attention_mask=attention_mask).logits

        self.module = Forward(model).eval()


def trace(model: Any, tokenizer: Any, task: str, path: Path) -> None:
    import torch

    sample = tokenizer(["hone exports this", "a longer sample text for tracing"], padding=True, return_tensors="pt")
    output = "sentence_embedding" if task == "embed" else "logits"
    axes = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    axes[output] = {0: "batch"} if task != "ner" else {0: "batch", 1: "sequence"}
    graph = _Graph(model, task).module
    with torch.inference_mode():
        torch.onnx.export(
            graph,
            (sample["input_ids"], sample["attention_mask"]),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=[output],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def quantize_int8(source: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)


def compare(loaded: Any, model: Any, path: Path, texts: list[str], prepared: Any) -> dict[str, Any]:
    """The ONNX file against the torch model on `texts`: cosine of outputs, prediction agreement, test metric."""
    from hone.evaluate.predict import batched

    task = prepared.task
    onnx = OnnxModel(path, "sentence_embedding" if task.name == "embed" else "logits")
    ids = loaded.tokenizer(texts, truncation=True, max_length=task.max_length)["input_ids"]
    features = [{"input_ids": row} for row in ids]
    ours, theirs = (batched(m, features, _collate(loaded.tokenizer), 32, _raw(task.name)) for m in (model, onnx))
    cosines = [_cosine(a, b) for a, b in zip(ours, theirs, strict=True)]
    diff = max(float(np.abs(a - b).max()) for a, b in zip(ours, theirs, strict=True))
    torch_metric, onnx_metric = (_test_score(task, m, loaded.tokenizer, prepared.splits["test"]) for m in (model, onnx))
    return {
        "texts": len(texts),
        "min_cosine": min(cosines),
        "max_abs_diff": diff,
        "metric": task.primary_metric,
        "torch_score": float(torch_metric),
        "onnx_score": float(onnx_metric),
        "summary": f"min cosine {min(cosines):.6f} over {len(texts)} test texts; {task.primary_metric} "
        f"{float(onnx_metric):.4f} (torch {float(torch_metric):.4f})",
    }


def _test_score(task: Any, model: Any, tokenizer: Any, test: list[Any]) -> float:
    """The task's primary metric on the run's test split, predicted with `model`."""
    from hone.tasks.base import model_inputs

    predictions, _ = task.predict(model, tokenizer, model_inputs(test), 32)
    return float(task.score(task.gold(test), predictions))


def _refuse_if_different(check: dict[str, Any], out: Path) -> None:
    if not check["min_cosine"] >= MIN_COSINE or abs(check["onnx_score"] - check["torch_score"]) > 1e-6:
        raise RuntimeError(
            f"the ONNX graph disagrees with the run ({check['summary']}; needs cosine >= {MIN_COSINE} and the same "
            f"score); nothing was written to {out}"
        )


def _texts(prepared: Any) -> list[str]:
    from hone.tasks.base import model_inputs

    inputs = model_inputs(prepared.splits["test"])[:64]
    return [x if isinstance(x, str) else " ".join(map(str, x)) for x in inputs] or ["hone"]


def _plain(model: Any) -> Any:
    """PEFT layers merged away (a LoRA classifier), so the graph holds plain weights."""
    return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model


def _collate(tokenizer: Any) -> Any:
    from hone.tasks.batching import pad_ids

    return lambda features: pad_ids(features, tokenizer.pad_token_id)


def _raw(task: str) -> Any:
    def forward(model: Any, batch: dict[str, Any]) -> Any:
        if task == "embed":
            return model({"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]})[
                "sentence_embedding"
            ]
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    return forward


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    denominator = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / denominator) if denominator else float(np.array_equal(a, b))


def _companions(folder: Path, run_dir: Path, loaded: Any, checks: dict[str, Any]) -> None:
    from hone.export.card import model_card

    loaded.tokenizer.save_pretrained(str(folder))
    model_dir = run_dir / "model"
    for name in ("config.json", "modules.json", "sentence_bert_config.json", "config_sentence_transformers.json"):
        if (model_dir / name).is_file():
            shutil.copy2(model_dir / name, folder / name)
    meta = {**loaded.meta, "onnx": checks}
    (folder / "hone.json").write_text(json.dumps(meta, indent=2))
    usage = f"""Checked against the run's model on its test texts before writing:

{chr(10).join(f"- `{name}`: {check['summary']}" for name, check in checks.items())}

```python
import onnxruntime as ort
from transformers import AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("{folder.name}")
session = ort.InferenceSession("{folder.name}/{ONNX_FILE}")
batch = tokenizer(["some text"], padding=True, return_tensors="np")
session.run(None, {{"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}})
```

`hone serve {folder.name}` serves this folder through ONNX Runtime.
"""
    task = loaded.task.name
    title = f"{task} model exported by hone (ONNX)"
    (folder / "README.md").write_text(
        model_card(loaded.meta, run_dir, title, usage, PIPELINE_LIBRARY.get(task), ["onnx"]), encoding="utf-8"
    )
