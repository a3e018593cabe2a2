"""What the tracker backends share: the error every startup failure raises, and tracking.json (each tracker's
id for the run, so a resumed, evaluated or reported run is logged into the tracker run it started)."""

from __future__ import annotations

from typing import Any

from hone.config import ConfigError
from hone.runs.rundir import RunDir, read_json, write_json

TRACKERS = ("mlflow", "tensorboard", "wandb")


class TrackingError(ConfigError):
    """A tracker of `train.report_to` cannot be used; the message says which, why, and what to install or set."""


def missing_library(tracker: str, module: str, extra: str) -> TrackingError:
    return TrackingError(
        f"train.report_to lists {tracker}, but {module} is not installed: pip install 'hone[{extra}]' "
        f"(or remove {tracker} from train.report_to)"
    )


def stored(run: RunDir, tracker: str) -> dict[str, Any]:
    """What `tracker` recorded about this run in tracking.json (its run id), or {}."""
    try:
        found = read_json(run.tracking)
    except (OSError, ValueError):
        return {}
    entry = found.get(tracker) if isinstance(found, dict) else None
    return entry if isinstance(entry, dict) else {}


def store(run: RunDir, tracker: str, entry: dict[str, Any]) -> None:
    try:
        found = read_json(run.tracking)
    except (OSError, ValueError):
        found = {}
    write_json(run.tracking, {**(found if isinstance(found, dict) else {}), tracker: entry})
