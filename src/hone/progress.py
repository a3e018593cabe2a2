"""Progress of long phases where a person can see it: a live bar on a terminal, plain lines anywhere else.

Under a pipe, a log file or a CI runner a live bar shows nothing until it ends, so there `phase(...)` prints a
plain line when the phase starts, one at most every `interval_s` seconds while it runs (done/total, rate, ETA and
whatever the work reports), and one when it ends. Inner loops that do the work (batched inference, generation,
encoding) call `tick(n)` without knowing who watches: it advances the innermost phase open on this thread, and
does nothing when none is.

`HONE_PROGRESS=plain|bar|off` overrides the choice (default: bar on a terminal, plain otherwise), and
`HONE_PROGRESS_INTERVAL` the seconds between plain lines (default 10).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

_open = threading.local()


def mode(stream: TextIO | None = None) -> str:
    """ "bar", "plain" or "off" for output to `stream` (default stderr)."""
    chosen = os.environ.get("HONE_PROGRESS", "").strip().lower()
    if chosen in ("bar", "plain", "off"):
        return chosen
    stream = stream or sys.stderr
    return "bar" if getattr(stream, "isatty", lambda: False)() else "plain"


def interval() -> float:
    try:
        return max(0.0, float(os.environ.get("HONE_PROGRESS_INTERVAL", "10")))
    except ValueError:
        return 10.0


class Phase:
    """One phase's count of work done; `advance` reports it (see the module docstring)."""

    def __init__(self, what: str, total: int | None, unit: str, stream: TextIO, style: str, start: int = 0) -> None:
        self.what, self.total, self.unit, self.stream, self.style = what, total, unit, stream, style
        self.done, self.first, self.info = start, start, ""
        self.started = self.shown = time.monotonic()
        self.every = interval()
        self.bar: Any = None

    def open(self) -> None:
        if self.style == "bar":
            from rich.progress import Progress

            self.bar = Progress(*_columns(), transient=True)
            self.bar.start()
            self.task = self.bar.add_task(self.what, total=self.total, completed=self.done, info="")
        elif self.style == "plain":
            size = f" ({self.total:,} {self.unit})" if self.total is not None else ""
            self._line(f"{self.what}: started{size}")

    def advance(self, n: int = 1, info: str = "") -> None:
        self.done += n
        self.info = info or self.info
        if self.bar is not None:
            self.bar.update(self.task, completed=self.done, info=self.info)
        elif self.style == "plain" and time.monotonic() - self.shown >= self.every:
            self.shown = time.monotonic()
            self._line(self.status())

    def status(self) -> str:
        """ "what: 40/120 items (33%), 2.1 items/s, ETA 38 s; info"."""
        took = max(time.monotonic() - self.started, 1e-9)
        rate = (self.done - self.first) / took
        count = f"{self.done:,}" + (f"/{self.total:,}" if self.total else "") + f" {self.unit}"
        share = f" ({self.done / self.total:.0%})" if self.total else ""
        eta = f", ETA {_seconds((self.total - self.done) / rate)}" if self.total and rate > 0 else ""
        info = f"; {self.info}" if self.info else ""
        return f"{self.what}: {count}{share}, {rate:.3g} {self.unit}/s{eta}{info}"

    def note(self, message: str) -> None:
        """A line about the phase (a dev score, say), above the bar or among the plain lines."""
        if self.bar is not None:
            self.bar.console.print(f"  {message}", markup=False, highlight=False)
        elif self.style == "plain":
            self._line(f"{self.what}: {message}")

    def close(self, failed: bool) -> None:
        if self.bar is not None:
            self.bar.stop()
        elif self.style == "plain":
            took = _seconds(time.monotonic() - self.started)
            end = "stopped" if failed else "done"
            self._line(f"{self.what}: {end} after {took}" + (f" ({self.done:,} {self.unit})" if self.done else ""))

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)


@contextmanager
def phase(
    what: str, total: int | None = None, unit: str = "items", stream: TextIO | None = None, start: int = 0
) -> Iterator[Phase]:
    """Report the progress of the block as `what` (`start` units already done); `tick` inside it (on this
    thread) advances it."""
    stream = stream or sys.stderr
    current = Phase(what, total, unit, stream, mode(stream), start)
    stack = _stack()
    stack.append(current)
    current.open()
    failed = True
    try:
        yield current
        failed = False
    finally:
        stack.pop()
        current.close(failed)


def tick(n: int = 1, info: str = "") -> None:
    """Advance the innermost open phase of this thread by `n` (nothing when none is open, or inside `unreported`)."""
    stack = _stack()
    if stack and stack[-1] is not None:
        stack[-1].advance(n, info)


@contextmanager
def unreported() -> Iterator[None]:
    """Work in the block advances no phase: a probe that runs again inputs its phase has already counted."""
    stack = _stack()
    stack.append(None)
    try:
        yield
    finally:
        stack.pop()


def _columns() -> tuple[Any, ...]:
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )


def _stack() -> list[Phase | None]:
    if not hasattr(_open, "phases"):
        _open.phases = []
    return _open.phases


def _seconds(value: float) -> str:
    if value < 90:
        return f"{value:.0f} s"
    if value < 5400:
        return f"{value / 60:.0f} min"
    return f"{value / 3600:.1f} h"
