"""Graceful stop: the first SIGTERM/SIGINT stops at the next safe point; a second stops at once.

A command wraps its whole life in `graceful_stop(interrupt=True)`. Phases that only write files
atomically (reading and checking data, mining, evaluation) are stopped at once by the first signal:
`Stopped` is raised where the program is, and nothing half-written can be left. The training loop
and every save run inside `stop.deferred()`: there the signal only sets the flag, the loop finishes
its step, writes a complete checkpoint and raises `Stopped` itself, and a save in progress always
completes. Either way the exit code is 128 + the signal number, never a crash's 1.

A second signal ends the process by that signal at once (a shell shows 128 + its number), whatever is in
flight; the newest complete checkpoint stays. Python runs a handler once for all the signals that arrive during
one C call (a long matmul of a training step), so the handler counts deliveries on the wakeup fd, where the
interpreter writes one byte per signal as it arrives.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType


class Stopped(Exception):
    """The command stopped on request; `checkpoint` is the newest complete one (None: nothing trained yet)."""

    def __init__(self, signum: int, checkpoint: str | None = None, detail: str = "") -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention, so a stop never reads as a crash (1)
        self.checkpoint = checkpoint
        where = (
            f"resume from {checkpoint} with `hone train {Path(checkpoint).parent.parent} --resume`"
            if checkpoint
            else "nothing was half-written; run the command again"
        )
        super().__init__(f"stopped by {signal.Signals(signum).name}{detail}; {where}")


class Pruned(Exception):
    """A search (`hone train --search`) stopped this run early: its dev score at `step` was behind earlier trials'."""

    def __init__(self, step: int, score: float) -> None:
        super().__init__(f"dev score {score:.4f} at step {step} behind the median of earlier trials")
        self.step, self.score = step, score


class StopFlag:
    """Set by the first signal. While `deferring`, a signal waits for the code to poll the flag."""

    def __init__(self, interrupt: bool = False) -> None:
        self.signum: int | None = None
        self.interrupt = interrupt
        self.deferring = 0

    def __bool__(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum

    @contextmanager
    def deferred(self) -> Iterator[StopFlag]:
        """A block that must not be cut short (a training step, a save): signals only set the flag."""
        self.deferring += 1
        try:
            yield self
        finally:
            self.deferring -= 1
        if self and self.interrupt and not self.deferring:  # a signal came in the block: stop now it is done
            raise Stopped(self.signum or signal.SIGTERM)


_active: StopFlag | None = None
WATCHED = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def graceful_stop(interrupt: bool = False) -> Iterator[StopFlag]:
    """Install the handlers for the block (the flag of an enclosing block is reused); restore them after.

    `interrupt`: outside `deferred()` blocks the first signal raises `Stopped` at once. Without it,
    every signal only sets the flag (the caller polls it).
    """
    global _active
    if _active is not None:
        yield _active
        return
    flag = StopFlag(interrupt)

    reader, writer = socket.socketpair()
    for end in (reader, writer):
        end.setblocking(False)

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag or _arrived(reader) > 1:  # a second signal, maybe in the same C call as the first: the user means it
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        flag.request(signum)
        if flag.interrupt and not flag.deferring:
            raise Stopped(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in WATCHED}
        wakeup = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main thread: signals cannot be caught here, run without
        _close(reader, writer)
        yield flag
        return
    _active = flag
    try:
        yield flag
    finally:
        _active = None
        signal.set_wakeup_fd(wakeup)
        for s, old in previous.items():
            signal.signal(s, old)
        _close(reader, writer)


def _close(*sockets: socket.socket) -> None:
    for end in sockets:
        end.close()


def _arrived(reader: socket.socket) -> int:
    """How many watched signals were delivered since the last call (one byte each on the wakeup fd)."""
    count = 0
    while True:
        try:
            data = reader.recv(256)
        except (BlockingIOError, InterruptedError):
            return count
        if not data:
            return count
        count += sum(byte in WATCHED for byte in data)
