"""Measure what a config costs: a few real optimizer steps of hone's own training session, in a fresh process.

"Peak memory" here is the training process's peak resident set size (`ru_maxrss`) over reading and tokenising
the data, loading the model and the measured optimizer steps, minus the resident size right after the imports
(torch, transformers, peft, accelerate, hone) and before any data or model is loaded. The high-water mark is reset
after the imports (Linux `/proc/self/clear_refs`), so what the imports allocated and freed never counts. A
high-water mark belongs to a whole process, so each measurement runs in a fresh `python -m hone.plan.measure`
process; the caller's own memory never counts either.

Every measured step trains on the peak batch: the `train.batch_size` longest training rows, the batch the loop's
length grouping puts the longest rows in (`hone.plan.estimate.peak_batch`), so a few steps see the worst case
that a whole epoch would. Seconds per step are the median of the steps after the first (the first pays one-off
costs: thread pools, the allocator growing); with one step, that step.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from hone.config import HoneConfig, dump_config

PEAK_MEANING = (
    "peak resident memory (ru_maxrss) of a fresh training process over data, model load and the measured steps, "
    "minus its resident memory after the imports"
)


class MeasureError(RuntimeError):
    """The measuring process failed; the message carries the end of its stderr."""


def measure(config: HoneConfig, steps: int = 3, timeout_s: float = 1800.0) -> dict[str, Any]:
    """Run `steps` real optimizer steps of `config` in a fresh process; return its peak memory and speed.

    Returns {"peak_bytes", "base_rss_bytes", "setup_peak_bytes", "seconds_per_step", "step_seconds", "steps",
    "tokens_per_step", "meaning"}. Raises MeasureError when the process fails or runs past `timeout_s`.
    """
    if steps < 1:
        raise ValueError(f"--steps {steps}: measure at least one optimizer step")
    with tempfile.TemporaryDirectory(prefix="hone-measure-") as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_text(dump_config(config), encoding="utf-8")
        command = [sys.executable, "-m", "hone.plan.measure", str(path), str(steps), tmp]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
        except subprocess.TimeoutExpired:
            raise MeasureError(f"measuring {steps} step(s) ran past {timeout_s:.0f} s; use fewer --steps") from None
    if done.returncode != 0:
        raise MeasureError(f"the measuring process failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(prediction: dict[str, Any], measured: dict[str, Any]) -> dict[str, Any]:
    """Predicted against measured: memory and seconds per step (both on the peak batch), each with the ratio
    measured / predicted, and what the calibration constants would have to be for the prediction to match."""
    from hone.plan.estimate import ACTIVATION_FACTOR

    components = prediction["memory"]["components"]
    predicted_bytes, measured_bytes = prediction["memory"]["total_bytes"], measured["peak_bytes"]
    predicted_s, measured_s = prediction["time"]["peak_step_seconds"], measured["seconds_per_step"]
    epoch_steps = prediction["time"]["epoch_flops"] / max(prediction["time"]["peak_step_flops"], 1.0)
    activations = components["activations"]
    return {
        "memory": {
            "predicted_bytes": predicted_bytes,
            "measured_bytes": measured_bytes,
            "ratio": measured_bytes / max(predicted_bytes, 1),
            "error": abs(predicted_bytes - measured_bytes) / max(measured_bytes, 1),
        },
        "seconds_per_step": {"predicted": predicted_s, "measured": measured_s, "ratio": measured_s / predicted_s},
        "seconds_per_epoch": {
            "predicted": prediction["time"]["seconds_per_epoch"],
            "measured": measured_s * epoch_steps,  # the peak step's time scaled by the epoch's FLOPs
        },
        "fit": {
            "activation_factor": ACTIVATION_FACTOR * (measured_bytes - predicted_bytes + activations) / activations
            if activations
            else None,
            "mfu": prediction["time"]["throughput"]["mfu"] * predicted_s / measured_s,
        },
        "measured": measured,
    }


def current_rss_bytes() -> int:
    """This process's resident set size now (Linux /proc; elsewhere the high-water mark so far)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return peak_rss_bytes()


def reset_peak() -> bool:
    """Reset this process's resident high-water mark to its current size (Linux >= 4.0); False where it cannot."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def child(config_path: Path, steps: int, scratch: Path) -> dict[str, Any]:
    """The measured work, in this (fresh) process: hone's training session, then `steps` optimizer steps."""
    import accelerate  # noqa: F401 - imported before the baseline so imports never count as training memory
    import peft  # noqa: F401
    import torch  # noqa: F401
    import transformers  # noqa: F401

    from hone.config import load_config
    from hone.train.trainer import _build

    reset = reset_peak()
    base = current_rss_bytes()
    config = load_config(config_path)
    session = _session(config, scratch, _build)
    setup_peak = peak_rss_bytes() - base
    seconds, tokens = _steps(session, steps)
    return {
        "peak_bytes": peak_rss_bytes() - base,
        "base_rss_bytes": base,
        "setup_peak_bytes": setup_peak,
        "seconds_per_step": statistics.median(seconds[1:] or seconds),
        "step_seconds": seconds,
        "steps": len(seconds),
        "tokens_per_step": tokens / max(len(seconds), 1),
        "peak_reset_after_imports": reset,
        "meaning": PEAK_MEANING,
    }


def _session(config: HoneConfig, scratch: Path, build: Any) -> Any:
    """The session `hone train` builds: the data checked and split, the training examples, model, optimizer."""
    from hone import pipeline
    from hone.models.resolve import resolve_model
    from hone.runs.rundir import RunDir
    from hone.tasks import spec_for

    checked = pipeline.check(config)
    checked.raise_for_errors()
    spec = spec_for(config.task)
    examples = [ex for split in checked.splits.values() for ex in split]
    task = spec.task.from_config(config, examples)
    train = spec.augment(config, str(resolve_model(config.model.name)), task, checked.splits["train"])
    return build(config, RunDir(scratch / "run"), task, train, [])


def _steps(session: Any, steps: int) -> tuple[list[float], int]:
    from hone.plan.estimate import peak_batch
    from hone.train.loop import train_steps

    s, seconds, tokens = session, [], 0
    s.spec.features = peak_batch(s.spec.features, s.spec.batch_size) * s.spec.grad_accum  # one step an epoch
    s.spec.max_steps = None  # the config's own limit must not cut the measurement short
    s.spec.epochs = steps
    start = time.perf_counter()
    for record in train_steps(s.model, s.optimizer, s.scheduler, s.accelerator, s.spec, s.pos):
        now = time.perf_counter()
        seconds.append(now - start)  # the record's own time, plus the batch collation before it
        tokens += record.tokens
        start = now
        if len(seconds) >= steps:
            break
    return seconds, tokens


if __name__ == "__main__":
    print(json.dumps(child(Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]))))
