"""`hone report`: `<run>/report.html`, one self-contained page (inline CSS, base64 PNG plots).

Only `config.yaml` is required; each missing input is named with the command that creates it.
Every string from the run (config values, labels, texts, data-check messages) is user data and
is escaped."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape
from pathlib import Path
from typing import Any

import yaml

from hone.report import plots
from hone.report.evaluations_section import evaluations_section
from hone.report.noise_section import noise_section
from hone.report.parts import clip as _clip
from hone.report.parts import duration as _duration
from hone.report.parts import e as _e
from hone.report.parts import img as _img
from hone.report.parts import metric as _metric
from hone.report.parts import note as _note
from hone.report.parts import num as _num
from hone.report.parts import row as _row
from hone.report.parts import table as _table
from hone.report.style import CSS
from hone.runs.registry import Registry, RunRecord
from hone.runs.rundir import RunDir

MAX_WORST, MAX_PROBLEMS = 50, 20  # rows shown

# Each optional input: the Inputs field holding it, the command that writes it ({config}, {run}).
INPUTS = {
    "baseline.json": ("baseline", "hone baseline {config}"),
    "metrics.jsonl": ("metrics", "hone train {config}"),
    "eval.json": ("eval", "hone eval {run}"),
    "data/check.json": ("check", "hone check {config}"),
}


@dataclass
class Inputs:
    """Everything the report reads from one run directory; None marks a missing file."""

    run: RunDir
    config: dict[str, Any]
    baseline: dict[str, Any] | None = None
    eval: dict[str, Any] | None = None
    check: dict[str, Any] | None = None
    metrics: list[dict[str, Any]] | None = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)  # `hone eval RUN --test FILE`, oldest first
    notes: list[str] = field(default_factory=list)  # unreadable files, skipped lines

    @property
    def name(self) -> str:
        """The run's name from its config, else its directory's."""
        return str(self.config.get("name") or self.run.name)

    def missing(self, filename: str) -> bool:
        """Whether the optional input `filename` (a key of INPUTS) is absent."""
        return getattr(self, INPUTS[filename][0]) is None

    def _first(self, key: str) -> Any:
        """`key` from eval.json, else from baseline.json (they agree when both exist)."""
        values = [(source or {}).get(key) for source in (self.eval, self.baseline)]
        return next((v for v in values if v is not None), None)

    @property
    def primary(self) -> str | None:
        """The primary metric: eval.json's, else baseline.json's, else the first dev metric."""
        dev = next((r["dev"] for r in self.metrics or [] if isinstance(r.get("dev"), dict)), {})
        return self._first("primary_metric") or next(iter(dev), None)

    @property
    def higher_is_better(self) -> bool:
        """The primary metric's direction (higher unless a results file says otherwise)."""
        return self._first("higher_is_better") is not False


def write_report(run_dir: Path) -> Path:
    """Render `<run_dir>/report.html` (atomically) from the run's files; return its path."""
    run = RunDir(Path(run_dir))
    tmp = run.report.with_name(f".{run.report.name}.tmp-{os.getpid()}")
    tmp.write_text(render_report(load_inputs(run)), encoding="utf-8")
    os.replace(tmp, run.report)
    return run.report


def load_inputs(run: RunDir) -> Inputs:
    """Read the run: config.yaml is required, the rest may be missing or unreadable."""
    if not run.config.is_file():
        raise FileNotFoundError(f"{run.config}: missing, so {run.path} is not a run directory")
    config = yaml.safe_load(run.config.read_text(encoding="utf-8"))
    inputs = Inputs(run, config if isinstance(config, dict) else {})
    inputs.baseline = _read_json(run.baseline, inputs.notes)
    inputs.eval = _read_json(run.eval, inputs.notes)
    inputs.check = _read_json(run.check_report, inputs.notes)
    inputs.metrics = _read_jsonl(run.metrics, inputs.notes)
    found = sorted(run.evaluations.glob("*.json"), key=lambda path: path.stat().st_mtime)
    inputs.evaluations = [e for path in found if (e := _read_json(path, inputs.notes)) is not None]
    return inputs


def _read_json(path: Path, notes: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        notes.append(f"{path.name} could not be read ({err}); it is left out.")
        return None
    return data if isinstance(data, dict) else None


def _read_jsonl(path: Path, notes: list[str]) -> list[dict[str, Any]] | None:
    """The metric records; bad lines (a run killed mid-write leaves half a line) are skipped."""
    if not path.is_file():
        return None
    records, bad = [], 0
    for line in filter(str.strip, path.read_text(encoding="utf-8", errors="replace").splitlines()):
        try:
            records.append(json.loads(line))
        except ValueError:
            bad += 1
    if bad:
        notes.append(f"{path.name}: {bad} unreadable line(s) skipped.")
    return [r for r in records if isinstance(r, dict)]


def _dig(mapping: Any, dotted: str) -> Any:
    """`mapping["a"]["b"]` for "a.b", or None: the report renders files of any hone version."""
    for key in dotted.split("."):
        mapping = mapping.get(key) if isinstance(mapping, dict) else None
    return mapping


def _record(run: RunDir) -> RunRecord | None:
    """The run's registry row, if `<runs_dir>/registry.sqlite` exists and knows the run."""
    db = run.path.parent / "registry.sqlite"
    if not db.is_file():
        return None  # reporting must not create a registry
    try:
        return Registry(db).get(run.name)
    except (sqlite3.Error, RuntimeError):
        return None


def _missing(inputs: Inputs, filename: str) -> str:
    command = INPUTS[filename][1].format(config=inputs.run.config, run=inputs.run.path)
    return (
        f'<p class="missing"><code>{escape(filename)}</code> is missing; create it with '
        f"<code>{escape(command)}</code>.</p>"
    )


def _header(inputs: Inputs) -> str:
    cfg, record = inputs.config, _record(inputs.run)
    guess = "evaluated" if inputs.eval else "trained" if inputs.run.model.exists() else "no model"
    status = record.status if record else guess  # only the registry knows "killed", "failed"
    generated = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    fields = [
        ("task", cfg.get("task")),
        ("model", _dig(cfg, "model.name")),
        ("method", _dig(cfg, "model.method")),
        ("status", status),
        ("date", record and (record.finished or record.created)),
        ("report", generated),
    ]
    meta = "".join(f"<span><b>{k}</b> {_e(v)}</span>" for k, v in fields if v is not None)
    notes = "".join(_note(_e(n)) for n in inputs.notes)
    return f'<h1>{_e(inputs.name)}</h1><div class="meta">{meta}</div>{notes}'


def _verdict(inputs: Inputs) -> str:
    """The verdict box: green when the tuned model beats the best baseline, amber otherwise."""
    if inputs.eval is None:
        return f'<div class="verdict warn">No verdict yet.</div>{_missing(inputs, "eval.json")}'
    cmp = inputs.eval.get("comparison") or {}
    text = inputs.eval.get("verdict") or "No comparison with a baseline was recorded."
    detail = ""
    if cmp:  # the scores behind the verdict sentence, which already states gain and interval
        detail = (
            f'<div class="detail">{_e(inputs.primary)}: tuned '
            f"{_metric(cmp.get('tuned_score'))} vs {_e(cmp.get('baseline'))} "
            f"{_metric(cmp.get('baseline_score'))} on {_e(inputs.eval.get('n'))} "
            "test examples.</div>"
        )
    leaked = inputs.eval.get("leaked")
    if isinstance(leaked, dict) and leaked.get("note"):  # both figures: without the copies of train, and with
        detail += f'<div class="detail leaked">{_e(leaked["note"])}.</div>'
    kind = "good" if cmp.get("better") is True else "warn"
    return f'<div class="verdict {kind}"><b>Verdict.</b> {_e(text)}{detail}</div>'


Contender = tuple[str, dict[str, Any], dict[str, Any], bool]  # name, metrics, cost, is_tuned


def _contenders(inputs: Inputs) -> list[Contender]:
    """Every baseline that baseline.json or eval.json knows, then the tuned model."""
    stored = _dig(inputs.baseline, "baselines") or {}
    eval_costs = _dig(inputs.eval, "cost.baselines") or {}
    compared = _dig(inputs.eval, "comparison.baseline")
    rows: list[Contender] = []
    for name in dict.fromkeys([*stored, *eval_costs, *filter(None, [compared])]):
        metrics = dict(_dig(stored, f"{name}.metrics") or {})
        if name == compared and inputs.primary and inputs.primary not in metrics:
            metrics[inputs.primary] = _dig(inputs.eval, "comparison.baseline_score")
        cost = eval_costs.get(name) or _dig(stored, f"{name}.cost") or {}
        rows.append((str(name), metrics, cost, False))
    if inputs.eval is not None:
        tuned_cost = _dig(inputs.eval, "cost.tuned") or {}
        rows.append(("tuned", inputs.eval.get("metrics") or {}, tuned_cost, True))
    return rows


def _comparison(inputs: Inputs) -> str:
    # a missing eval.json is named once, under the verdict
    notices = _missing(inputs, "baseline.json") if inputs.missing("baseline.json") else ""
    rows, primary = _contenders(inputs), inputs.primary
    if not rows:
        return notices
    others = sorted({k for _, m, _, _ in rows for k in m} - {primary})
    columns = [c for c in [primary, *others] if c]
    scores = [v for _, m, _, _ in rows if (v := _num(m.get(primary))) is not None]
    best = (max if inputs.higher_is_better else min)(scores) if scores else None
    best_baseline = _dig(inputs.baseline, "best") or _dig(inputs.eval, "comparison.baseline")
    headers = [
        "model",
        *[f"{c} (primary)" if c == primary else c for c in columns],
        "latency / example",
        "time / 1,000 predictions",
    ]
    body = [_contender_row(r, columns, best, best_baseline) for r in rows]
    return notices + _table(headers, body, set(range(1, len(headers)))) + _cost_note(inputs)


def _contender_row(row: Contender, columns: list[str], best: float | None, best_base: Any) -> str:
    """One model's row: name, metrics (the best primary score in bold), latency, cost."""
    name, metrics, cost, tuned = row
    label = _e(name) + ('<span class="tag">best baseline</span>' if name == best_base else "")
    cells = [label]
    for column in columns:
        value = _metric(metrics.get(column))
        strong = column == columns[0] and best is not None and _num(metrics.get(column)) == best
        cells.append(f"<b>{value}</b>" if strong else value)
    latency = _num(cost.get("latency_ms"))
    cells += [_duration(None if latency is None else latency / 1e3), _duration(cost.get("per_1000_s"))]
    return _row(cells, set(range(1, len(cells))), attrs=" class=tuned" if tuned else "")


def _cost_note(inputs: Inputs) -> str:
    tuned, timed = _dig(inputs.eval, "cost.tuned") or {}, ""
    if tuned.get("device"):
        timed = f"The tuned model was timed on {_e(tuned['device'])}, batch size {_e(tuned.get('batch_size'))}. "
    return _note(f"{timed}Best primary score in bold.")


# Dev metrics where lower is better: generative tasks select checkpoints on held-out loss, not on their
# primary metric, which needs generated answers.
LOWER_IS_BETTER = {"loss", "perplexity"}


def _curves(inputs: Inputs) -> str:
    records = inputs.metrics or []
    loss = plots.training_loss(records)
    parts = [_img(loss, "training loss by step") if loss else _note("No training loss logged.")]
    metric = _dev_metric(inputs)
    higher = inputs.higher_is_better if metric == inputs.primary else metric not in LOWER_IS_BETTER
    dev = plots.dev_metric(records, metric, higher) if metric else None
    parts.append(_img(dev, f"dev {metric} by step") if dev else _note("No dev evaluations were logged."))
    return "".join(parts)


def _dev_metric(inputs: Inputs) -> str | None:
    """The metric the dev evaluations logged: the primary one if they did, else held-out loss, else the first."""
    logged = [k for r in inputs.metrics or [] if isinstance(r.get("dev"), dict) for k in r["dev"]]
    for candidate in (inputs.primary, "loss"):
        if candidate in logged:
            return candidate
    return next(iter(logged), None)


def _confusion(inputs: Inputs) -> str:
    confusion = _dig(inputs.eval, "confusion")
    if _dig(inputs.eval, "per_class") is None:
        return ""  # not a classifier (NER has its errors-by-type table; retrieval has no classes)
    if not confusion:
        return _note("No confusion matrix for this run (multi-label, or not a classifier).")
    png = plots.confusion_matrix(list(map(str, confusion["labels"])), confusion["matrix"])
    return _img(png, "confusion matrix")


def _per_class(inputs: Inputs) -> str:
    per_class = _dig(inputs.eval, "per_class") or _dig(inputs.eval, "per_type") or {}
    rows = [
        [_e(label), _metric(s.get("precision")), _metric(s.get("recall")), _metric(s.get("f1")), _e(s.get("support"))]
        for label, s in per_class.items()
    ]
    if not rows:
        return ""  # a task without labels (retrieval)
    return _table(["label", "precision", "recall", "F1", "support"], rows, {1, 2, 3, 4})


def _entity_errors(inputs: Inputs) -> str:
    errors = _dig(inputs.eval, "errors")
    if not errors:
        return _generation_errors(inputs)
    kinds = ["correct", "missed", "spurious", "wrong_type", "wrong_boundary"]
    rows = [[_e(label), *[_e(counts.get(k, 0)) for k in kinds]] for label, counts in errors.items()]
    table = _table(["type", *[k.replace("_", " ") for k in kinds]], rows, {1, 2, 3, 4, 5})
    return table + _note(
        "missed: a gold entity no prediction overlaps; spurious: a prediction no gold entity overlaps; "
        "wrong type: same boundaries, other type; wrong boundary: same type, overlapping but not exact."
    )


def _regressions(inputs: Inputs) -> str:
    found = _dig(inputs.eval, "regressions")
    if not found:
        return ""
    rows = [
        [
            f'<div class="text">{_e(_clip(q["query"]))}</div>',
            _e(q.get("rank_before") or "-"),
            _e(q.get("rank_after") or "-"),
            _ranked(q.get("before", [])),
            _ranked(q.get("after", [])),
        ]
        for q in found.get("queries", [])
    ]
    if not rows:
        return _note(f"No query ranks its answer lower than the untuned {_e(found.get('against'))} model did.")
    return _table(["query", "rank before", "rank after", "top 3 before", "top 3 after"], rows, {1, 2})


def _ranked(docs: list[dict[str, Any]]) -> str:
    """Retrieved passages in rank order; the relevant one in bold."""
    items = []
    for d in docs:
        text = _e(_clip(d.get("text", "")))
        items.append(f"<li><b>{text}</b></li>" if d.get("relevant") else f"<li>{text}</li>")
    return f'<ol class="text">{"".join(items)}</ol>'


def _where(item: dict[str, Any]) -> str:
    source, line = item.get("source"), item.get("line")
    return _e(source if line is None else f"{source}:{line}") if source else "(dataset)"


def _generation_errors(inputs: Inputs) -> str:
    """How generated answers fail (too verbose, repetitive, empty, too short), for chat tasks."""
    counts = _dig(inputs.eval, "error_categories")
    if not counts:
        return ""
    n = _dig(inputs.eval, "n") or 1
    rows = [[_e(kind.replace("_", " ")), _e(count), _metric(count / n)] for kind, count in counts.items()]
    return _table(["error", "answers", "share"], rows, {1, 2}) + _note(
        "too verbose: over twice the reference's words; repetitive: over 30% repeated word trigrams; "
        "too short: under half the reference's words."
    )


def _worst(inputs: Inputs) -> str:
    worst = _dig(inputs.eval, "worst") or []
    if not worst:
        return _note("No wrong predictions were recorded.")
    rows = [
        [
            f'<div class="text">{_e(_clip(item.get("text", "")))}</div>',
            _e(item.get("gold")),
            _e(item.get("predicted")),
            _metric(item.get("confidence")),
            _where(item),
        ]
        for item in worst[:MAX_WORST]
    ]
    more = _note(f"Showing {MAX_WORST} of {len(worst)}.") if len(worst) > MAX_WORST else ""
    return _table(["text", "gold", "predicted", "confidence", "source"], rows, {3}) + more


def _general_ability(inputs: Inputs) -> str:
    """Test-split loss of a generative run, and base vs tuned on the general prompts (forgetting)."""
    held_out, forgot = _dig(inputs.eval, "held_out"), _dig(inputs.eval, "forgetting")
    parts = []
    if held_out:
        parts.append(
            f"<p>Held-out (test split) reference answers, teacher-forced: loss <b>{_metric(held_out.get('loss'))}"
            f"</b>, perplexity <b>{_metric(held_out.get('perplexity'))}</b> over {_e(held_out.get('tokens'))} "
            "answer tokens.</p>"
        )
    if forgot:
        parts.append(_forgetting(forgot))
    return "".join(parts)


FORGETTING_COLUMNS = ("prompt", "reference", "base", "tuned")


def _forgetting(forgot: dict[str, Any]) -> str:
    rows = [
        ["base (adapters off)", _metric(forgot.get("base_perplexity"))],
        ["tuned", _metric(forgot.get("tuned_perplexity"))],
    ]
    ratio = _num(forgot.get("ratio"))
    reading = (
        "above 1: the tuned model finds these plain answers less likely than its base did, which is what tuning "
        "cost; read the answers below"
        if ratio is not None and ratio > 1
        else "at or below 1: no sign of forgetting on these prompts"
    )
    answers = [
        [f'<div class="text">{_e(_clip(a.get(k) or "")) or "<i>(empty)</i>"}</div>' for k in FORGETTING_COLUMNS]
        for a in forgot.get("answers") or []
    ]
    return (
        _table(["model", "perplexity of the general reference answers"], rows, {1})
        + _note(f"Tuned / base perplexity: <b>{_metric(ratio)}</b> ({reading}).")
        + _table(["general prompt", "reference", "base answer", "tuned answer"], answers, set())
    )


def _data_check(inputs: Inputs) -> str:
    check = inputs.check or {}
    counts = check.get("counts") or {}
    parts = [f"<p><b>{_e(counts.get('error', 0))}</b> error(s), <b>{_e(counts.get('warning', 0))}</b> warning(s).</p>"]
    by_category = sorted((check.get("by_category") or {}).items(), key=lambda kv: -(_num(kv[1]) or 0))
    if by_category:
        parts.append(_table(["category", "count"], [[_e(k), _e(v)] for k, v in by_category], {1}))
    problems = check.get("problems") or []
    rows = [
        [_e(p.get("severity")), _e(p.get("category")), _where(p), _e(p.get("field")), _e(p.get("message"))]
        for p in problems[:MAX_PROBLEMS]
    ]
    if rows:
        parts.append(_table(["severity", "category", "where", "field", "message"], rows, set()))
    if len(problems) > MAX_PROBLEMS:
        parts.append(_note(f"… and {len(problems) - MAX_PROBLEMS} more in data/check.json."))
    return "".join(parts)


def _search(inputs: Inputs) -> str:
    """The recipes `hone train --search` tried on dev (search.json in the winner's run), and that test was
    read once, for the winner; nothing for a run that was not the winner of a search."""
    path = inputs.run.path / "search.json"
    if not path.is_file():
        return ""
    found = json.loads(path.read_text(encoding="utf-8"))
    metric, test = found["dev_metric"], found["test"]
    rows = []
    for t in found["trials"]:
        recipe = ", ".join(
            f"{k.split('.')[-1]} {v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]} {v}"
            for k, v in t["recipe"].items()
        )
        score = t.get("dev_score")
        rows.append([t["run"], recipe, t["state"], "—" if score is None else f"{score:.4f}", str(t.get("step", "—"))])
    return (
        f"<p>{len(found['trials'])} recipes tried on the dev split ({_e(found['sampler'])}); the best, "
        f"<b>{_e(found['winner'])}</b>, is the only one scored on test (test read {_e(test['touched'])} time): "
        f"{_e(test['primary_metric'])} {_metric(test['score'])}.</p>"
        + _table(["run", "recipe", "state", f"best dev {metric}", "at step"], rows, set())
    )


# (title, the optional input it needs or None, renderer), in page order.
SECTIONS: list[tuple[str, str | None, Callable[[Inputs], str]]] = [
    ("Baselines vs tuned model", None, _comparison),
    ("Training curves", "metrics.jsonl", _curves),
    ("Search", None, _search),
    ("Confusion matrix", "eval.json", _confusion),
    ("Per-label precision, recall and F1", "eval.json", _per_class),
    ("Errors by kind", "eval.json", _entity_errors),
    ("Queries that got worse than before tuning", "eval.json", _regressions),
    ("Examples the model gets wrong", "eval.json", _worst),
    ("Possible label noise", "eval.json", lambda inputs: noise_section(inputs.eval)),
    ("Held-out loss and general prompts (forgetting)", None, _general_ability),
    ("Evaluations on other files", None, lambda inputs: evaluations_section(inputs.evaluations, inputs.primary)),
    ("Data check", "data/check.json", _data_check),
]


def _section(title: str, needs: str | None, render: Callable[[Inputs], str], inputs: Inputs) -> str:
    """One titled section; a missing input is named, malformed data breaks only this section. Sections that read
    eval.json are left out until it exists (the verdict says how to create it): which of them apply depends on
    what the run's task writes there (a confusion matrix only for a classifier, answers' errors for chat)."""
    if needs == "eval.json" and inputs.missing(needs):
        return ""
    try:
        body = _missing(inputs, needs) if needs and inputs.missing(needs) else render(inputs)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as err:
        body = f'<p class="missing">Could not draw this from the run files: {_e(repr(err))}</p>'
    if not body:  # a section that does not apply to this task
        return ""
    return f"<section><h2>{escape(title)}</h2>{body}</section>"


def render_report(inputs: Inputs) -> str:
    """The whole report page as one HTML string."""
    sections = "".join(_section(*spec, inputs) for spec in SECTIONS)
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>hone report: {_e(inputs.name)}</title><style>{CSS}</style></head>"
        f"<body><main>{_header(inputs)}{_verdict(inputs)}{sections}</main></body></html>\n"
    )
