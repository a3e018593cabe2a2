"""Data-parallel training on 2 CPU processes (gloo), launched the way users launch it (`hone train --processes
2`, which runs torchrun): each rank takes its own half of every global batch, the weights equal one process
training on the same global batches, one process writes, and a rank killed mid-run resumes exactly."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from safetensors.torch import load_file

from hone.train.distributed import share, usable
from hone.train.loop import LoopSpec, Position, epoch_batches, steps_per_epoch, train_steps

# --- each rank's share --------------------------------------------------------------------------------------


class RankOf:
    """What the loop uses of an Accelerator, as rank `rank` of `world` sees it (no process group)."""

    device = torch.device("cpu")

    def __init__(self, rank: int, world: int) -> None:
        self.process_index, self.num_processes = rank, world

    def autocast(self) -> Any:
        return contextlib.nullcontext()

    def no_sync(self, model: Any) -> Any:
        return contextlib.nullcontext()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def reduce(self, tensor: torch.Tensor, op: str) -> torch.Tensor:
        return tensor

    def clip_grad_norm_(self, params: Any, norm: float) -> torch.Tensor:
        return torch.nn.utils.clip_grad_norm_(params, norm)


def _seen_by(rank: int, world: int, n: int = 37, batch_size: int = 4, grad_accum: int = 2) -> list[list[int]]:
    seen: list[list[int]] = []
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    features = [{"input_ids": [0] * (1 + i % 5), "i": i} for i in range(n)]

    def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
        seen.append([r["i"] for r in rows])
        return {"x": torch.ones(len(rows), 1)}

    spec = LoopSpec(features, collate, lambda m, b: m(b["x"]).mean(), batch_size, grad_accum, 2, None, 1.0, 7)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    steps = list(train_steps(model, optimizer, scheduler, RankOf(rank, world), spec, Position()))
    assert len(steps) == 2 * steps_per_epoch(n, batch_size, grad_accum, world)
    return seen


def test_ranks_take_disjoint_shares_that_make_up_each_global_batch() -> None:
    zero, one = _seen_by(0, 2), _seen_by(1, 2)
    assert len(zero) == len(one)
    lengths = [1 + i % 5 for i in range(37)]
    globals_ = [b for e in range(2) for b in usable(epoch_batches(lengths, 8, 7, e), 2)]
    for mine, theirs, whole in zip(zero, one, globals_, strict=True):
        assert not set(mine) & set(theirs) and sorted(mine + theirs) == sorted(whole)
        assert len(mine) == len(share(whole, 0, 2)) and abs(len(mine) - len(theirs)) <= 1
    # One process with the same global batch takes the same examples, all of them.
    assert [sorted(b) for b in _seen_by(0, 1, batch_size=8)] == [sorted(b) for b in globals_]


def test_a_global_batch_too_small_to_share_is_left_out() -> None:
    assert usable([[1, 2, 3], [4]], 2) == [[1, 2, 3]] and usable([[4]], 1) == [[4]]
    assert steps_per_epoch(17, 4, 1, 2) == 2  # 8 + 8 + 1: the single example left cannot be shared
    assert steps_per_epoch(18, 4, 1, 2) == 3 and steps_per_epoch(17, 4, 1) == 5


# --- 2 processes, end to end ---------------------------------------------------------------------------------

KILL_RANK_ONE = """
import os, signal
from hone.train import loop

_steps = loop.train_steps

def train_steps(*args, **kwargs):
    for record in _steps(*args, **kwargs):
        if os.environ.get("RANK") == "1" and record.step == int(os.environ["HONE_TEST_KILL_AT"]):
            os.kill(os.getpid(), signal.SIGKILL)
        yield record

loop.train_steps = train_steps
"""


@pytest.fixture
def project(tmp_path: Path, config_dict: dict[str, Any]) -> Path:
    """A config whose model has no dropout, so one and two processes can reach the same weights."""
    model = Path(config_dict["model"]["name"])
    still = tmp_path / "still"
    still.mkdir()
    for f in model.iterdir():
        (still / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((still / "config.json").read_text())
    cfg.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (still / "config.json").write_text(json.dumps(cfg))
    config_dict["model"]["name"] = str(still)
    config_dict["train"].update(epochs=2, batch_size=8, save_every=5, keep_checkpoints=2, eval_every=None)
    config_dict["runs_dir"] = str(tmp_path / "runs")
    (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
    return tmp_path


def _hone(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", **env}
    return subprocess.run(
        [sys.executable, "-m", "hone", *args], cwd=project, env=environment, capture_output=True, text=True, timeout=600
    )


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return load_file(str(next((run / "model").glob("*.safetensors"))))


def _steps(run: Path) -> list[int]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [line["step"] for line in lines if "loss" in line]


def test_two_processes_train_like_one_with_the_same_global_batch_and_resume_exactly(project: Path) -> None:
    one = _hone(project, "train", "hone.yaml", "--set", "name=one", "--set", "train.batch_size=8")
    assert one.returncode == 0, one.stderr[-3000:]
    two = _hone(project, "train", "hone.yaml", "--set", "name=two", "--set", "train.batch_size=4", "--processes", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    runs = project / "runs"
    assert _steps(runs / "two") == _steps(runs / "one") == list(range(1, len(_steps(runs / "one")) + 1))
    w1, w2 = _weights(runs / "one"), _weights(runs / "two")
    assert w1.keys() == w2.keys()
    for name in w1:
        torch.testing.assert_close(w2[name], w1[name], rtol=1e-4, atol=1e-5, msg=name)
    evaluated = _hone(project, "eval", str(runs / "two"))
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]

    # Rank 1 killed by SIGKILL at step 8 (checkpoints every 5 steps): torchrun stops rank 0, and --resume on
    # 2 processes finishes with the weights of the uninterrupted 2-process run.
    hook = project / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(KILL_RANK_ONE)
    killed = _hone(
        project,
        "train",
        "hone.yaml",
        "--set",
        "name=killed",
        "--set",
        "train.batch_size=4",
        "--processes",
        "2",
        PYTHONPATH=os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", "")]),
        HONE_TEST_KILL_AT="8",
    )
    assert killed.returncode != 0 and not (runs / "killed" / "model").exists()
    assert max(_steps(runs / "killed")) < len(_steps(runs / "two"))
    resumed = _hone(
        project,
        "train",
        "hone.yaml",
        "--set",
        "name=killed",
        "--set",
        "train.batch_size=4",
        "--processes",
        "2",
        "--resume",
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert _steps(runs / "killed") == _steps(runs / "two")
    w3 = _weights(runs / "killed")
    for name in w2:
        torch.testing.assert_close(w3[name], w2[name], rtol=0, atol=0, msg=name)
