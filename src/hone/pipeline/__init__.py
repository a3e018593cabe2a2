"""The pipeline steps and the run handle (`hone.pipeline.steps`, `hone.pipeline.run`), below every front end."""

from hone.pipeline.baselines import baseline
from hone.pipeline.evaluations import evaluate, evaluations
from hone.pipeline.run import Run
from hone.pipeline.steps import (
    ConfigLike,
    Prepared,
    check,
    check_run,
    config_of,
    init_config,
    predict,
    prepare,
    report,
    runs,
    train,
)
from hone.pipeline.tune import tune

__all__ = [
    "ConfigLike",
    "Prepared",
    "Run",
    "baseline",
    "check",
    "check_run",
    "config_of",
    "evaluate",
    "evaluations",
    "init_config",
    "predict",
    "prepare",
    "report",
    "runs",
    "train",
    "tune",
]
