"""Open the trackers of `train.report_to` and fan every record out to them, off the training thread.

A tracker is any object with a `name` and these methods (each backend module defines one):

    log_params(params: dict[str, str])           the flattened config
    log_metrics(metrics: dict[str, float], step)  one logged step (a step, or a dev evaluation)
    log_results(metrics: dict[str, float], step)  the test evaluation, done after training's last `step`
    set_tags(tags: dict[str, str])               the best baseline, the verdict
    log_artifact(path: Path)                     eval.json, report.html
    resumed(step: int)                           training continues from the checkpoint at `step`
    close(status: str)                           FINISHED, FAILED or KILLED (MLflow's words)

Opening checks everything that can be checked before training (the library imports, the store answers, the
run exists); after that, calls run on one background thread in order, so a slow or unreachable server never
holds up an optimizer step, and a tracker that raises is switched off with one warning.
"""

from __future__ import annotations

import queue
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hone.config.schema import HoneConfig
from hone.runs.rundir import RunDir
from hone.track.base import TRACKERS, TrackingError
from hone.track.records import config_params, eval_metrics, last_step, step_metrics

PENDING = 10_000  # calls waiting for a slow tracker before new ones are dropped (training never waits)
CLOSE_TIMEOUT_S = 120.0


def open_trackers(
    config: HoneConfig, run: RunDir, training: bool = False, warn: Callable[[str], None] | None = None
) -> Trackers:
    """Open every tracker the config names, for `run`; raise TrackingError (closing those already open) if one
    cannot be used. `training` marks the process that trains: it owns the tracker run's status."""
    opened: list[Any] = []
    try:
        for name in config.train.report_to:
            opened.append(_open(name, config, run, training))
    except BaseException:
        for tracker in opened:
            _quietly(tracker.close, "FAILED")
        raise
    return Trackers(opened, run, warn or _stderr)


def _open(name: str, config: HoneConfig, run: RunDir, training: bool) -> Any:
    if name == "mlflow":
        from hone.track import mlflow_tracker

        return mlflow_tracker.open_mlflow(config, run, training)
    if name == "tensorboard":
        from hone.track import tensorboard_tracker

        return tensorboard_tracker.open_tensorboard(run)
    if name == "wandb":
        from hone.track import wandb_tracker

        return wandb_tracker.open_wandb(config, run, training)
    raise TrackingError(f"train.report_to: unknown tracker {name!r}; hone reports to {', '.join(TRACKERS)}")


class Trackers:
    """The open trackers of one command, fed in order from a background thread."""

    def __init__(self, trackers: list[Any], run: RunDir, warn: Callable[[str], None]) -> None:
        self.names = [t.name for t in trackers]
        self._trackers, self._run, self._warn = trackers, run, warn
        self._off: set[str] = set()
        self._dropping = False
        self._queue: queue.Queue[tuple[Any, str, tuple[Any, ...]] | None] = queue.Queue(PENDING)
        self._thread = threading.Thread(target=self._work, name="hone-tracking", daemon=True)
        self._thread.start()

    def log_config(self, config: HoneConfig) -> None:
        self._send("log_params", config_params(config))

    def log_step(self, line: dict[str, Any]) -> None:
        """One metrics.jsonl line (a step, or a dev evaluation)."""
        metrics = step_metrics(line)
        if metrics:
            self._send("log_metrics", metrics, int(line["step"]))

    def log_eval(self, result: dict[str, Any]) -> None:
        """eval.json's metrics, gain and interval, plotted at the last training step; the file as an artifact."""
        metrics, tags = eval_metrics(result)
        self._send("log_results", metrics, last_step(self._run.metrics))
        self._send("set_tags", tags)
        self.log_artifact(self._run.eval)

    def log_artifact(self, path: Path) -> None:
        if path.is_file():
            self._send("log_artifact", path)

    def resumed(self, step: int) -> None:
        self._send("resumed", step)

    def close(self, status: str = "FINISHED") -> None:
        """Deliver what is queued (at most CLOSE_TIMEOUT_S), then close every tracker."""
        self._queue.put(None)
        self._thread.join(CLOSE_TIMEOUT_S)
        if self._thread.is_alive():
            self._warn(f"train.report_to: trackers still busy after {CLOSE_TIMEOUT_S:.0f} s; the rest is not sent")
            return
        for tracker in self._trackers:
            if tracker.name not in self._off:
                self._call(tracker, "close", (status,))

    def __enter__(self) -> Trackers:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        self.close(status_of(exc))

    def _send(self, method: str, *args: Any) -> None:
        for tracker in self._trackers:
            if tracker.name in self._off:
                continue
            try:
                self._queue.put_nowait((tracker, method, args))
            except queue.Full:
                if not self._dropping:
                    self._dropping = True
                    self._warn(f"train.report_to: {PENDING} records wait for a slow tracker; new ones are dropped")

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            tracker, method, args = item
            if tracker.name not in self._off:
                self._call(tracker, method, args)

    def _call(self, tracker: Any, method: str, args: tuple[Any, ...]) -> None:
        try:
            getattr(tracker, method)(*args)
        except Exception as exc:  # a tracker's failure must never reach training
            self._off.add(tracker.name)
            self._warn(
                f"train.report_to: {tracker.name} failed ({type(exc).__name__}: {str(exc)[:300]}) and is off for "
                f"the rest of this command; training goes on, and {self._run.path} keeps every record"
            )


def status_of(exc: BaseException | None) -> str:
    """The tracker run's status after a command: finished, killed (a signal, resumable) or failed."""
    from hone.train.signals import Stopped

    if exc is None:
        return "FINISHED"
    return "KILLED" if isinstance(exc, (Stopped, KeyboardInterrupt)) else "FAILED"


def _quietly(fn: Callable[..., Any], *args: Any) -> None:
    try:
        fn(*args)
    except Exception:  # closing after another error: that error is the one to report
        pass


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
