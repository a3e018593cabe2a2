"""The commitment checklist of `hone advise`: what must be true before fine-tuning is worth starting."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hone.plan.advise import Answers, Evidence, Item

MIN_WEEKS = 2  # data check, baselines, a few training runs and an evaluation rarely fit in less


def checklist(a: Answers, e: Evidence | None) -> list[Item]:
    return [
        _metric(a),
        _baseline(e),
        _data_quality(e),
        _consistency(a),
        _compute(a),
        _timeline(a),
        _scope(a),
    ]


def _item(name: str, status: str, why: str) -> Item:
    from hone.plan.advise import Item

    return Item(name, status, why)  # type: ignore[arg-type]


def _metric(a: Answers) -> Item:
    if a.success_metric and a.target is not None:
        return _item("success metric", "ok", f"{a.success_metric} ≥ {a.target} on a held-out test set")
    if a.success_metric:
        return _item("success metric", "warning", f"{a.success_metric} has no target: agree the number first")
    return _item("success metric", "missing", "no metric: agree how success is measured before any training")


def _baseline(e: Evidence | None) -> Item:
    if e is None:
        return _item("baseline", "missing", "no baseline measured: run `hone baseline hone.yaml` (pass --run after)")
    return _item("baseline", "ok", f"best baseline {e.best_baseline}: {e.baseline_score:.3f} {e.metric}")


def _data_quality(e: Evidence | None) -> Item:
    if e is None:
        return _item("data quality", "missing", "data not checked: `hone check hone.yaml` lists bad rows by file:line")
    if e.data_errors:
        return _item("data quality", "warning", f"{e.data_errors} bad row(s) in the data check: fix them first")
    if e.data_warnings:
        return _item("data quality", "warning", f"{e.data_warnings} warning(s) (duplicates, leakage, imbalance)")
    return _item("data quality", "ok", "the data check found no problems")


def _consistency(a: Answers) -> Item:
    if a.label_guidelines:
        return _item("labelling consistency", "ok", "guidelines exist and labellers agree")
    return _item(
        "labelling consistency",
        "warning",
        "no written guidelines: inconsistent labels cap any model; have two people label 50 examples and compare",
    )


def _compute(a: Answers) -> Item:
    if a.gpu:
        return _item("compute", "ok", "a GPU is available; `hone estimate` says which configs fit")
    return _item("compute", "ok", "CPU only: small encoders and LoRA on ~135M models train here; `hone estimate` first")


def _timeline(a: Answers) -> Item:
    if a.timeline_weeks is None:
        return _item("timeline", "missing", "no deadline given")
    if a.timeline_weeks < MIN_WEEKS:
        return _item("timeline", "warning", f"{a.timeline_weeks:g} week(s) is short: ship a baseline, tune after")
    return _item("timeline", "ok", f"{a.timeline_weeks:g} weeks")


def _scope(a: Answers) -> Item:
    if a.task == "other" or a.other_tasks:
        extra = ", ".join(a.other_tasks) or "an undefined task"
        return _item("red flags", "warning", f"scope creep: one model is also expected to do {extra}; split the jobs")
    return _item("red flags", "ok", "one well-defined task")


def assumptions(a: Answers) -> list[str]:
    out = []
    if a.latency_ms is None:
        out.append("no latency target: latency did not count")
    if a.daily_volume is None:
        out.append("no daily volume: cost per request did not count")
    return out
