"""Device, precision, threads and seeds: the environment a run trains in."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import torch


@cache
def cpu_has_bf16() -> bool:
    """True on CPUs with AMX bf16 tiles, the only CPUs where bf16 autocast pays off.

    AVX-512 bf16 alone is not enough: on such a CPU (2 threads, no AMX) a 512x576x1536 bf16 matmul ran at
    0.14 TFLOP/s against 0.23 for fp32, and a LoRA step on SmolLM2 was no faster under autocast, the casts
    costing more than the matmuls saved. With AMX the same matmul is about 7x faster in bf16.
    """
    try:
        return bf16_pays_on(Path("/proc/cpuinfo").read_text())
    except OSError:
        return False


def bf16_pays_on(cpuinfo: str) -> bool:
    """Whether a CPU with these /proc/cpuinfo flags should train and serve in bf16 autocast (AMX only)."""
    return "amx_bf16" in cpuinfo.split()


def choose_precision(setting: str) -> str:
    """Accelerate's mixed_precision value for a config's `train.precision`."""
    if setting == "fp32":
        return "no"
    if setting == "bf16":
        return "bf16"
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_bf16() else "no"


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextmanager
def compute_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op thread count set to the run's `train.threads` for one step (baseline, eval, predict,
    compare), the caller's restored after: in the Python API one process may run several runs' steps."""
    if not threads:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def make_accelerator(precision: str):  # noqa: ANN201 - accelerate is imported lazily
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState

    # Accelerate keeps one process-wide state; a second run in the same process (the Python API, a
    # notebook) may want another precision. Reset it, keeping the distributed part (PartialState).
    AcceleratorState._reset_state(reset_partial_state=False)
    return Accelerator(mixed_precision=choose_precision(precision), cpu=not torch.cuda.is_available())


def rng_state() -> dict[str, torch.Tensor]:
    """Every RNG the loop draws from, as tensors (saved with safetensors, never pickled)."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            state[f"cuda.{i}"] = s
    return state


def python_rng_state() -> list:
    version, internal, gauss = random.getstate()
    return [version, list(internal), gauss]


def restore_rng(tensors: dict[str, torch.Tensor], python_state: list | None) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[k] for k in sorted(tensors) if k.startswith("cuda.")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    if python_state is not None:
        version, internal, gauss = python_state
        random.setstate((version, tuple(internal), gauss))


def autocast_for_inference() -> Callable[[], Any]:
    """A context factory for inference in the precision `auto` would train in (bf16 where it is fast)."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    enabled = choose_precision("auto") == "bf16"
    return lambda: torch.autocast(device, dtype=torch.bfloat16, enabled=enabled)
