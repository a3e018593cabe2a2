"""One writer per run directory: an OS advisory lock on `<run_dir>/.lock`.

Two `hone train` processes on one run directory used to both run, their steps interleaved in
metrics.jsonl; `hone eval` writing eval.json while a run trains is as bad. Every command that writes
into a run directory holds its lock for as long as it writes; a second one is refused at once, before
it writes anything, with a message naming who holds the run. Read-only commands never take it.

The lock is `flock` on the file, not the file's existence: the kernel drops it when its holder dies,
however it dies (SIGKILL, the OOM killer), so a killed run never blocks `hone train --resume`. The
file is never deleted (deleting a lock file lets two processes lock two different files); it holds
its holder's pid, host and start time as JSON, only for the refusal message, and is emptied on
release. flock is per host on network file systems that do not forward it: there the message's host
tells whom to ask.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hone.runs.registry import process_alive, process_start_id
from hone.runs.rundir import RunDir


class RunInUse(RuntimeError):
    """Another process holds the run directory's lock; the message names it and what to do."""


@contextmanager
def hold(run: RunDir, command: str) -> Iterator[None]:
    """Hold `run`'s lock while the block runs (creating the directory); RunInUse at once if it is held."""
    fd = _acquire(run, command)
    try:
        yield
    finally:
        try:
            os.ftruncate(fd, 0)  # a later refusal must not name this finished process
        finally:
            os.close(fd)  # closing the last descriptor releases the lock


def holder(run: RunDir) -> dict[str, Any] | None:
    """Who holds `run`'s lock as its holder wrote it ({pid, host, pid_start, started, command}), if it is
    still alive on this host or on another one (which cannot be checked); None when nobody holds it.

    Read-only: it never takes the lock, so it can never make a starting command fail.
    """
    info = _read_holder(run.lock)
    if info is None or not isinstance(info.get("pid"), int):
        return None
    if info.get("host") == socket.gethostname() and not process_alive(info["pid"], info.get("pid_start")):
        return None
    return info


def _acquire(run: RunDir, command: str) -> int:
    run.path.mkdir(parents=True, exist_ok=True)
    fd = os.open(run.lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        info = _parse(os.pread(fd, 4096, 0))
        os.close(fd)
        raise RunInUse(_refusal(run, command, info)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(_me(command)).encode(), 0)
    return fd


def _me(command: str) -> dict[str, Any]:
    pid = os.getpid()
    return {
        "pid": pid,
        "host": socket.gethostname(),
        "pid_start": process_start_id(pid),
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": command,
    }


def _read_holder(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as fh:
            return _parse(fh.read(4096))
    except OSError:
        return None


def _parse(text: bytes) -> dict[str, Any] | None:
    try:
        info = json.loads(text)
    except ValueError:
        return None
    return info if isinstance(info, dict) else None


def _refusal(run: RunDir, command: str, info: dict[str, Any] | None) -> str:
    """One line: which run, who holds it, what to do."""
    if info is None:  # the holder has locked but not yet written its name
        who, stop = "another process (it is just starting)", "wait for it to end"
    else:
        who = (
            f"`{info.get('command', 'hone')}` (pid {info.get('pid')} on host {info.get('host')}, "
            f"since {info.get('started')})"
        )
        stop = f"wait for it to end or stop it (kill {info.get('pid')} on {info.get('host')})"
    return f"run {run.path} is in use by {who}, so `{command}` cannot write into it; {stop}, then run it again"
