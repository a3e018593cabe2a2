"""The task-agnostic training loop: a generator of one record per optimizer step.

The loop knows nothing of tasks beyond `task.collate` and `task.loss`; evaluation, checkpoints,
early stopping and logging belong to the caller, which consumes the records (the shape of spaCy's
`train_while_improving`). Batch order is a pure function of (seed, epoch), and `Position` says how
far into it the run is, so a resumed run replays exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch

from hone.train.distributed import share, usable


class NonFiniteError(FloatingPointError):
    """The loss or the gradient became NaN or infinite; training on would only corrupt the weights."""


@dataclass
class Position:
    """How far training has come; saved in every checkpoint."""

    epoch: int = 0
    batch: int = 0  # batches of the current epoch already consumed
    step: int = 0  # optimizer steps taken
    examples: int = 0

    def to_json(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class StepRecord:
    step: int
    epoch: float
    loss: float
    lr: float
    grad_norm: float
    examples: int
    tokens: int
    seconds: float
    epoch_end: bool


def epoch_batches(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled batches of similar length: little padding, still random, same for the same epoch.

    Indices are shuffled, sorted by length inside windows of 50 batches, cut into batches, and the
    batches shuffled again, so each batch holds texts of similar length without a fixed order.
    """
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(lengths)))
    rng.shuffle(order)
    window = batch_size * 50
    grouped: list[int] = []
    for start in range(0, len(order), window):
        grouped.extend(sorted(order[start : start + window], key=lambda i: lengths[i]))
    batches = [grouped[i : i + batch_size] for i in range(0, len(grouped), batch_size)]
    rng.shuffle(batches)
    return batches


def steps_per_epoch(n_examples: int, batch_size: int, grad_accum: int, world: int = 1) -> int:
    """Optimizer steps in one epoch: global batches of `batch_size x world` (those every rank can share)
    grouped by `grad_accum`."""
    size = batch_size * world
    batches = n_examples // size + (1 if n_examples % size >= world else 0)
    return math.ceil(batches / grad_accum)


@dataclass
class LoopSpec:
    """What the loop needs besides the model: data, shapes of batches, and limits."""

    features: Sequence[dict[str, Any]]
    collate: Callable[[Sequence[dict[str, Any]]], dict[str, torch.Tensor]]
    loss: Callable[[torch.nn.Module, dict[str, torch.Tensor]], torch.Tensor]
    batch_size: int
    grad_accum: int
    epochs: int
    max_steps: int | None
    max_grad_norm: float
    seed: int


def train_steps(
    model: torch.nn.Module, optimizer: Any, scheduler: Any, accelerator: Any, spec: LoopSpec, pos: Position
) -> Iterator[StepRecord]:
    """Run optimizer steps from `pos` on, yielding after each one; `pos` is updated in place."""
    lengths = [len(f["input_ids"]) for f in spec.features]
    world = getattr(accelerator, "num_processes", 1)
    model.train()
    while pos.epoch < spec.epochs:
        batches = usable(epoch_batches(lengths, spec.batch_size * world, spec.seed, pos.epoch), world)
        for start in range(pos.batch, len(batches), spec.grad_accum):
            if spec.max_steps is not None and pos.step >= spec.max_steps:
                return
            group = batches[start : start + spec.grad_accum]
            record = _step(model, optimizer, scheduler, accelerator, spec, group, pos)
            pos.batch = start + len(group)
            record.epoch_end = pos.batch >= len(batches)
            if record.epoch_end:
                pos.epoch, pos.batch = pos.epoch + 1, 0
            record.epoch = pos.epoch + pos.batch / len(batches)
            yield record


def _step(
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    accelerator: Any,
    spec: LoopSpec,
    group: list[list[int]],
    pos: Position,
) -> StepRecord:
    start = time.perf_counter()
    world = getattr(accelerator, "num_processes", 1)
    rank = getattr(accelerator, "process_index", 0)
    total_loss, examples, tokens = 0.0, 0, 0
    for micro, global_batch in enumerate(group):
        indices = share(global_batch, rank, world)
        # This rank's share of the global batch's mean loss (x world: the gradients are averaged over ranks).
        weight = len(indices) * world / len(global_batch) / len(group)
        batch = {k: v.to(accelerator.device) for k, v in spec.collate([spec.features[i] for i in indices]).items()}
        # Gradients are averaged across ranks once per optimizer step, on its last micro-batch.
        with _no_sync(accelerator, model, world > 1 and micro < len(group) - 1):
            with accelerator.autocast():
                loss = spec.loss(model, batch)
            if not torch.isfinite(loss):
                raise NonFiniteError(f"loss is {loss.item()} at step {pos.step + 1}")
            accelerator.backward(loss * weight)
        total_loss += loss.item() * weight / world
        examples += len(indices)
        tokens += _real_tokens(batch)
    if world > 1:  # every rank logs the figures of the whole global batch
        totals = accelerator.reduce(torch.tensor([total_loss, examples, tokens], dtype=torch.float64), "sum")
        total_loss, examples, tokens = float(totals[0]), int(totals[1]), int(totals[2])
    grad_norm = accelerator.clip_grad_norm_(model.parameters(), spec.max_grad_norm)
    if not torch.isfinite(torch.as_tensor(grad_norm)):
        optimizer.zero_grad(set_to_none=True)
        raise NonFiniteError(f"gradient norm is {float(grad_norm)} at step {pos.step + 1}")
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    pos.step += 1
    pos.examples += examples
    lr = scheduler.get_last_lr()[0]
    return StepRecord(
        pos.step, 0.0, total_loss, lr, float(grad_norm), examples, tokens, time.perf_counter() - start, False
    )


def _no_sync(accelerator: Any, model: torch.nn.Module, skip: bool) -> Any:
    return accelerator.no_sync(model) if skip else contextlib.nullcontext()


def _real_tokens(batch: dict[str, torch.Tensor]) -> int:
    """Tokens that are not padding (packed batches say so themselves: they carry no attention mask)."""
    if "real_tokens" in batch:
        return int(batch["real_tokens"])
    return int(batch["attention_mask"].sum()) if "attention_mask" in batch else 0


def schedule_warning(total: int, lr: float, why: str) -> str | None:
    """What to tell the user when the schedule is over after the first step (`why` says where `total` comes from):
    the one step runs at `lr`, the decay then reaches 0, and metrics.jsonl logs lr 0 for a run that looks broken."""
    if total != 1:
        return None
    return (
        f"warning: this run has 1 optimizer step in all ({why}), so the learning rate schedule (warm-up, then "
        f"linear decay to 0 at the last step) is over after it: the step runs at lr {lr:g} and lr 0 is logged "
        "after it. That is a smoke test, not training: raise train.max_steps (or train.epochs, or add data)."
    )


def linear_schedule(optimizer: Any, warmup: int, total: int) -> torch.optim.lr_scheduler.LambdaLR:
    """Linear warm-up for `warmup` steps, then linear decay to zero at `total`."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
