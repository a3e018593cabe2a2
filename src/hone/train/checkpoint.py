"""Atomic, pickle-free checkpoints.

A checkpoint is a directory `step-00000040/` holding safetensors (weights, optimizer tensors, RNG
states) and JSON (training position, scheduler, optimizer hyper-parameters). It is written into a
hidden temporary directory, every file fsynced, a COMPLETE marker with each file's SHA-256 written
last, then the directory is renamed into place. Only directories with a COMPLETE marker whose
checksums match are ever loaded, and older checkpoints are removed only after a newer one is
complete — so a kill at any moment leaves the newest complete checkpoint loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from hone.models.resolve import is_pickle_name

MARKER = "COMPLETE"
_NAME = re.compile(r"^(step|best)-(\d{8})$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be trusted (incomplete, corrupted, or not matching the model)."""


@dataclass
class Checkpoint:
    """What a checkpoint holds, in memory."""

    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    state: dict[str, Any]
    rng: dict[str, torch.Tensor]


def save_checkpoint(root: Path, name: str, ckpt: Checkpoint, keep: int | None = None) -> Path:
    """Write `ckpt` as `root/name` (`step-N` or `best-N`) atomically; then keep the newest `keep` of its kind.

    Non-finite weights are refused before anything is written. A write error (a full disk, a quota)
    leaves the earlier checkpoints as they were and raises CheckpointError saying so.
    """
    _refuse_non_finite(ckpt.weights, name)
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        files = _write_parts(tmp, ckpt)
        _write_synced(tmp / MARKER, json.dumps({"files": files}, indent=1).encode())
        _fsync_dir(tmp)
        if final.exists():  # a leftover of a run that died after this step: replace it whole
            remove_checkpoint(final)
        os.replace(tmp, final)
        _fsync_dir(root)
    except (OSError, SafetensorError) as exc:  # safetensors reports its own I/O errors (a full disk) as these
        shutil.rmtree(tmp, ignore_errors=True)
        raise CheckpointError(_write_failure(root, name, exc)) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if keep is not None:
        rotate(root, name.split("-")[0], keep)
    return final


def _refuse_non_finite(weights: dict[str, torch.Tensor], name: str) -> None:
    bad = [key for key, tensor in weights.items() if tensor.is_floating_point() and not torch.isfinite(tensor).all()]
    if bad:
        raise CheckpointError(
            f"{name}: not saved, {len(bad)} weight tensor(s) hold NaN or infinity ({', '.join(bad[:3])}); "
            "training diverged: lower train.lr or raise train.warmup_ratio, then resume from the last checkpoint"
        )


def _write_failure(root: Path, name: str, exc: Exception) -> str:
    previous = latest_checkpoint(root, name.split("-")[0])
    kept = f"the previous checkpoint {previous.name} is intact" if previous else "no earlier checkpoint exists"
    reason = f"{exc.strerror} (errno {exc.errno})" if isinstance(exc, OSError) and exc.strerror else str(exc)
    return (
        f"could not write checkpoint {root / name}: {reason}; nothing was "
        f"half-written and {kept}. Free disk space under {root} (or lower train.keep_checkpoints), then "
        f"continue with `hone train {root.parent} --resume`"
    )


def _write_parts(directory: Path, ckpt: Checkpoint) -> dict[str, str]:
    parts: dict[str, bytes] = {}
    save_file(ckpt.weights, str(directory / "model.safetensors"))
    save_file(ckpt.rng, str(directory / "rng.safetensors"))
    if ckpt.optimizer is not None:
        tensors, meta = _flatten_optimizer(ckpt.optimizer)
        save_file(tensors, str(directory / "optimizer.safetensors"))
        parts["optimizer.json"] = json.dumps(meta).encode()
    parts["state.json"] = json.dumps(ckpt.state, indent=1).encode()
    for name, payload in parts.items():
        _write_synced(directory / name, payload)
    for path in directory.glob("*.safetensors"):
        _fsync_file(path)
    return {p.name: _sha256(p) for p in sorted(directory.iterdir())}


def _flatten_optimizer(state_dict: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer state_dict into tensors (safetensors) and everything else (JSON)."""
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, param_state in state_dict["state"].items():
        for key, value in param_state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{key}"] = value.detach().contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state_dict["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    for index, values in meta["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    return {"state": state, "param_groups": meta["param_groups"]}


def load_checkpoint(path: Path) -> Checkpoint:
    """Load a checkpoint after verifying its marker and every file's checksum."""
    verify(path)
    try:
        optimizer = None
        if (path / "optimizer.safetensors").is_file():
            meta = json.loads((path / "optimizer.json").read_text())
            optimizer = _unflatten_optimizer(load_file(str(path / "optimizer.safetensors")), meta)
        return Checkpoint(
            weights=load_file(str(path / "model.safetensors")),
            optimizer=optimizer,
            state=json.loads((path / "state.json").read_text()),
            rng=load_file(str(path / "rng.safetensors")),
        )
    except Exception as exc:  # safetensors and json raise their own types for every kind of malformed file
        raise CheckpointError(
            f"{path}: its files match their checksums but do not parse ({type(exc).__name__}: {exc}); "
            "it was written by something other than hone, so it is not loaded"
        ) from None


def verify(path: Path) -> None:
    """Raise CheckpointError unless `path` is complete and every file matches its checksum."""
    if pickles := sorted(p.name for p in path.iterdir() if is_pickle_name(p)):
        raise CheckpointError(
            f"{path} holds pickle files {pickles}; hone never writes them and never loads them (unpickling runs "
            "code from the file), so this checkpoint is not trusted"
        )
    marker = path / MARKER
    if not marker.is_file():
        raise CheckpointError(f"{path}: no {MARKER} marker; the save was interrupted, so it is ignored")
    try:
        files = json.loads(marker.read_text())["files"]
    except (ValueError, KeyError) as exc:
        raise CheckpointError(f"{path}/{MARKER}: unreadable ({exc}); the checkpoint is not trusted") from None
    for name, digest in files.items():
        part = path / name
        if not part.is_file() or _sha256(part) != digest:
            raise CheckpointError(f"{part}: missing or its checksum does not match; the checkpoint is corrupted")


def checkpoints(root: Path, kind: str = "step") -> list[Path]:
    """Checkpoint directories of one kind (`step` or `best`), oldest first, complete or not."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (m := _NAME.match(p.name)) and m.group(1) == kind)


def latest_checkpoint(root: Path, kind: str = "step") -> Path | None:
    """The newest checkpoint of a kind that is complete and intact; damaged ones are skipped."""
    for path in reversed(checkpoints(root, kind)):
        try:
            verify(path)
        except CheckpointError:
            continue
        return path
    return None


def rotate(root: Path, kind: str, keep: int) -> None:
    """Delete all but the newest `keep` complete checkpoints of a kind, and leftovers of dead saves."""
    complete = [p for p in checkpoints(root, kind) if (p / MARKER).is_file()]
    for old in complete[:-keep]:
        remove_checkpoint(old)
    for leftover in root.glob(".tmp-*"):
        if not _owned_by_live_process(leftover):
            shutil.rmtree(leftover, ignore_errors=True)


def remove_checkpoint(path: Path) -> None:
    """Delete a checkpoint directory without ever leaving a half-deleted one under its name.

    It is renamed to a hidden leftover first (one atomic step); a kill during the deletion then leaves
    only a leftover, which the next `rotate` clears, never a `step-N` whose marker outlived its files.
    """
    doomed = path.parent / f".tmp-del-{path.name}-{os.getpid()}"
    shutil.rmtree(doomed, ignore_errors=True)
    os.replace(path, doomed)
    shutil.rmtree(doomed, ignore_errors=True)


def checkpoint_name(kind: str, step: int) -> str:
    return f"{kind}-{step:08d}"


def _owned_by_live_process(path: Path) -> bool:
    pid = path.name.rsplit("-", 1)[-1]
    if not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_synced(path: Path, payload: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(payload)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
