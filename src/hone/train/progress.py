"""Training progress: step, loss, examples/s and ETA — a live bar on a terminal, a plain line every few
seconds under a pipe or in a log (`hone.progress`), nothing when disabled."""

from __future__ import annotations

from contextlib import ExitStack
from types import TracebackType

from hone.progress import Phase, phase
from hone.train.loop import StepRecord


class TrainProgress:
    def __init__(self, total: int, done: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = total, done, enabled
        self._phase: Phase | None = None
        self._stack = ExitStack()
        self._ema: float | None = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._phase = self._stack.enter_context(phase("train", self.total, "steps", start=self.done))
        return self

    def update(self, record: StepRecord) -> None:
        self._ema = record.loss if self._ema is None else 0.9 * self._ema + 0.1 * record.loss
        if self._phase is not None:
            speed = record.examples / max(record.seconds, 1e-9)
            info = f"loss {self._ema:.4f} · {speed:.0f} ex/s · epoch {record.epoch:.2f}"
            self._phase.advance(record.step - self._phase.done, info)

    def note(self, message: str) -> None:
        if self._phase is not None:
            self._phase.note(message)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stack.__exit__(exc_type, exc, tb)
