"""Fit a task's model: the loop's records drive logging, dev evaluation, checkpoints and stopping.

This is the only place that knows a run's lifecycle: resume from the newest complete checkpoint,
evaluate on dev, keep the best weights, checkpoint atomically, stop cleanly on a signal, refuse to
train on after a non-finite loss, and write the final model.
"""

from __future__ import annotations

import json
import math
import os
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hone.config.schema import HoneConfig
from hone.models.adapt import adapt, checkpoint_activations, count_parameters, param_groups, trainable_state
from hone.models.resolve import quiet_transformers, resolve_model
from hone.runs.rundir import RunDir
from hone.tasks.base import Task, model_inputs
from hone.train import checkpoint as ck
from hone.train.distributed import is_main
from hone.train.loop import (
    LoopSpec,
    Position,
    StepRecord,
    linear_schedule,
    schedule_warning,
    steps_per_epoch,
    train_steps,
)
from hone.train.progress import TrainProgress
from hone.train.save import save_final_model
from hone.train.setup import (
    compute_threads,
    make_accelerator,
    python_rng_state,
    restore_rng,
    rng_state,
    seed_everything,
)
from hone.train.signals import StopFlag, Stopped, graceful_stop


@dataclass
class Tracker:
    """Early-stopping state; saved in checkpoints so a resumed run stops where the original would."""

    best_score: float | None = None
    best_step: int | None = None
    evals_since_best: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def update(self, step: int, score: float, higher_is_better: bool) -> bool:
        better = self.best_score is None or (score > self.best_score if higher_is_better else score < self.best_score)
        if better:
            self.best_score, self.best_step, self.evals_since_best = score, step, 0
        else:
            self.evals_since_best += 1
        return better


@dataclass
class FitResult:
    steps: int
    best_step: int | None
    best_score: float | None
    stopped_early: bool
    model_dir: Path
    trainable: int
    total: int


@dataclass
class Session:
    """Everything one fit needs, built once."""

    config: HoneConfig
    run: RunDir
    task: Task
    model: Any
    tokenizer: Any
    optimizer: Any
    scheduler: Any
    accelerator: Any
    spec: LoopSpec
    dev: Sequence[Any]
    pos: Position = field(default_factory=Position)
    tracker: Tracker = field(default_factory=Tracker)
    total_steps: int = 0
    trackers: Any = None  # hone.track.Trackers when train.report_to names any: gets every metrics.jsonl line


def fit(
    config: HoneConfig,
    run: RunDir,
    task: Task,
    train: Sequence[Any],
    dev: Sequence[Any],
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[Session, StepRecord], None] | None = None,
    trackers: Any = None,
) -> FitResult:
    """Train `task` on `train`, select on `dev`, write `run.model`. Raises Stopped on a signal.

    `trackers` (hone.track.Trackers, opened by the caller) get every line written to metrics.jsonl."""
    with compute_threads(config.train.threads):  # the caller's thread count comes back after, as for eval
        return _fit(config, run, task, train, dev, resume, progress, on_step, trackers)


def _fit(
    config: HoneConfig,
    run: RunDir,
    task: Task,
    train: Sequence[Any],
    dev: Sequence[Any],
    resume: bool,
    progress: bool,
    on_step: Callable[[Session, StepRecord], None] | None,
    trackers: Any,
) -> FitResult:
    session = _build(config, run, task, train, dev)
    session.trackers = trackers
    if resume:
        _resume(session)
        if trackers is not None:
            trackers.resumed(session.pos.step)
    elif run.checkpoints.exists() and ck.checkpoints(run.checkpoints):
        raise FileExistsError(
            f"{run.path} already has checkpoints; continue it with `--resume`, or choose a new run name"
        )
    elif session.accelerator.is_main_process:
        _warn_short_schedule(session, len(train))
    main = session.accelerator.is_main_process
    bar = TrainProgress(session.total_steps, session.pos.step, enabled=progress and main)
    with graceful_stop() as stop, stop.deferred(), bar, out_of_memory_explained(session):
        stopped_early = _run(session, stop, bar, on_step)
        result = _finish(session, stopped_early)
        if stop:  # the signal came during the final save, which completed first
            raise Stopped(stop.signum or 15, str(ck.latest_checkpoint(run.checkpoints)), " after the final save")
    return result


def _warn_short_schedule(s: Session, rows: int) -> None:
    tc = s.config.train
    why = (
        f"train.max_steps {tc.max_steps}"
        if tc.max_steps == s.total_steps
        else f"{rows} training example(s) at train.batch_size {tc.batch_size} x train.grad_accum {tc.grad_accum}, "
        f"train.epochs {tc.epochs}"
    )
    warning = schedule_warning(s.total_steps, tc.lr, why)
    if warning:
        print(warning, file=sys.stderr, flush=True)


class OutOfMemory(RuntimeError):
    """A step needed more memory than the device has; the message says what this run needs and what to lower."""


@contextmanager
def out_of_memory_explained(s: Session) -> Iterator[None]:
    """Turn the allocator's out-of-memory error (CUDA's or the CPU's) into OutOfMemory with the run's sizes."""
    try:
        yield
    except RuntimeError as exc:  # torch.OutOfMemoryError is a RuntimeError; the CPU allocator raises a plain one
        text = str(exc)
        if not (isinstance(exc, torch.OutOfMemoryError) or "can't allocate memory" in text or "out of memory" in text):
            raise
        raise OutOfMemory(_oom_message(s, text.splitlines()[0] if text else type(exc).__name__)) from None


def _oom_message(s: Session, reason: str) -> str:
    model = s.accelerator.unwrap_model(s.model)
    params = list(model.parameters())
    weights = sum(p.numel() * p.element_size() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    gib = 1024**3
    need = weights + trainable * (4 + 8)  # fp32 gradients, AdamW's two moments
    tc, latest = s.config.train, ck.latest_checkpoint(s.run.checkpoints)
    return (
        f"out of memory at step {s.pos.step + 1} ({reason[:200]}). This run holds {weights / gib:.2f} GiB of weights; "
        f"with {trainable / 1e6:.1f}M trainable parameters it needs about {need / gib:.2f} GiB before activations "
        f"(weights, gradients, optimizer state), plus activations that grow with train.batch_size "
        f"({tc.batch_size}) x data.max_length ({s.config.data.max_length}). Lower train.batch_size and raise "
        f"train.grad_accum to keep the effective batch, lower data.max_length, or train fewer weights "
        f"(model.method: lora). "
        + (f"The checkpoint {latest.name} is intact." if latest else "No checkpoint was written yet.")
    )


def _build(config: HoneConfig, run: RunDir, task: Task, train: Sequence[Any], dev: Sequence[Any]) -> Session:
    from transformers import AutoTokenizer

    quiet_transformers()
    seed_everything(config.seed)
    model_dir = str(resolve_model(config.model.name))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = adapt(
        task.build_model(model_dir),
        config.model.method,
        config.model.lora,
        task.head_modules,
        task.peft_task_type,
        getattr(config.model, "virtual_tokens", 20),
    )
    tc = config.train
    if tc.gradient_checkpointing:
        checkpoint_activations(model)
    optimizer = make_optimizer(param_groups(model, tc, task.head_modules))
    features = task.encode(train, tokenizer)  # may pack several examples per row: steps count rows
    accelerator = make_accelerator(tc.precision)
    per_epoch = steps_per_epoch(len(features), tc.batch_size, tc.grad_accum, accelerator.num_processes)
    total = min(tc.max_steps or per_epoch * tc.epochs, per_epoch * tc.epochs)
    scheduler = linear_schedule(optimizer, int(tc.warmup_ratio * total), total)
    model, optimizer = accelerator.prepare(model, optimizer)  # data-parallel: rank 0's weights on every rank
    if accelerator.num_processes > 1 and accelerator.process_index > 0:
        torch.manual_seed(config.seed + accelerator.process_index)  # own dropout masks; rank 0 = one process
    spec = LoopSpec(
        features=features,
        collate=lambda f: task.collate(f, tokenizer),
        loss=task.loss,
        batch_size=tc.batch_size,
        grad_accum=tc.grad_accum,
        epochs=tc.epochs,
        max_steps=tc.max_steps,
        max_grad_norm=tc.max_grad_norm,
        seed=config.seed,
    )
    return Session(
        config,
        run,
        task,
        model,
        tokenizer,
        optimizer,
        scheduler,
        accelerator,
        spec,
        list(dev),
        total_steps=total,
    )


def make_optimizer(groups: list[dict[str, Any]]) -> torch.optim.AdamW:
    """AdamW, fused into one kernel where torch has one for these weights.

    On CPU the default AdamW loops over every tensor in Python: a step over MiniLM's 22.7M weights took
    120 ms, the fused kernel 21 ms (same update rule; a resumed run uses the same kernel, so it still
    reaches the same weights).
    """
    params = [p for group in groups for p in group["params"]]
    fused = bool(params) and all(p.dtype in (torch.float32, torch.float16, torch.bfloat16) for p in params)
    fused = fused and len({p.device.type for p in params}) == 1 and params[0].device.type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, fused=fused or None)


def _run(s: Session, stop: StopFlag, bar: TrainProgress, on_step: Callable[[Session, StepRecord], None] | None) -> bool:
    tc = s.config.train
    for record in train_steps(s.model, s.optimizer, s.scheduler, s.accelerator, s.spec, s.pos):
        _log(
            s,
            {
                "step": record.step,
                "epoch": round(record.epoch, 4),
                "loss": record.loss,
                "lr": record.lr,
                "grad_norm": record.grad_norm,
                "examples_per_s": record.examples / max(record.seconds, 1e-9),
                "tokens_per_s": record.tokens / max(record.seconds, 1e-9),
            },
        )
        bar.update(record)
        if on_step is not None:
            on_step(s, record)
        evaluate_now = (record.step % tc.eval_every == 0) if tc.eval_every else record.epoch_end
        if evaluate_now and s.dev:
            _evaluate_dev(s, record, bar)
        save_now = (record.step % tc.save_every == 0) if tc.save_every else evaluate_now
        if save_now or stop:
            _save_step(s)
        if stop:
            raise Stopped(stop.signum or 15, str(ck.latest_checkpoint(s.run.checkpoints)))
        if tc.patience and s.tracker.evals_since_best >= tc.patience:
            bar.note(f"early stop: dev {s.task.primary_metric} has not improved for {tc.patience} evaluations")
            return True
    return False


def _evaluate_dev(s: Session, record: StepRecord, bar: TrainProgress) -> None:
    metric, higher_is_better = dev_metric(s.task)
    # Every rank scores dev on its own (unwrapped: no collective calls) copy of the same weights, so all
    # agree on the best step and on early stopping without exchanging anything.
    model = s.accelerator.unwrap_model(s.model) if s.accelerator.num_processes > 1 else s.model
    metrics = dev_metrics(s.task, model, s.tokenizer, s.dev, s.config.eval.batch_size, s.accelerator.autocast)
    score = metrics[metric]
    improved = s.tracker.update(record.step, score, higher_is_better)
    s.tracker.history.append({"step": record.step, "score": score})
    _log(s, {"step": record.step, "epoch": round(record.epoch, 4), "dev": metrics})
    bar.note(f"step {record.step}: dev {metric} {score:.4f}" + (" (best)" if improved else ""))
    if improved:
        snapshot = _snapshot(s, optimizer=False)
        if s.accelerator.is_main_process:
            ck.save_checkpoint(s.run.checkpoints, ck.checkpoint_name("best", record.step), snapshot, keep=1)
        s.accelerator.wait_for_everyone()


def dev_metric(task: Task) -> tuple[str, bool]:
    """The dev metric that selects checkpoints: the task's primary metric, unless the task names a cheaper one
    (generative tasks select on held-out loss instead of generating every dev answer at every evaluation)."""
    metric = getattr(task, "dev_metric", task.primary_metric)
    return metric, getattr(task, "dev_higher_is_better", task.higher_is_better)


def dev_metrics(task: Task, model: Any, tokenizer: Any, dev: Sequence[Any], batch_size: int, autocast: Any) -> dict:
    own = getattr(task, "dev_metrics", None)
    if own is not None:
        return own(model, tokenizer, dev, batch_size, autocast)
    predicted, _ = task.predict(model, tokenizer, model_inputs(dev), batch_size, autocast)
    return task.metrics(task.gold(dev), predicted)["metrics"]


def _snapshot(s: Session, optimizer: bool = True) -> ck.Checkpoint:
    model = s.accelerator.unwrap_model(s.model)
    state = {
        "position": s.pos.to_json(),
        "tracker": {
            "best_score": s.tracker.best_score,
            "best_step": s.tracker.best_step,
            "evals_since_best": s.tracker.evals_since_best,
            "history": s.tracker.history,
        },
        "scheduler": s.scheduler.state_dict(),
        "python_rng": python_rng_state(),
        "total_steps": s.total_steps,
    }
    return ck.Checkpoint(trainable_state(model), s.optimizer.state_dict() if optimizer else None, state, _rng(s))


def _rng(s: Session) -> dict[str, torch.Tensor]:
    """This process's RNG states, and with several processes every other rank's as `rank<r>.<name>`."""
    mine = rng_state()
    if s.accelerator.num_processes == 1:
        return mine
    from accelerate.utils import gather_object

    ranks = gather_object([mine])  # every rank's, in rank order (sent through torch.distributed, not written)
    return {**mine, **{f"rank{r}.{name}": t for r, theirs in enumerate(ranks) if r for name, t in theirs.items()}}


def _save_step(s: Session) -> None:
    snapshot = _snapshot(s)
    if s.accelerator.is_main_process:
        name = ck.checkpoint_name("step", s.pos.step)
        ck.save_checkpoint(s.run.checkpoints, name, snapshot, keep=s.config.train.keep_checkpoints)
    s.accelerator.wait_for_everyone()


def _resume(s: Session) -> None:
    path = ck.latest_checkpoint(s.run.checkpoints)
    if path is None:
        raise FileNotFoundError(
            f"{s.run.checkpoints}: no complete checkpoint to resume from; start the run without --resume"
        )
    state = ck.load_checkpoint(path)
    _load_weights(s.accelerator.unwrap_model(s.model), state.weights, path)
    if state.optimizer is not None:
        s.optimizer.load_state_dict(state.optimizer)
    s.scheduler.load_state_dict(state.state["scheduler"])
    s.pos = Position(**state.state["position"])
    s.tracker = Tracker(**state.state["tracker"])
    restore_rng(_rng_of_this_rank(s, state.rng, path), state.state.get("python_rng"))
    if s.accelerator.is_main_process:
        _truncate_metrics(s.run.metrics, s.pos.step)
    s.accelerator.wait_for_everyone()


def _rng_of_this_rank(s: Session, saved: dict[str, torch.Tensor], path: Path) -> dict[str, torch.Tensor]:
    rank, world = s.accelerator.process_index, s.accelerator.num_processes
    saved_world = 1 + len({name.split(".", 1)[0] for name in saved if name.startswith("rank")})
    if saved_world != world and s.accelerator.is_main_process:
        warnings.warn(
            f"{path} was written by {saved_world} process(es) and this run has {world}: it continues from that "
            "checkpoint, but the batches each process takes (and so the weights) differ from an uninterrupted run",
            stacklevel=2,
        )
    if rank == 0:
        return {name: t for name, t in saved.items() if not name.startswith("rank")}
    prefix = f"rank{rank}."
    own = {name[len(prefix) :]: t for name, t in saved.items() if name.startswith(prefix)}
    return own or {name: t for name, t in saved.items() if not name.startswith("rank")}


def _load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor], path: Path) -> None:
    params = dict(model.named_parameters())
    missing = [n for n, p in params.items() if p.requires_grad and n not in weights]
    unknown = [n for n in weights if n not in params]
    wrong = [n for n, t in weights.items() if n in params and params[n].shape != t.shape]
    if missing or unknown or wrong:
        raise ck.CheckpointError(
            f"{path} does not match this model (missing {missing[:3]}, unexpected {unknown[:3]}, wrong shape "
            f"{wrong[:3]}); "
            "was the config's model or method changed since the run started?"
        )
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)


def _truncate_metrics(path: Path, step: int) -> None:
    """Drop log lines written after the checkpoint (and a line torn by a kill), so the log reads as one run."""
    if not path.exists():
        return
    kept = [line for line in path.read_text().splitlines() if (_logged_step(line) or step + 1) <= step]
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


def _logged_step(line: str) -> int | None:
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return None


def _log(s: Session, payload: dict[str, Any]) -> None:
    if not is_main():
        return
    clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in payload.items()}
    with open(s.run.metrics, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(clean) + "\n")
    if s.trackers is not None:
        s.trackers.log_step(clean)  # queued: a tracker never holds up or stops a step


def _finish(s: Session, stopped_early: bool) -> FitResult:
    if s.pos.step == 0:
        raise RuntimeError("no training step was taken; check train.epochs/max_steps and the training data")
    _save_step(s)  # the last position, so `--resume` of a finished run has nothing left to do
    model = s.accelerator.unwrap_model(s.model)
    best = ck.latest_checkpoint(s.run.checkpoints, "best")
    if best is not None and s.dev:
        _load_weights(model, ck.load_checkpoint(best).weights, best)
    if s.accelerator.is_main_process:
        save_final_model(model, s.tokenizer, s.task, s.config, s.run.model)
    s.accelerator.wait_for_everyone()
    trainable, total = count_parameters(model)
    return FitResult(
        s.pos.step, s.tracker.best_step, s.tracker.best_score, stopped_early, s.run.model, trainable, total
    )
