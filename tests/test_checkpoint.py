"""Checkpoints: atomic, pickle-free, checksummed; incomplete or damaged ones are never loaded."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from hone.train import checkpoint as ck
from scorecard import record


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
    with pytest.raises(ck.CheckpointError, match="No space left.*previous checkpoint step-00000001 is intact"):
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


# Every file-system call a save makes, in order; a kill can land between any two of them.
IO_CALLS = ("save_file", "_write_synced", "_fsync_file", "_fsync_dir", "os.replace", "shutil.rmtree")


def _count_io(monkeypatch: pytest.MonkeyPatch, on_call: Callable[[int, str], None]) -> None:
    """Wrap each I/O call of the checkpoint module so that `on_call(n, name)` runs before the n-th one."""
    counter = {"n": 0}
    for dotted in IO_CALLS:
        owner, name = (getattr(ck, dotted.split(".")[0]), dotted.split(".")[1]) if "." in dotted else (ck, dotted)
        real = getattr(owner, name)

        def wrapped(*args: object, _real: Callable = real, _name: str = dotted, **kwargs: object) -> object:
            counter["n"] += 1
            on_call(counter["n"], _name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(owner, name, wrapped)


def _kill_before(call: int) -> Callable[[int, str], None]:
    def on_call(n: int, name: str) -> None:
        if n == call:
            os.kill(os.getpid(), signal.SIGKILL)

    return on_call


def _save_with_rotation(root: Path) -> None:
    ck.save_checkpoint(root, ck.checkpoint_name("step", 4), _ckpt(4), keep=2)


def _three_checkpoints(root: Path) -> None:
    for step in (1, 2, 3):
        ck.save_checkpoint(root, ck.checkpoint_name("step", step), _ckpt(step))


def test_a_kill_before_any_io_call_of_a_save_leaves_a_loadable_newest_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGKILL a forked process just before each file-system call of a save that also rotates: every time,
    the newest complete checkpoint loads, no directory with a checkpoint's name is broken, and the newest
    is the new one exactly when the kill came after its rename into place."""
    seen: list[str] = []
    dry = tmp_path / "dry"
    _three_checkpoints(dry)
    with monkeypatch.context() as m:
        _count_io(m, lambda n, name: seen.append(name))
        _save_with_rotation(dry)
    renamed_at = seen.index("os.replace") + 1  # the call that puts step-4 in place
    assert len(seen) >= 10, seen
    for kill_at in range(1, len(seen) + 1):
        root = tmp_path / f"kill-{kill_at}"
        _three_checkpoints(root)
        pid = os.fork()
        if pid == 0:  # the child: dies the hard way just before call number `kill_at`
            try:
                _count_io(monkeypatch, _kill_before(kill_at))
                _save_with_rotation(root)
            finally:
                os._exit(3)  # only reached if the kill did not happen
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL, (kill_at, seen[kill_at - 1])
        for path in ck.checkpoints(root):
            if (path / ck.MARKER).exists():
                ck.verify(path)
        latest = ck.latest_checkpoint(root)
        assert latest.name == ("step-00000004" if kill_at > renamed_at else "step-00000003"), (kill_at, seen)
        assert ck.load_checkpoint(latest).state["position"]["step"] == int(latest.name[-1])
        _save_with_rotation(root)  # the next save succeeds and clears whatever the killed one left
        assert not list(root.glob(".tmp-*")), kill_at
        assert [p.name for p in ck.checkpoints(root)] == ["step-00000003", "step-00000004"]
    record(
        1,
        f"SIGKILL before each of the {len(seen)} I/O calls of a rotating save: the newest complete checkpoint "
        f"loaded {len(seen)} of {len(seen)} times",
    )


def test_non_finite_weights_are_never_saved(tmp_path: Path) -> None:
    ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1))
    poisoned = _ckpt(2)
    poisoned.weights["w"][1, 0] = float("inf")
    with pytest.raises(ck.CheckpointError, match="not saved, 1 weight tensor.*NaN or infinity.*train.lr"):
        ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 2), poisoned)
    assert [p.name for p in tmp_path.iterdir()] == ["step-00000001"]


def test_a_malformed_file_with_a_matching_checksum_is_an_error_not_a_crash(tmp_path: Path) -> None:
    path = ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1))
    (path / "model.safetensors").write_bytes(b"\xff" * 64)  # garbage, then a marker that vouches for it
    marker = json.loads((path / ck.MARKER).read_text())
    marker["files"]["model.safetensors"] = ck._sha256(path / "model.safetensors")
    (path / ck.MARKER).write_text(json.dumps(marker))
    with pytest.raises(ck.CheckpointError, match="do not parse"):
        ck.load_checkpoint(path)


def test_a_planted_pickle_makes_a_checkpoint_untrusted(tmp_path: Path) -> None:
    ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 1), _ckpt(1))
    newer = ck.save_checkpoint(tmp_path, ck.checkpoint_name("step", 2), _ckpt(2))
    (newer / "optimizer.pt").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ck.CheckpointError, match=r"pickle files \['optimizer.pt'\]"):
        ck.load_checkpoint(newer)
    assert ck.latest_checkpoint(tmp_path).name == "step-00000001"


def test_weights_of_another_shape_are_refused_by_name(tmp_path: Path) -> None:
    from hone.train.trainer import _load_weights

    model = torch.nn.Sequential(torch.nn.Linear(3, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(ck.CheckpointError, match=r"wrong shape \['0.weight'\].*model or method changed"):
        _load_weights(model, {"0.weight": torch.zeros(4, 3), "0.bias": torch.zeros(2)}, tmp_path)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # checked before any copy
