"""Predict what training a config costs before it runs: peak memory by component, and time per epoch.

The data is read and tokenised with the task's own encoding (truncation and packing as training does them), so
the batch shapes are the trainer's: rows padded to the longest row of each length-grouped batch. The model is
built from its config on the meta device (no weights are read) and adapted as training adapts it, which gives
total and trainable parameters. Memory at the peak batch (the `train.batch_size` longest rows) is the sum of:

  weights      every parameter at the dtype hone loads (float32; QLoRA: 4-bit NF4 body, ~0.52 byte a weight)
  gradients    float32, one per trainable parameter
  optimizer    AdamW's two float32 moments per trainable parameter (fused AdamW keeps no other buffers)
  autocast     bf16 copies of the matmul weights that autocast saves for the backward pass (bf16 runs only)
  activations  what backward needs, per layer: rows x width x (10 x hidden + 3 x intermediate) elements, plus
               the LoRA layers' inputs, plus attention scores rows x heads x width^2 where attention takes a
               mask on the CPU (padded or packed rows: SDPA's math path; unmasked causal rows and CUDA keep none)
  logits       vocabulary logits only where some row's next token is labelled (`causal.answer_logits`), with
               their log-softmax and gradient; DPO adds the reference pass (no grad, adapters off)
  runtime      CPU: the tokenizer, the data and the allocator's slack; CUDA: the context

Time is FLOPs over throughput: a forward is 2 x matmul weights x tokens + attention + logits; training is 3
forwards for `full` (weight and input gradients), 2 for adapters (input gradients only), 1 for `freeze`; DPO
adds a forward. Throughput is a 0.2 s matmul probe on the CPU, or a GPU's data-sheet peak, times an assumed
model FLOPs utilisation (MFU).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hone.plan import devices

# Calibrated once against `--measure --steps 3` of the five shipped configs on a 2-core x86 CPU without AMX (fp32
# training), torch 2.13, transformers 5. Measured peak (MiB) / prediction error after calibration: tickets 841
# (+0.7%), pretrain 3957 (+0.9%), copy 3838 (-0.9%), preference 4499 (-2.7%), products 9074 (+2.4%); seconds per
# step 1.06 / 7.33 / 6.04 / 8.97 / 14.5 against devices.CPU_MFU = 0.5 predicting 1.16 / 10.2 / 5.38 / 10.2 / 15.0.
ACTIVATION_FACTOR = 1.0  # full fine-tuning matched 10 x hidden + 3 x intermediate per token per layer as it is
# Elements the LoRA layers keep per input element: the dropped-out input (fp32) and its mask explain 1.25; the
# rest was measured (the three LoRA configs were 20% over the prediction with 1.0, and within 3% with this).
LORA_INPUT_COPIES = 2.35
ATTENTION_COPIES = 2.0  # softmax output and its input are both saved when scores are materialised
LOGIT_COPIES = 3.0  # the logits, their float32 log-softmax, and the gradient flowing back through them
RUNTIME_BYTES_CPU = 150 * 1024**2  # tokenizer, data, allocator slack: tickets (MiniLM) left this after the tensors
CALIBRATION = "2-core x86 CPU, fp32, torch 2.13: shipped configs within 3% of measured peak memory"
REFERENCE_PASS_TASKS = frozenset({"preference"})  # DPO's loss runs a second, no-grad forward (the reference)
IGNORE = -100


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about the model, read from its config without its weights."""

    total_params: int
    trainable_params: int
    matmul_params: int  # weights of the body's linear layers (the vocabulary projection is counted apart)
    hidden: int
    intermediate: int
    layers: int
    heads: int
    vocab: int
    vocab_head: str  # "causal" (answer positions only), "masked" (every position) or "none" (a small head)
    lora_inputs: int  # elements per token saved by the LoRA layers (their dropped-out inputs and rank outputs)


@dataclass(frozen=True)
class BatchShape:
    rows: int  # sequences in one forward (DPO: chosen and rejected rows)
    width: int  # padded length
    logit_positions: int  # positions per row whose vocabulary logits are computed
    masked: bool = False  # padded or packed: attention takes a mask, so SDPA on CPU materialises the scores

    @property
    def tokens(self) -> int:
        return self.rows * self.width


def peak_batch(features: Sequence[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    """The `batch_size` longest training rows: the loop groups rows by length, so its widest batch holds these."""
    return sorted(features, key=lambda f: -len(f["input_ids"]))[:batch_size]


def length_stats(lengths: Sequence[int]) -> dict[str, float]:
    """Token-length distribution of training rows: count, mean, p50, p95 and max."""
    ordered = sorted(lengths)
    if not ordered:
        return {"rows": 0, "mean": 0.0, "p50": 0.0, "p95": 0.0, "max": 0.0}

    def quantile(q: float) -> float:
        return float(ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)])

    return {
        "rows": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "p50": quantile(0.5),
        "p95": quantile(0.95),
        "max": float(ordered[-1]),
    }


def batch_shape(task: Any, tokenizer: Any, features: Sequence[dict[str, Any]], head: str) -> BatchShape:
    """The shape of one collated batch, as the task's collate builds it."""
    batch = task.collate(list(features), tokenizer)
    rows, width = batch["input_ids"].shape
    positions = 0
    if head == "masked":
        positions = width
    elif head == "causal" and "labels" in batch:
        positions = int((batch["labels"][:, 1:] != IGNORE).any(0).sum())
    mask = batch.get("attention_mask")
    masked = "position_ids" in batch or (mask is not None and not bool(mask.all()))
    return BatchShape(int(rows), int(width), positions, masked)


# --- the model, on the meta device ---------------------------------------------------------------------------


def model_shape(config: Any, task: Any, model_dir: str) -> ModelShape:
    """Parameters and sizes of the task's model adapted by `model.method`, built from config.json alone."""
    import torch
    from transformers import AutoConfig

    from hone.models.adapt import adapt

    head = vocab_head(task)
    hf = AutoConfig.from_pretrained(model_dir, **_head_kwargs(task, head))
    method = "lora" if config.model.method == "qlora" else config.model.method  # same adapters, 4-bit base
    with torch.device("meta"):
        model = _auto_class(task, head).from_config(hf)
    tokens = getattr(config.model, "virtual_tokens", 20)
    model = adapt(model, method, config.model.lora, task.head_modules, task.peft_task_type, tokens)
    text = hf.get_text_config() if hasattr(hf, "get_text_config") else hf
    hidden = int(getattr(text, "hidden_size", 0) or getattr(text, "d_model", 0))
    return ModelShape(
        total_params=sum(p.numel() for p in model.parameters()),
        trainable_params=sum(p.numel() for p in model.parameters() if p.requires_grad),
        matmul_params=_matmul_params(model),
        hidden=hidden,
        intermediate=int(getattr(text, "intermediate_size", 0) or 4 * hidden),
        layers=int(getattr(text, "num_hidden_layers", 0) or getattr(text, "n_layer", 1)),
        heads=int(getattr(text, "num_attention_heads", 0) or getattr(text, "n_head", 1)),
        vocab=int(getattr(text, "vocab_size", 0)),
        vocab_head=head,
        lora_inputs=_lora_inputs(model),
    )


def vocab_head(task: Any) -> str:
    if getattr(task, "objective", None) == "mlm":
        return "masked"
    return "causal" if task.peft_task_type == "CAUSAL_LM" else "none"


def _auto_class(task: Any, head: str) -> Any:
    import transformers as tf

    by_head = {"causal": tf.AutoModelForCausalLM, "masked": tf.AutoModelForMaskedLM}
    by_type = {"SEQ_CLS": tf.AutoModelForSequenceClassification, "TOKEN_CLS": tf.AutoModelForTokenClassification}
    return by_head.get(head) or by_type.get(task.peft_task_type, tf.AutoModel)


def _head_kwargs(task: Any, head: str) -> dict[str, Any]:
    if head != "none" or task.peft_task_type not in ("SEQ_CLS", "TOKEN_CLS"):
        return {}
    return {"num_labels": max(1, len(getattr(task, "labels", None) or ()))}


def _matmul_params(model: Any) -> int:
    from torch import nn

    seen, total = set(), 0
    for name, module in model.named_modules():
        weight = getattr(module, "weight", None)
        if isinstance(module, nn.Linear) and weight is not None and id(weight) not in seen:
            seen.add(id(weight))
            total += 0 if name.endswith("lm_head") or name.endswith("decoder") else weight.numel()
    return total


def _lora_inputs(model: Any) -> int:
    total = 0
    for module in model.modules():
        lora_a = getattr(module, "lora_A", None)
        if lora_a is not None and len(lora_a):
            first = next(iter(lora_a.values()))
            total += first.in_features + first.out_features
    return total


# --- memory ----------------------------------------------------------------------------------------------------


def memory_components(
    shape: ModelShape, batch: BatchShape, method: str, bf16: bool, reference_pass: bool, device: str
) -> dict[str, int]:
    """Bytes held at the peak of a training step on `batch`, by component (see the module docstring)."""
    act_bytes = 2 if bf16 else 4
    per_token = 10 * shape.hidden + 3 * shape.intermediate
    activations = ACTIVATION_FACTOR * shape.layers * batch.tokens * per_token * act_bytes
    activations += LORA_INPUT_COPIES * batch.tokens * shape.lora_inputs * act_bytes
    if batch.masked and device == "cpu":  # unmasked (causal) and CUDA attention kernels keep no scores
        activations += ATTENTION_COPIES * shape.layers * batch.rows * shape.heads * batch.width**2 * act_bytes
    logit_elems = batch.rows * batch.logit_positions * shape.vocab
    logits = logit_elems * 4 * (LOGIT_COPIES + (2 if reference_pass else 0))
    return {
        "weights": weight_bytes(shape, method),
        "gradients": 4 * shape.trainable_params,
        "optimizer": 8 * shape.trainable_params,
        "autocast": 2 * shape.matmul_params if bf16 else 0,
        "activations": int(activations),
        "logits": int(logits),
        "runtime": devices.CUDA_CONTEXT_BYTES if device == "cuda" else RUNTIME_BYTES_CPU,
    }


def weight_bytes(shape: ModelShape, method: str) -> int:
    """hone loads float32 weights; QLoRA's body matmuls are NF4 (4 bits + double-quantised constants)."""
    if method != "qlora":
        return 4 * shape.total_params
    quantised = shape.matmul_params
    return int(quantised * (4.127 / 8) + 4 * (shape.total_params - quantised))


def largest_batch(components: dict[str, int], batch_size: int, capacity: int) -> int:
    """The biggest train.batch_size whose peak fits in `capacity` bytes (activations and logits grow with it)."""
    per_row = (components["activations"] + components["logits"]) / max(batch_size, 1)
    fixed = sum(components.values()) - per_row * batch_size
    if fixed >= capacity:
        return 0
    return int((capacity - fixed) // max(per_row, 1))


def gpu_table(shape: ModelShape, batch: BatchShape, method: str, batch_size: int, reference: bool) -> list[dict]:
    """For each GPU size a team asks about: does the configured batch fit in bf16, and the largest that does."""
    components = memory_components(shape, batch, method, bf16=True, reference_pass=reference, device="cuda")
    need = sum(components.values())
    return [
        {
            "memory_gb": size,
            "need_bytes": need,
            "fits": need <= devices.usable_bytes(size),
            "largest_batch": largest_batch(components, batch_size, devices.usable_bytes(size)),
        }
        for size in devices.GPU_SIZES_GB
    ]


# --- time ------------------------------------------------------------------------------------------------------


def forward_flops(shape: ModelShape, batch: BatchShape) -> float:
    matmuls = 2.0 * shape.matmul_params * batch.tokens
    attention = 4.0 * shape.layers * batch.rows * batch.width**2 * shape.hidden
    logits = 2.0 * shape.hidden * shape.vocab * batch.rows * batch.logit_positions
    return matmuls + attention + logits


def step_flops(shape: ModelShape, batch: BatchShape, method: str, reference_pass: bool) -> float:
    """FLOPs of one forward-and-backward on `batch` (see the module docstring for the multipliers)."""
    passes = {"full": 3.0, "freeze": 1.0}.get(method, 2.0)
    return forward_flops(shape, batch) * (passes + (1.0 if reference_pass else 0.0))


def epoch_seconds(flops: Sequence[float], throughput: float) -> float:
    return sum(flops) / throughput


def cpu_throughput(shape: ModelShape, batch: BatchShape, bf16: bool) -> devices.Throughput:
    """This CPU, probed with a matmul of the model's own MLP shape at the peak batch's token count."""
    return devices.cpu_throughput(
        max(64, min(batch.tokens, 2048)), max(shape.hidden, 32), max(shape.intermediate, 32), bf16
    )


# --- the estimate ----------------------------------------------------------------------------------------------

MEMORY_MEANING = (
    "bytes held at the peak of a training step on the peak batch (the train.batch_size longest rows), beyond what "
    "the imports take; comparable with `--measure`'s peak RSS minus the RSS after imports"
)


def estimate(config: Any, device: str = "cpu", processes: int = 1) -> dict[str, Any]:
    """Predict peak training memory (by component) and time per epoch of `config` on `device` ("cpu" or "cuda"),
    plus the GPU-size table. Reads and tokenises the training data; reads no model weights.

    `processes`: data-parallel processes (`hone train --processes N`, one per GPU). Memory is per process (each
    holds the whole model and its `train.batch_size` rows); the global batch is batch_size x processes x
    grad_accum, so an epoch has fewer steps. On GPUs the epoch's work is shared out (ideal scaling: gradient
    all-reduce not counted); CPU processes share this machine's cores, so their time is not divided."""
    from hone.models.resolve import resolve_model

    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: choose cpu or cuda")
    if processes < 1:
        raise ValueError(f"--processes {processes}: give 1 or more")
    task, tokenizer, features = training_rows(config)
    if not features:
        raise ValueError(f"{config.data.train}: no training rows after encoding; nothing to estimate")
    shape = model_shape(config, task, str(resolve_model(config.model.name)))
    tc, method, reference = config.train, config.model.method, config.task in REFERENCE_PASS_TASKS
    peak = batch_shape(task, tokenizer, peak_batch(features, tc.batch_size), shape.vocab_head)
    lengths = [len(f["input_ids"]) for f in features]
    bf16 = uses_bf16(tc.precision, device)
    components = memory_components(shape, peak, method, bf16, reference, device)
    throughput = cpu_throughput(shape, peak, bf16) if device == "cpu" else devices.cuda_throughput()
    return {
        "name": config.name,
        "task": config.task,
        "model": config.model.name,
        "method": method,
        "device": device,
        "precision": "bf16" if bf16 else "fp32",
        "parameters": {"total": shape.total_params, "trainable": shape.trainable_params, "matmul": shape.matmul_params},
        "tokens": {
            **length_stats(lengths),
            "max_length": config.data.max_length,
            "packed": bool(getattr(task, "packing", False)),
        },
        "peak_batch": {**asdict(peak), "tokens": peak.tokens},
        "memory": {"components": components, "total_bytes": sum(components.values()), "meaning": MEMORY_MEANING},
        "processes": processes,
        "global_batch": tc.batch_size * processes * tc.grad_accum,
        "time": time_section(config, shape, task, tokenizer, features, peak, throughput, processes, device),
        "gpu_table": gpu_table(shape, peak, method, tc.batch_size, reference),
        "calibration": CALIBRATION,
    }


def time_section(
    config: Any,
    shape: ModelShape,
    task: Any,
    tokenizer: Any,
    features: list[dict[str, Any]],
    peak: BatchShape,
    throughput: devices.Throughput,
    processes: int = 1,
    device: str = "cpu",
) -> dict[str, Any]:
    """Steps and seconds: an epoch's FLOPs summed over the loop's own batches (epoch 0's length grouping, in
    global batches of batch_size x processes, each rank's share its own batch)."""
    from hone.train.distributed import share, usable
    from hone.train.loop import epoch_batches, steps_per_epoch

    tc, method, reference = config.train, config.model.method, config.task in REFERENCE_PASS_TASKS
    lengths = [len(f["input_ids"]) for f in features]
    order = usable(epoch_batches(lengths, tc.batch_size * processes, config.seed, 0), processes)
    shares = [share(b, r, processes) for b in order for r in range(processes)]
    shapes = [batch_shape(task, tokenizer, [features[i] for i in b], shape.vocab_head) for b in shares]
    flops = [step_flops(shape, b, method, reference) for b in shapes]
    per_epoch = steps_per_epoch(len(features), tc.batch_size, tc.grad_accum, processes)
    total_steps = min(tc.max_steps or per_epoch * tc.epochs, per_epoch * tc.epochs)
    step = tc.grad_accum * step_flops(shape, peak, method, reference)
    parallel = processes if device == "cuda" else 1  # GPUs work side by side; CPU processes share the cores
    epoch = epoch_seconds(flops, throughput.flops_per_s) / parallel
    return {
        "steps_per_epoch": per_epoch,
        "total_steps": total_steps,
        "peak_step_flops": step,
        "peak_step_seconds": step / throughput.flops_per_s,
        "epoch_flops": sum(flops),
        "seconds_per_epoch": epoch,
        "seconds_total": epoch * total_steps / per_epoch,
        "throughput": throughput.to_json(),
        "gpus": [
            {"gpu": t.device, "seconds_per_epoch": epoch_seconds(flops, t.flops_per_s) / processes}
            for t in devices.gpu_throughputs()
        ],
    }


def training_rows(config: Any) -> tuple[Any, Any, list[dict[str, Any]]]:
    """(task, tokenizer, training rows) as training builds them: checked data, the task's encoding (truncation,
    packing). The rows are the train split before any task augmentation (embed's mined negatives)."""
    from hone.pipeline import steps
    from hone.tasks import spec_for

    checked = steps.check(config)
    checked.raise_for_errors()
    examples = [ex for split in checked.splits.values() for ex in split]
    profiled = config
    if config.model.method == "qlora":  # same rows as lora; the task itself refuses qlora without a GPU
        profiled = config.model_copy(deep=True)
        profiled.model.method = "lora"
    task = spec_for(config.task).task.from_config(profiled, examples)
    tokenizer = steps.tokenizer_of(config)
    return task, tokenizer, task.encode(checked.splits["train"], tokenizer)


def uses_bf16(precision: str, device: str) -> bool:
    """Whether training runs under bf16 autocast: as `hone.train.setup.choose_precision` decides on this CPU."""
    if device == "cuda":
        return precision != "fp32"
    from hone.train.setup import cpu_has_bf16

    return precision == "bf16" or (precision == "auto" and cpu_has_bf16())
