"""hone: turn a pretrained language model into a specialist for one task, prove it beats the
cheaper alternatives, and serve it.

    import hone
    run = hone.tune("data.jsonl", task="classify")
    run.predict(["my invoice is wrong"])
"""

# Stage packages share names with API verbs (baseline, train, evaluate, report, runs). Python binds a
# subpackage onto its parent when first imported, so import them before the verbs: the verbs win.
import hone.baseline
import hone.compare
import hone.evaluate
import hone.report
import hone.runs
import hone.sweep
import hone.train  # noqa: F401
from hone.api import (
    Run,
    advise,
    baseline,
    check,
    check_run,
    compare,
    demo,
    estimate,
    evaluate,
    init_config,
    predict,
    prepare,
    report,
    runs,
    serve,
    sweep,
    train,
    tune,
    ui_app,
)
from hone.config import ConfigError, HoneConfig, load_config

__all__ = [
    "ConfigError",
    "HoneConfig",
    "Run",
    "advise",
    "baseline",
    "check",
    "check_run",
    "compare",
    "demo",
    "estimate",
    "evaluate",
    "init_config",
    "load_config",
    "predict",
    "prepare",
    "report",
    "runs",
    "serve",
    "sweep",
    "train",
    "tune",
    "ui_app",
]
__version__ = "0.1.0"
