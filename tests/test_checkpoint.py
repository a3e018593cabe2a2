"""Checkpoints: atomic, pickle-free, checksummed; incomplete or damaged ones are never loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from hone.train import checkpoint as ck


def _ckpt(step: int) -> ck.Checkpoint:
    weights = {"w": torch.full((3, 2), float(step)), "b": torch.arange(4.0)}
    optimizer = {
        "state": {0: {"step": torch.tensor(float(step)), "exp_avg": torch.ones(3, 2)}},
        "param_groups": [{"lr": 0.1, "params": [0], "betas": [0.9, 0.999]}],
    }
    return ck.Checkpoint(weights, optimizer, {"position": {"step": step}}, {"torch": torch.get_rng_state()})


def test_round_trip_and_no_pickle(tmp_path: Path) -> None:
    path = ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 5), _ckpt(5))
    assert sorted(p.name for p in path.iterdir()) == [
        "COMPLETE",
        "model.safetensors",
        "optimizer.json",
        "optimizer.safetensors",
        "rng.safetensors",
        "state.json",
    ]
    loaded = ck.load_checkpoint(path)
    assert torch.equal(loaded.weights["w"], torch.full((3, 2), 5.0))
    assert loaded.optimizer["param_groups"][0]["lr"] == 0.1
    assert torch.equal(loaded.optimizer["state"][0]["exp_avg"], torch.ones(3, 2))
    assert loaded.state == {"position": {"step": 5}}


def test_rotation_keeps_newest_complete(tmp_path: Path) -> None:
    for step in (1, 2, 3, 4):
        ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", step), _ckpt(step), keep=2)
    assert [p.name for p in ck.checkpoints(tmp_path)] == ["step-00000003", "step-00000004"]
    assert ck.latest_checkpoint(tmp_path).name == "step-00000004"


def test_incomplete_checkpoint_is_skipped(tmp_path: Path) -> None:
    ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1))
    newer = ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 2), _ckpt(2))
    (newer / ck.MARKER).unlink()  # as if killed before the marker was written
    assert ck.latest_checkpoint(tmp_path).name == "step-00000001"
    with pytest.raises(ck.CheckpointError, match="no COMPLETE marker"):
        ck.load_checkpoint(newer)


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corruption_detected_by_checksum(tmp_path: Path, damage: str) -> None:
    ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1))
    newer = ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 2), _ckpt(2))
    part = newer / "model.safetensors"
    data = part.read_bytes()
    if damage == "truncate":
        part.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        part.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    else:
        part.unlink()
    with pytest.raises(ck.CheckpointError, match="checksum does not match"):
        ck.load_checkpoint(newer)
    assert ck.latest_checkpoint(tmp_path).name == "step-00000001"


def test_failed_write_leaves_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1), keep=1)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "_write_synced", disk_full)
    with pytest.raises(OSError, match="No space left"):
        ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 2), _ckpt(2), keep=1)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000001"]  # no temp dir left behind
    assert ck.load_checkpoint(ck.latest_checkpoint(tmp_path)).state["position"]["step"] == 1


def test_marker_lists_every_file(tmp_path: Path) -> None:
    path = ck.save_checkpoint(tmp_path, ck.checkpoint_name("best", 3), _ckpt(3))
    files = json.loads((path / ck.MARKER).read_text())["files"]
    assert set(files) == {p.name for p in path.iterdir()} - {ck.MARKER}
    assert ck.latest_checkpoint(tmp_path, "best") == path and ck.latest_checkpoint(tmp_path) is None


def test_a_kill_while_rotating_never_leaves_a_half_deleted_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for step in (1, 2):
        ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", step), _ckpt(step))
    real_rmtree = ck.shutil.rmtree

    def killed_midway(path: Path, ignore_errors: bool = False) -> None:
        if Path(path).exists():
            next(Path(path).glob("*.safetensors")).unlink()  # one file gone, then the process dies
            raise KeyboardInterrupt

    monkeypatch.setattr(ck.shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        ck.rotate(tmp_path, "step", keep=1)
    monkeypatch.setattr(ck.shutil, "rmtree", real_rmtree)
    for path in ck.checkpoints(tmp_path):  # whatever still has a checkpoint's name is whole
        ck.verify(path)
    assert [p.name for p in ck.checkpoints(tmp_path)] == ["step-00000002"]
    [leftover] = tmp_path.glob(".tmp-del-*")
    leftover.rename(tmp_path / ".tmp-del-step-00000001-999999999")  # as left by a process now dead
    ck.rotate(tmp_path, "step", keep=1)
    assert not list(tmp_path.glob(".tmp-*"))
