"""What a device can do: the GPUs a team asks about (memory, peak bf16 throughput) and a quick CPU probe."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gb: int
    peak_tflops: float  # dense bf16 (T4: fp16) tensor-core peak, from the vendor's data sheet


GPUS: tuple[Gpu, ...] = (
    Gpu("T4", 16, 65.0),
    Gpu("A10", 24, 125.0),
    Gpu("L4", 24, 121.0),
    Gpu("A100-40GB", 40, 312.0),
    Gpu("A100-80GB", 80, 312.0),
    Gpu("H100-SXM", 80, 989.0),
)
GPU_SIZES_GB: tuple[int, ...] = (16, 24, 40, 80)
# Share of a GPU's memory a training process can use: the CUDA allocator's slack and fragmentation take the rest.
USABLE_SHARE = 0.92
# A CUDA context (driver, cuBLAS/cuDNN workspaces) costs this much before the first tensor.
CUDA_CONTEXT_BYTES = int(0.75 * 1024**3)
# Small models keep a GPU far from its peak (kernel launches, short matmuls): an assumed model FLOPs utilisation.
GPU_MFU = 0.25
# Training on the CPU reaches this share of the matmul probe (calibrated with the shipped configs, see estimate).
CPU_MFU = 0.5


@dataclass(frozen=True)
class Throughput:
    device: str
    flops_per_s: float  # what training achieves: peak or probe times MFU
    peak_flops_per_s: float
    mfu: float
    how: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def cpu_throughput(m: int, k: int, n: int, bf16: bool) -> Throughput:
    probe = cpu_matmul_flops(m, k, n, bf16)
    how = f"{'bf16' if bf16 else 'fp32'} {m}x{k}x{n} matmul probe x MFU {CPU_MFU}"
    return Throughput("cpu", probe * CPU_MFU, probe, CPU_MFU, how)


def gpu_throughputs() -> list[Throughput]:
    return [
        Throughput(g.name, g.peak_tflops * 1e12 * GPU_MFU, g.peak_tflops * 1e12, GPU_MFU, "data sheet") for g in GPUS
    ]


def cuda_throughput() -> Throughput:
    """This machine's GPU from the table when there is one, else an A100-40GB (said in `how`)."""
    import torch

    name = torch.cuda.get_device_name() if torch.cuda.is_available() else ""
    table = gpu_throughputs()
    found = next((t for t in table if t.device.split("-")[0] in name), None)
    chosen = found or next(t for t in table if t.device == "A100-40GB")
    how = f"{chosen.device} data-sheet peak x MFU {chosen.mfu}" + ("" if found else " (no GPU here: assumed)")
    return Throughput(chosen.device, chosen.flops_per_s, chosen.peak_flops_per_s, chosen.mfu, how)


def usable_bytes(memory_gb: int) -> int:
    """The bytes a training process can allocate on a GPU sold as `memory_gb` GB (taken as GiB)."""
    return int(memory_gb * 1024**3 * USABLE_SHARE)


def cpu_matmul_flops(m: int, k: int, n: int, bf16: bool, seconds: float = 0.2) -> float:
    """FLOP/s of an (m x k) @ (k x n) matmul on this CPU with torch's threads, repeated for about `seconds`."""
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(m, k, dtype=dtype), torch.randn(k, n, dtype=dtype)
    a @ b  # the first call pays for thread start-up and packing buffers
    start, runs = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        a @ b
        runs += 1
    return 2.0 * m * k * n * runs / (time.perf_counter() - start)
