"""Waiting in tests for what a process does, not for how long it usually takes.

A test that signals, kills or polls another process waits for an observable event (a line in a log, a
file a phase writes, a status that changes) with `wait_until`, never for a fixed delay. Its time limit is
only a guard against a hang, and `scaled` stretches every such limit for a slow or busy machine: by
`HONE_TEST_TIME_SCALE` (default 1) and by the load average above the number of cores, read when the wait
starts. So a test passes or fails by what the code does, not by how busy the machine is.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def scale() -> float:
    """How much longer than on a quiet machine things may take here now (≥ 1)."""
    asked = float(os.environ.get("HONE_TEST_TIME_SCALE", "1"))
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return max(1.0, asked) * max(1.0, load)


def scaled(seconds: float) -> float:
    """`seconds`, a limit that holds on a quiet machine, stretched for this one."""
    return seconds * scale()


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    what: str,
    process: subprocess.Popen | None = None,
    interval: float = 0.05,
) -> T:
    """The first truthy value of `predicate()`; fails after `scaled(timeout)` s, or once `process` has exited."""
    limit = scaled(timeout)
    deadline = time.monotonic() + limit
    while True:
        value = predicate()
        if value:
            return value
        if process is not None and process.poll() is not None:
            raise AssertionError(f"the process exited ({process.returncode}) before {what}:\n{_tail(process)}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {limit:.0f} s")
        time.sleep(interval)


def settled(read: Callable[[], Any], quiet: float, timeout: float, what: str) -> Any:
    """`read()` once it has stopped changing for `quiet` seconds (a counter that has come to rest)."""
    value, since = read(), time.monotonic()

    def steady() -> bool:
        nonlocal value, since
        now = read()
        if now != value:
            value, since = now, time.monotonic()
        return time.monotonic() - since >= quiet

    wait_until(steady, timeout, f"{what} at rest for {quiet:g} s", interval=0.05)
    return value


def _tail(process: subprocess.Popen) -> str:
    if process.stdout is None:
        return ""
    out = process.stdout.read()
    return (out.decode(errors="replace") if isinstance(out, bytes) else out)[-2000:]
