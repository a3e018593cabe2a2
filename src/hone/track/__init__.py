"""Experiment tracking: a run's config, logged steps, evaluation and report also go to the trackers a team
already reads (`train.report_to: [mlflow, tensorboard, wandb]`), through those libraries themselves.

hone's own files stay the record (metrics.jsonl, eval.json, report.html); a tracker gets a copy. Each one is
opened before anything slow starts, so a missing library or an unreachable store fails the command at once,
with one message naming `train.report_to` and the pip extra. Once open, a tracker's errors never reach
training: it is switched off with one warning, and training goes on. The pipeline imports this package only
when `train.report_to` names a tracker, so a run without one imports nothing of it.
"""

from hone.track.base import TRACKERS, TrackingError
from hone.track.hub import Trackers, open_trackers

__all__ = ["TRACKERS", "Trackers", "TrackingError", "open_trackers"]
