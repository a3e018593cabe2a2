"""Graceful stop: the first SIGTERM/SIGINT asks the loop to checkpoint and exit; a second stops at once."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Stopped(Exception):
    """Training stopped on request after saving a complete checkpoint."""

    def __init__(self, signum: int, checkpoint: str) -> None:
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention, so a stop never reads as a crash (1)
        super().__init__(
            f"stopped by {signal.Signals(signum).name}; resume with `hone train --resume` from {checkpoint}"
        )


class StopFlag:
    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def request(self, signum: int = signal.SIGTERM) -> None:
        self.signum = signum


@contextmanager
def graceful_stop() -> Iterator[StopFlag]:
    """Install handlers for the block; restore the previous ones afterwards."""
    flag = StopFlag()
    watched = (signal.SIGTERM, signal.SIGINT)

    def handler(signum: int, frame: FrameType | None) -> None:
        if flag:  # second signal: the user means it
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
        flag.request(signum)

    try:
        previous = {s: signal.signal(s, handler) for s in watched}
    except ValueError:  # not the main thread: signals cannot be caught here, run without
        yield flag
        return
    try:
        yield flag
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
