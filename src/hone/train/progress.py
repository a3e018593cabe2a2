"""A progress bar for training: step, loss, examples/s and ETA (rich), silent when disabled."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from hone.train.loop import StepRecord


class TrainProgress:
    def __init__(self, total: int, done: int, enabled: bool = True) -> None:
        self.total, self.done, self.enabled = total, done, enabled
        self._progress: Any = None
        self._task: Any = None
        self._ema: float | None = None

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[info]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
            )
            self._progress.start()
            self._task = self._progress.add_task("train", total=self.total, completed=self.done, info="")
        return self

    def update(self, record: StepRecord) -> None:
        self._ema = record.loss if self._ema is None else 0.9 * self._ema + 0.1 * record.loss
        if self._progress is not None:
            speed = record.examples / max(record.seconds, 1e-9)
            info = f"loss {self._ema:.4f} · {speed:.0f} ex/s · epoch {record.epoch:.2f}"
            self._progress.update(self._task, completed=record.step, info=info)

    def note(self, message: str) -> None:
        if self._progress is not None:
            self._progress.console.print(f"  {message}")

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
