"""The commitment checklist of `hone advise`: what must be true before fine-tuning is worth starting.

Each item is filled from the answers and, when a run is given, from its files (baseline.json, data/check.json).
An item is `ok`, `missing` (nobody has said or measured it) or `warning` (known, and a problem), with why and
what to do. The last item collects the red flags that sink fine-tuning projects.
"""

from __future__ import annotations

from hone.plan.answers import Answers, Evidence, Item

MIN_WEEKS = 2  # data check, baselines, a few training runs and an evaluation rarely fit in less
MIN_AGREEMENT = 0.8  # below this, the labels disagree so often that the task itself is not yet defined
GENERATIVE = ("extract", "generate", "qa", "other")


def checklist(a: Answers, e: Evidence | None) -> list[Item]:
    """Every item, in the order a team should settle them."""
    return [
        _metric(a),
        _baseline(e),
        _data_quality(e),
        _consistency(a),
        _compute(a),
        _timeline(a),
        _red_flags(a, e),
    ]


def _item(name: str, status: str, why: str, action: str = "") -> Item:
    return Item(name, status, why, action)  # type: ignore[arg-type]


def _metric(a: Answers) -> Item:
    if a.success_metric and a.target is not None:
        return _item("success metric", "ok", f"{a.success_metric} reaching {a.target:g} on a held-out test set")
    if a.success_metric:
        return _item("success metric", "warning", f"{a.success_metric} has no target", "agree the number first")
    return _item(
        "success metric", "missing", "no metric: nobody can say when the work is done",
        "agree how success is measured (e.g. macro_f1 ≥ 0.85) before any training",
    )  # fmt: skip


def _baseline(e: Evidence | None) -> Item:
    if e is None:
        return _item(
            "baseline", "missing", "no baseline measured: a fine-tune cannot be shown to be worth it",
            "run `hone baseline hone.yaml`, then `hone advise --run runs/<name>`",
        )  # fmt: skip
    return _item("baseline", "ok", f"best baseline {e.best_baseline}: {e.baseline_score:.3f} {e.metric}")


def _data_quality(e: Evidence | None) -> Item:
    if e is None:
        return _item("data quality", "missing", "data not checked", "run `hone check hone.yaml`")
    if e.data_errors:
        return _item(
            "data quality", "warning", f"the data check found {e.data_errors} bad row(s)",
            "fix them (`hone check` names each file:line) before training",
        )  # fmt: skip
    if e.data_warnings:
        return _item(
            "data quality", "warning", f"the data check found {e.data_warnings} warning(s)",
            "review duplicates, leakage and imbalance in data/check.json",
        )  # fmt: skip
    return _item("data quality", "ok", "the data check found no problems")


def _consistency(a: Answers) -> Item:
    fix = "write guidelines; have two people label the same 50 examples and measure agreement"
    if a.annotator_agreement is not None and a.annotator_agreement < MIN_AGREEMENT:
        why = f"labellers agree on {a.annotator_agreement:.0%} (< {MIN_AGREEMENT:.0%}): the task is not yet defined"
        return _item("labelling consistency", "warning", why, fix)
    if a.label_guidelines and a.annotator_agreement is not None:
        return _item("labelling consistency", "ok", f"guidelines exist; labellers agree on {a.annotator_agreement:.0%}")
    if a.label_guidelines:
        return _item("labelling consistency", "warning", "guidelines exist, agreement never measured", fix)
    return _item("labelling consistency", "missing", "no written guidelines: inconsistent labels cap any model", fix)


def _compute(a: Answers) -> Item:
    if a.compute is None:
        return _item("compute", "missing", "no compute stated", "say cpu or gpu; `hone estimate` says what fits")
    if a.compute == "gpu":
        return _item("compute", "ok", "a GPU is available; `hone estimate` says which configs fit")
    if a.task in GENERATIVE:
        return _item(
            "compute", "warning", "CPU only: LoRA on a causal LM is limited to ~135M models and slow",
            "run `hone estimate` before committing; rent a GPU for anything larger",
        )  # fmt: skip
    return _item("compute", "ok", "CPU only: small encoders train here; `hone estimate` gives the time")


def _timeline(a: Answers) -> Item:
    if a.timeline_weeks is None:
        return _item("timeline", "missing", "no deadline given", f"plan at least {MIN_WEEKS} weeks")
    if a.timeline_weeks < MIN_WEEKS:
        return _item(
            "timeline", "warning", f"{a.timeline_weeks:g} week(s) (< {MIN_WEEKS}) is short",
            "ship the baseline or a prompt first, tune after",
        )  # fmt: skip
    return _item("timeline", "ok", f"{a.timeline_weeks:g} weeks")


def red_flags(a: Answers, e: Evidence | None) -> list[str]:
    """The warning signs in words: scope creep, no measurable goal, a target labels cannot support, no time."""
    flags = []
    if a.task == "other" or a.other_tasks:
        extra = ", ".join(a.other_tasks) or "an undefined task ('other')"
        flags.append(f"scope creep: one model is also expected to do {extra}")
    if not a.success_metric:
        flags.append("no success metric")
    if e is None:
        flags.append("no baseline")
    ceiling = a.annotator_agreement
    if ceiling is not None and a.target is not None and a.target > ceiling:
        flags.append(f"target {a.target:g} is above the {ceiling:g} labeller agreement: no model can be measured there")
    if a.timeline_weeks is not None and a.timeline_weeks < MIN_WEEKS:
        flags.append(f"timeline {a.timeline_weeks:g} week(s) is too short")
    return flags


def _red_flags(a: Answers, e: Evidence | None) -> Item:
    flags = red_flags(a, e)
    if not flags:
        return _item("red flags", "ok", "one well-defined task with a metric, a baseline and time")
    split = "split the jobs into one model each; " if flags[0].startswith("scope creep") else ""
    return _item("red flags", "warning", "; ".join(flags), f"{split}settle the items above before training")


def assumptions(a: Answers) -> list[str]:
    """What the advice had to assume because an answer was unknown."""
    unknown = {
        "latency_ms": "no latency target: latency did not count",
        "daily_volume": "no daily volume: cost per request did not count",
        "compute": "no compute stated: the compute item is open",
        "timeline_weeks": "no timeline: the timeline item is open",
    }
    return [note for key, note in unknown.items() if getattr(a, key) is None]
