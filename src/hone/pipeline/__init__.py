"""The pipeline steps and the run handle (`hone.pipeline.steps`, `hone.pipeline.run`), below every front end."""

from hone.pipeline.run import Run
from hone.pipeline.steps import (
    ConfigLike,
    Prepared,
    baseline,
    check,
    check_run,
    config_of,
    evaluate,
    init_config,
    predict,
    prepare,
    report,
    runs,
    train,
    tune,
)

__all__ = [
    "ConfigLike",
    "Prepared",
    "Run",
    "baseline",
    "check",
    "check_run",
    "config_of",
    "evaluate",
    "init_config",
    "predict",
    "prepare",
    "report",
    "runs",
    "train",
    "tune",
]
