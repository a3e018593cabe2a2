"""`tune`: the whole pipeline on defaults in one call — check, baselines, train, evaluate, report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hone.config import load_config
from hone.pipeline.baselines import baseline
from hone.pipeline.evaluations import evaluate
from hone.pipeline.run import Run
from hone.pipeline.steps import report, train


def tune(data: str | Path, task: str = "classify", name: str | None = None, **settings: Any) -> Run:
    """The whole pipeline with defaults: check, baselines, train, evaluate, report.

    `settings` are dotted config overrides with `__` for dots, e.g. `train__epochs=2`.
    """
    raw: dict[str, Any] = {"task": task, "name": name or Path(data).stem, "data": {"train": str(Path(data).resolve())}}
    cfg = load_config(raw, [f"{k.replace('__', '.')}={v}" for k, v in settings.items()])
    baseline(cfg)
    run = train(cfg)
    evaluate(run)
    report(run)
    return run
