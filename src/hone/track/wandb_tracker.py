"""Weights & Biases: one W&B run per hone run (project `train.experiment`, else the run's name), its id kept in
tracking.json so `--resume`, `hone eval` and `hone report` continue it.

A thin adapter: tested here only in offline mode (`WANDB_MODE=offline` writes the run under
`<run_dir>/wandb/`; `wandb sync` uploads it later). Online use needs `WANDB_API_KEY` or `wandb login`, checked
before training so that W&B never stops a run to ask for a key.
"""

from __future__ import annotations

import netrc
import os
import uuid
from pathlib import Path
from typing import Any

from hone.config.schema import HoneConfig
from hone.runs.rundir import RunDir
from hone.track.base import TrackingError, missing_library, store, stored

LOCAL_MODES = ("offline", "disabled", "dryrun")


def open_wandb(config: HoneConfig, run: RunDir, training: bool) -> WandbTracker:
    try:
        import wandb
    except ImportError:
        raise missing_library("wandb", "wandb", "track-wandb") from None
    if os.environ.get("WANDB_MODE", "").lower() not in LOCAL_MODES and not _has_key():
        raise TrackingError(
            "train.report_to lists wandb, but no W&B API key is set: export WANDB_API_KEY (or run `wandb login`), "
            "or set WANDB_MODE=offline to keep the W&B run on disk and `wandb sync` it later"
        )
    run_id = stored(run, "wandb").get("id") or uuid.uuid4().hex[:12]
    try:
        handle = wandb.init(
            project=config.train.experiment or config.name,
            name=config.name,
            id=run_id,
            resume="allow",
            reinit="create_new",  # several runs in one process (a sweep, tests) are separate W&B runs
            dir=str(run.path),
            settings=wandb.Settings(console="off", silent=True),
        )
    except Exception as exc:
        raise TrackingError(
            f"train.report_to: wandb could not start its run ({type(exc).__name__}: {str(exc)[:300]}); "
            "check WANDB_API_KEY / WANDB_BASE_URL, or set WANDB_MODE=offline"
        ) from None
    store(run, "wandb", {"id": run_id, "project": config.train.experiment or config.name})
    return WandbTracker(handle)


def _has_key() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbTracker:
    name = "wandb"

    def __init__(self, run: Any) -> None:
        self.run = run

    def log_params(self, params: dict[str, str]) -> None:
        self.run.config.update(params, allow_val_change=True)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self.run.log(metrics, step=step)  # W&B drops steps it already has: a resumed run's replay is ignored

    def log_results(self, metrics: dict[str, float], step: int) -> None:
        """In the run's summary: W&B's history takes no step at or below one it already has."""
        self.run.summary.update(metrics)

    def set_tags(self, tags: dict[str, str]) -> None:
        self.run.summary.update(tags)

    def log_artifact(self, path: Path) -> None:
        self.run.save(str(path), base_path=str(path.parent), policy="now")

    def resumed(self, step: int) -> None:
        """Nothing to do: W&B continues the run by its id."""

    def close(self, status: str) -> None:
        self.run.finish(exit_code=0 if status == "FINISHED" else 1)
