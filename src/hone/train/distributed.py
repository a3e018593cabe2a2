"""Data-parallel training across processes: which process this is, and each rank's share of a global batch.

hone trains data-parallel the way Accelerate launches it (`accelerate launch -m hone train ...`,
`torchrun --nproc_per_node N -m hone train ...`, or `hone train --processes N`): every process holds the
whole model, each takes its own share of every global batch, and gradients are averaged across processes
once per optimizer step. One process, the main one, writes: the run directory's files, metrics,
checkpoints, the final model and the registry; the others compute and wait at barriers.

The global batch is `train.batch_size` x processes x `train.grad_accum` (`batch_size` is per process).
Batch order is still a pure function of (seed, epoch), cut into global batches of `batch_size x
processes`, so a run replays exactly on resume with the same number of processes. Rank r takes every
processes-th example of a global batch starting at r, and its loss is weighted by its share, so the
averaged gradient is the gradient of the mean loss over the whole global batch, as one process with
the same global batch computes it. A global batch with fewer examples than processes (an epoch's last,
at most processes - 1 examples) is left out, as no rank may take an empty share.
"""

from __future__ import annotations

import os
from collections.abc import Sequence


def rank() -> int:
    """This process's rank, from the launcher's environment (0 when not launched data-parallel)."""
    return int(os.environ.get("RANK", "0"))


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main() -> bool:
    return rank() == 0


def share(indices: Sequence[int], rank: int, world: int) -> list[int]:
    """Rank `rank`'s examples of one global batch: every `world`-th, starting at `rank`."""
    return list(indices[rank::world])


def usable(batches: list[list[int]], world: int) -> list[list[int]]:
    """The global batches every rank can take a share of (each needs at least one example)."""
    return batches if world == 1 else [b for b in batches if len(b) >= world]
