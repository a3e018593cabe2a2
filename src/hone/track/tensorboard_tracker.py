"""TensorBoard: event files in `<run_dir>/tensorboard/`, written by `torch.utils.tensorboard.SummaryWriter`.

Metrics become scalars under their hone names (`loss`, `lr`, `dev/<metric>`, `test/<metric>`,
`gain/<metric>`); the config and the verdict become text. A resumed run starts a new event file that
purges the steps after its checkpoint, so TensorBoard shows one curve, not two.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hone.runs.rundir import RunDir
from hone.track.base import TrackingError, missing_library

FLUSH_S = 5  # a killed run loses at most this much of its curves


def open_tensorboard(run: RunDir) -> TensorBoardTracker:
    try:
        import tensorboard  # noqa: F401  (SummaryWriter needs the package, and says so only when it is built)
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise missing_library("tensorboard", "tensorboard", "track-tensorboard") from None
    try:
        run.tensorboard.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingError(f"train.report_to: tensorboard cannot write {run.tensorboard} ({exc})") from None
    return TensorBoardTracker(SummaryWriter, run.tensorboard)


class TensorBoardTracker:
    name = "tensorboard"

    def __init__(self, writer_class: Any, log_dir: Path) -> None:
        self._make, self.log_dir = writer_class, log_dir
        self._writer: Any = None

    def writer(self, purge_step: int | None = None) -> Any:
        if self._writer is None:
            self._writer = self._make(str(self.log_dir), purge_step=purge_step, flush_secs=FLUSH_S)
        return self._writer

    def log_params(self, params: dict[str, str]) -> None:
        rows = "\n".join(f"| {k} | {v} |" for k, v in params.items())
        self.writer().add_text("config", "| key | value |\n|---|---|\n" + rows)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        writer = self.writer()
        for key, value in metrics.items():
            writer.add_scalar(key, value, step)

    def log_results(self, metrics: dict[str, float], step: int) -> None:
        self.log_metrics(metrics, step)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.writer().add_text(key, value)

    def log_artifact(self, path: Path) -> None:
        """TensorBoard keeps no files; eval.json and report.html stay in the run directory."""

    def resumed(self, step: int) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.writer(purge_step=step + 1)

    def close(self, status: str) -> None:
        if self._writer is not None:
            self._writer.close()
