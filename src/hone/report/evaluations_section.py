"""The report's "Evaluations on other files" section: one row per `hone eval RUN --test FILE` record
(`<run>/evaluations/*.json`, written by `hone.pipeline.evaluations`), the tuned model against the best baseline
fitted on the run's train split and scored on that file.

Every value is run data and is escaped (through `hone.report.parts`).
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

from hone.report.parts import e as _e
from hone.report.parts import metric as _metric
from hone.report.parts import note as _note
from hone.report.parts import num as _num
from hone.report.parts import table as _table

HEADERS = ["file", "examples", "tuned", "best baseline", "baseline", "verdict"]


def evaluations_section(records: list[dict[str, Any]], primary: str | None) -> str:
    """A table of the run's evaluations on other files; empty (no section) when there are none."""
    if not records:
        return ""
    rows = [_row(record, primary) for record in records]
    metric = next((r.get("primary_metric") for r in records if r.get("primary_metric")), primary)
    headers = [f"{h} ({metric})" if h in ("tuned", "baseline") and metric else h for h in HEADERS]
    return _table(headers, rows, {1, 2, 4}) + _note(
        "Each file was scored whole, with the baselines fitted on the run's train split; the run's own test split "
        "and eval.json are unchanged."
    )


def _row(record: dict[str, Any], primary: str | None) -> list[str]:
    metric = record.get("primary_metric") or primary
    best = record.get("best_baseline")
    baseline_score = (record.get("baselines") or {}).get(best, {}).get(metric) if best else None
    tuned = (record.get("metrics") or {}).get(metric)
    path = str(record.get("test_file") or "")
    return [
        f'<span title="{_e(path)}">{_e(PurePath(path).name or "(unnamed)")}</span>',
        _e(record.get("n")) if _num(record.get("n")) is not None else "",
        _metric(tuned) if _num(tuned) is not None else "",
        _e(best) if best else "",
        _metric(baseline_score) if _num(baseline_score) is not None else "",
        _e(record.get("verdict") or ""),
    ]
