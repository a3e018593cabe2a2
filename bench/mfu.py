"""mfu: model-FLOPs utilisation of hone's LoRA training step, against the matmul peak measured in the same run.

hone's figure is the model FLOPs a train-lora step needs (below) per second of the step, over a few optimizer
steps of the exact `hone train` session train-lora builds. The comparison is the peak of this machine: a
large square matmul in bf16 and in fp32, timed in the same run; the headline peak is the faster of the
two (on a CPU without AMX, fp32 is faster, and hone trains in it). The ratio is the utilisation.

Model FLOPs of a LoRA step, counted from the batch (padding and masked attention excluded):
linear layers 2 x tokens x (frozen + LoRA weights) forward, the same again for input gradients, and 2 x
tokens x LoRA weights for the adapter's weight gradients; causal attention 6 x n^2 x width per layer for
each packed example of n tokens (forward and backward); the output layer 4 x vocabulary x hidden per
position whose next token is an answer token (hone computes logits nowhere else).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from bench import models
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure
from bench.train_lora import Bench as TrainBench

NAME = "mfu"


@dataclass(frozen=True)
class Sizes:
    steps: int
    matmul: int
    matmul_reps: int


FULL, SMOKE = Sizes(steps=6, matmul=2048, matmul_reps=8), Sizes(steps=1, matmul=256, matmul_reps=4)


class Counter:
    """Model FLOPs of each batch the loop collates, from its tokens, segments and answer positions."""

    def __init__(self, model: Any) -> None:
        config = model.config
        self.layers, self.hidden, self.vocab = config.num_hidden_layers, config.hidden_size, config.vocab_size
        heads = config.num_attention_heads
        self.width = heads * (getattr(config, "head_dim", None) or self.hidden // heads)
        frozen = lora = 0
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and "lm_head" not in name:
                if "lora_" in name:
                    lora += module.weight.numel()
                else:
                    frozen += module.weight.numel()
        self.frozen, self.lora = frozen, lora
        self.flops = 0.0

    def count(self, batch: dict[str, torch.Tensor]) -> None:
        from hone.tasks.chat import IGNORE

        tokens = int(batch["real_tokens"])
        linear = tokens * (4 * (self.frozen + self.lora) + 2 * self.lora)
        attention = 0.0
        for row in batch["position_ids"]:
            starts = (row == 0).nonzero().squeeze(1).tolist() + [len(row)]
            attention += sum((b - a) ** 2 for a, b in zip(starts, starts[1:], strict=False))
        attention *= 6 * self.width * self.layers
        positions = int((batch["labels"][:, 1:] != IGNORE).any(0).sum())
        self.flops += linear + attention + 4 * positions * self.vocab * self.hidden


def matmul_peak(size: int, reps: int, dtype: torch.dtype) -> dict[str, Any]:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    for _ in range(reps):
        a @ b
    return {"tflop": 2 * size**3 * reps / 1e12}


def run(settings: Settings) -> Result:
    sizes = SMOKE if settings.smoke else FULL
    bench = TrainBench(settings)
    bench.session = bench.hone_session()
    s = bench.session
    counter = Counter(s.accelerator.unwrap_model(s.model))
    collate = s.spec.collate

    def counted(features: Any) -> dict[str, torch.Tensor]:
        batch = collate(features)
        counter.count(batch)
        return batch

    s.spec.collate = counted
    s.spec.epochs = 1 << 20  # steps past the epoch keep coming (the rate, not the schedule, is measured)
    from hone.train.loop import train_steps

    steps = train_steps(s.model, s.optimizer, s.scheduler, s.accelerator, s.spec, s.pos)

    def hone_steps() -> dict[str, Any]:
        counter.flops, tokens, start = 0.0, 0, time.perf_counter()
        for _ in range(sizes.steps):
            tokens += next(steps).tokens
        return {
            "tflop": counter.flops / 1e12,
            "tokens": tokens,
            "steps": sizes.steps,
            "step_s": (time.perf_counter() - start) / sizes.steps,
        }

    cases = [
        Case("hone-step", "hone train-lora steps: model FLOPs/s", HONE, hone_steps, per="tflop"),
        Case(
            "peak-bf16",
            f"bf16 matmul {sizes.matmul}^3",
            COMPARISON,
            lambda: matmul_peak(sizes.matmul, sizes.matmul_reps, torch.bfloat16),
            per="tflop",
        ),
        Case(
            "peak-fp32",
            f"fp32 matmul {sizes.matmul}^3",
            COMPARISON,
            lambda: matmul_peak(sizes.matmul, sizes.matmul_reps, torch.float32),
            per="tflop",
        ),
    ]
    figures = measure(cases, settings)
    hone, *peaks = figures
    peaks.sort(key=lambda f: -f.value)  # the faster dtype is the headline peak
    figures = [hone, *peaks]
    workload = {
        "model": models.describe(bench.path, s.accelerator.unwrap_model(s.model), settings.smoke),
        "step": "train-lora's hone session (bench/train_lora.py): 1 packed row of up to "
        f"{bench.sizes.max_length} tokens, LoRA r {bench.sizes.r}, precision auto",
        "steps_per_repeat": sizes.steps,
        "model_flops": {
            "frozen_linear_weights": counter.frozen,
            "lora_weights": counter.lora,
            "rule": __doc__.split("\n\n")[2].replace("\n", " "),
        },
        "peak": f"{sizes.matmul}x{sizes.matmul} @ {sizes.matmul}x{sizes.matmul}, {sizes.matmul_reps} per repeat",
        "precision_hone_trains_in": s.accelerator.mixed_precision,
    }
    checks = {
        "mfu_vs_best_peak": hone.value / peaks[0].value,
        "best_peak": peaks[0].key,
        "mfu_vs_bf16_peak": hone.value / next(f for f in peaks if f.key == "peak-bf16").value,
    }
    return Result(NAME, __doc__.splitlines()[0], workload, figures, settings, checks)
