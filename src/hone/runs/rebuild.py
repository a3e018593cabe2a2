"""Rebuild the runs index (`<runs_dir>/registry.sqlite`) from the run directories it indexes.

Every run directory describes itself, so a damaged or lost registry loses nothing a directory holds.
A run's row is rebuilt from config.yaml (task, model, method, config hash) and from what the run left,
its status as far as the directory can tell:

    model/                           finished (eval.json, when evaluated, gives the primary metric and score)
    checkpoints/ but no model/       stopped: `hone train --resume` continues it
    metrics.jsonl only               failed: it ended before its first checkpoint

A folder with none of these (only checked or baselined) never had a row and gets none. No rebuilt row
says "running": a directory cannot tell that. A run that a live process is training keeps that
process's own row, or gets a row that the process updates when it ends. Times are the files' times.

`open_registry` repairs automatically only what is certainly damage: a file that is not SQLite at all,
or an empty one (a registry is created whole, so it is never empty). The damaged file is moved aside
as `registry.sqlite.corrupt-<UTC time>`, never deleted, and one line says so. A file that is SQLite
but malformed inside is reported with the fix, `hone runs --rebuild`, which rebuilds any registry
and keeps the previous one beside it.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from hone.runs.lock import holder
from hone.runs.registry import Registry, RegistryDamaged, RunRecord, Status, header_problem
from hone.runs.rundir import RunDir, read_json

REGISTRY = "registry.sqlite"
_REBUILD_LOCK = ".registry.lock"


@dataclass(frozen=True)
class Rebuilt:
    """What a rebuild did: the registry, how many runs it now indexes, where the old file went and why."""

    path: Path
    runs: int
    kept_as: Path | None
    problem: str | None

    def line(self) -> str:
        kept = f" (the previous file is kept as {self.kept_as.name})" if self.kept_as else ""
        rebuilt = f"rebuilt the index from {self.runs} run director{'y' if self.runs == 1 else 'ies'}"
        if self.problem is None:
            return f"{self.path}: {rebuilt}{kept}"
        return f"{self.path} {self.problem}: moved it to {self.kept_as.name if self.kept_as else '?'} and {rebuilt}"


def open_registry(runs_dir: Path, log: Callable[[str], None]) -> Registry:
    """The registry of `runs_dir`; a file that is certainly not one is moved aside and rebuilt, told to `log`."""
    if header_problem(Path(runs_dir) / REGISTRY) is not None:
        repaired = repair(runs_dir)
        if repaired is not None:
            log(repaired.line())
    return Registry(Path(runs_dir) / REGISTRY)


def repair(runs_dir: Path) -> Rebuilt | None:
    """Rebuild the registry if its file is not SQLite or is empty; None when it is not (or no longer) damaged."""
    with _exclusive(Path(runs_dir)):
        problem = header_problem(Path(runs_dir) / REGISTRY)  # again: another process may have repaired it
        return None if problem is None else _rebuild(Path(runs_dir), problem)


def rebuild(runs_dir: Path) -> Rebuilt:
    """Rebuild the registry from the run directories, whatever state it is in (`hone runs --rebuild`)."""
    runs_dir = Path(runs_dir)
    if not runs_dir.is_dir():
        raise FileNotFoundError(f"runs directory {runs_dir} not found; give the folder holding the run directories")
    with _exclusive(runs_dir):
        return _rebuild(runs_dir, _problem(runs_dir / REGISTRY))


def _problem(path: Path) -> str | None:
    """Why the registry at `path` cannot be used, or None when it can (or does not exist)."""
    if not path.exists():
        return None
    try:
        Registry(path).list()
    except RegistryDamaged as exc:
        return exc.problem
    return None


def _rebuild(runs_dir: Path, problem: str | None) -> Rebuilt:
    path = runs_dir / REGISTRY
    kept = _move_aside(path, "corrupt") if problem is not None else _back_up(path)
    records = runs_from_dirs(runs_dir)
    Registry(path).replace_all(records)
    return Rebuilt(path, len(records), kept, problem)


@contextmanager
def _exclusive(runs_dir: Path) -> Iterator[None]:
    """One rebuild at a time per runs directory (another waits, then finds the registry repaired)."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(runs_dir / _REBUILD_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _free_name(path: Path, tag: str) -> Path:
    target = path.with_name(f"{path.name}.{tag}-{_stamp()}")
    n = 1
    while target.exists():
        target, n = path.with_name(f"{path.name}.{tag}-{_stamp()}-{n}"), n + 1
    return target


def _move_aside(path: Path, tag: str) -> Path:
    """Rename the damaged file (and its -wal/-shm, which must never meet a new file) beside itself."""
    target = _free_name(path, tag)
    os.rename(path, target)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.rename(side, target.with_name(target.name + suffix))
    return target


def _back_up(path: Path) -> Path | None:
    """A consistent copy of a readable registry before it is rebuilt (SQLite's online backup)."""
    if not path.exists():
        return None
    target = _free_name(path, "before-rebuild")
    with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(target)) as copy:
        source.backup(copy)
    return target


# --- rows from run directories ------------------------------------------------------------------


def runs_from_dirs(runs_dir: Path) -> list[RunRecord]:
    """A row for every run directory under `runs_dir` that trained (or is training), by name."""
    root = Path(runs_dir).resolve()
    found = (run_record(RunDir(d)) for d in sorted(root.iterdir()) if (d / "config.yaml").is_file())
    return [r for r in found if r is not None]


def run_record(run: RunDir) -> RunRecord | None:
    """The row a run directory tells of; None when it never trained and nothing is training it."""
    status, message = _status(run)
    live = holder(run)
    if live is not None and live.get("command") == "hone train":
        message = f"rebuilt while pid {live['pid']} on {live.get('host')} was training it; it records how it ends"
    elif status is None:
        return None
    config = _config(run)
    metric, score = _score(run) if status == "finished" else (None, None)
    return RunRecord(
        name=run.name,
        task=str(config.get("task", "unknown")),
        model=str(_dig(config, "model", "name") or "unknown"),
        method=str(_dig(config, "model", "method") or "unknown"),
        status=status or "failed",
        primary_metric=metric,
        score=score,
        run_dir=run.path,
        created=_iso(_oldest(run.path)),
        finished=_iso(_ended(run, status)),
        pid=None,
        host=None,
        message=message,
        config_hash=hashlib.sha256(run.config.read_bytes()).hexdigest()[:16],
    )


def _status(run: RunDir) -> tuple[Status | None, str | None]:
    if run.model.is_dir():
        return "finished", None
    if _has_complete_checkpoint(run.checkpoints):
        return "stopped", "rebuilt from the run directory: checkpoints, no final model; `hone train --resume` goes on"
    if run.metrics.is_file():
        return "failed", "rebuilt from the run directory: training output, but no checkpoint or model"
    return None, None


def _has_complete_checkpoint(folder: Path) -> bool:
    """Whether `folder` holds a finished `step-N` checkpoint (hone.train.checkpoint's layout: its COMPLETE marker
    is written last). Read here, not imported: the runs layer sits below training."""
    return folder.is_dir() and any((p / "COMPLETE").is_file() for p in folder.glob("step-*"))


def _config(run: RunDir) -> dict[str, Any]:
    try:
        config = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        return {}
    return config if isinstance(config, dict) else {}


def _dig(mapping: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        mapping = mapping.get(key) if isinstance(mapping, dict) else None  # type: ignore[assignment]
    return mapping


def _score(run: RunDir) -> tuple[str | None, float | None]:
    """The primary metric and its test score from eval.json, when the run was evaluated."""
    try:
        result = read_json(run.eval)
        metric = result["primary_metric"]
        return metric, float(result["metrics"][metric])
    except (OSError, ValueError, KeyError, TypeError):
        return None, None


def _oldest(folder: Path) -> float:
    """The oldest modification time of anything in the run (when it started, as near as files tell)."""
    times = [folder.stat().st_mtime]
    for root, dirs, files in os.walk(folder):
        times += [os.stat(os.path.join(root, name)).st_mtime for name in (*dirs, *files) if name != ".lock"]
    return min(times)


def _ended(run: RunDir, status: Status | None) -> float | None:
    """When the run's last training output was written: the final model, else its last log line or checkpoint."""
    if status == "finished":
        marker = run.model / "hone.json"
        return (marker if marker.exists() else run.model).stat().st_mtime
    written = [p.stat().st_mtime for p in (run.metrics, run.checkpoints) if p.exists()]
    return max(written, default=None)


def _iso(mtime: float | None) -> str | None:
    if mtime is None:
        return None
    return datetime.fromtimestamp(mtime, timezone.utc).isoformat(timespec="milliseconds")
