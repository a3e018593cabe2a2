"""What the dashboard shows, read from the runs folder: the registry, run directories, sweeps, ratings.

Every path is derived from a run *name* checked against the config's name pattern and resolved inside
`runs_dir`, so no request can make the dashboard read a file outside it. Nothing here writes: a
missing registry is not created, a half-written metrics line is skipped.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from hone.evaluate.standing import standing
from hone.runs.registry import Registry, RunRecord
from hone.runs.rundir import RunDir

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")  # RunConfig.name's pattern
MAX_CURVE_POINTS = 2000  # a long run logs tens of thousands of steps; the chart needs no more
SCAN_DEPTH = 3  # folders below runs_dir searched for sweep.json / compare.json


class UnknownRun(LookupError):
    """A run name that is invalid or not found; the message says which and where."""


def run_path(runs_dir: Path, name: str) -> Path:
    """`runs_dir/name`, refusing names that are not run names or that resolve outside `runs_dir`."""
    if not NAME.fullmatch(name):
        raise UnknownRun(f"{name!r} is not a run name (letters, digits, '.', '_', '-'; no slashes)")
    root = runs_dir.resolve()
    path = (root / name).resolve()
    if path.parent != root:
        raise UnknownRun(f"{name!r} resolves outside {runs_dir}")
    return path


def records(runs_dir: Path) -> dict[str, RunRecord]:
    """The registry's runs by name; empty when `runs_dir` has no registry (none is created)."""
    db = runs_dir / "registry.sqlite"
    if not db.is_file():
        return {}
    try:
        return {r.name: r for r in Registry(db).list()}
    except (sqlite3.Error, RuntimeError):
        return {}


def read_json_file(path: Path) -> Any:
    """A JSON file's content, or None when it is missing or unreadable (a run may be mid-write)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """metrics.jsonl's records; bad lines (a run killed mid-write) are skipped."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    out = []
    for line in filter(str.strip, lines):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


def _config(run: RunDir) -> dict[str, Any]:
    """The run's resolved config.yaml, else the config a dashboard job was started with (hone.yaml): a job that
    fails before training never writes config.yaml, and its task, model and method must still show."""
    from hone.ui.jobs import CONFIG

    for path in (run.config, run.path / CONFIG):
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            continue
        if isinstance(loaded, dict):
            return loaded
    return {}


def _job(run: RunDir) -> dict[str, Any] | None:
    from hone.ui.jobs import job_state

    return job_state(run.path)


def summary(runs_dir: Path, name: str, record: RunRecord | None) -> dict[str, Any]:
    """One row of the runs table: the registry's view, filled in from the run directory."""
    run = RunDir(run_path(runs_dir, name))
    cfg = _config(run)
    model = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    job = _job(run)
    row = {
        "name": name,
        "task": record.task if record else cfg.get("task"),
        "model": record.model if record else model.get("name"),
        "method": record.method if record else model.get("method"),
        "status": record.status if record else "not started",
        "primary_metric": record.primary_metric if record else None,
        "score": record.score if record else None,
        "created": record.created if record else None,
        "finished": record.finished if record else None,
        "message": record.message if record else None,
        "job": job,
    }
    row["phase"] = phase(row["status"], job)
    row["standing"] = standing(read_json_file(run.eval))
    row["error"] = _error(row, run.path)
    return row


def _error(row: dict[str, Any], path: Path) -> str | None:
    """Why a run failed, in one line: the registry's message, else the failed dashboard job's error line."""
    if row["phase"] not in ("failed", "killed"):
        return None
    if row["message"]:
        return str(row["message"]).strip().splitlines()[0]
    return error_line(_log_tail(path)) if row["job"] else None


def error_line(log: str | None) -> str | None:
    """The line of a job log that says what went wrong: the last `error:` line (hone's failures), else the last
    line of a traceback's exception, else the last line."""
    lines = [line.rstrip() for line in (log or "").splitlines() if line.strip() and not line.startswith("== hone")]
    if not lines:
        return None
    return next((line for line in reversed(lines) if line.startswith("error:")), lines[-1])


def phase(status: str, job: dict[str, Any] | None) -> str:
    """What a reader should see: a dashboard job's stage while it runs, else the registry's status.

    The registry says "finished" when training ends; a dashboard job still has evaluation to do then.
    """
    if job is None or job.get("state") == "done":
        return status
    if job.get("state") == "running":
        return f"{job.get('stage')}…" if job.get("stage") else "starting…"
    return str(job.get("state"))  # failed, killed


def run_names(runs_dir: Path, known: dict[str, RunRecord]) -> list[str]:
    """Registered runs (newest first), then run directories the registry does not know (yet)."""
    names = [n for n in known if NAME.fullmatch(n)]
    if runs_dir.is_dir():
        extra = [
            p.name
            for p in sorted(runs_dir.iterdir(), key=lambda p: p.stat().st_mtime, reverse=True)
            if p.is_dir() and NAME.fullmatch(p.name) and p.name not in known
            if (p / "config.yaml").is_file() or (p / "ui-job.json").is_file()
        ]
        names += extra
    return names


def list_runs(runs_dir: Path) -> list[dict[str, Any]]:
    """Every run for the runs table."""
    known = records(runs_dir)
    return [summary(runs_dir, name, known.get(name)) for name in run_names(runs_dir, known)]


def _curves(metrics: list[dict[str, Any]]) -> dict[str, Any]:
    """Training loss and each dev metric as [step, value] lists, plus the newest step's progress."""
    loss = [[r["step"], r["loss"]] for r in metrics if _number(r.get("loss")) and "step" in r]
    dev: dict[str, list[list[float]]] = {}
    for r in metrics:
        for key, value in (r.get("dev") or {}).items() if isinstance(r.get("dev"), dict) else ():
            if _number(value):
                dev.setdefault(key, []).append([r.get("step"), value])
    stride = max(1, len(loss) // MAX_CURVE_POINTS)
    last = next((r for r in reversed(metrics) if "loss" in r), {})
    progress = {k: last.get(k) for k in ("step", "epoch", "loss", "lr")}
    return {"loss": loss[::stride] + loss[-1:] * (stride > 1), "dev": dev, "progress": progress}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _baselines(baseline: Any) -> dict[str, Any] | None:
    """baseline.json without the stored test predictions (hundreds of rows the page does not show)."""
    if not isinstance(baseline, dict):
        return None
    stored = baseline.get("baselines") or {}
    trimmed = {n: {k: v for k, v in b.items() if k != "predictions"} for n, b in stored.items() if isinstance(b, dict)}
    return {**baseline, "baselines": trimmed}


def run_detail(runs_dir: Path, name: str) -> dict[str, Any]:
    """Everything the run page draws. UnknownRun when neither the registry nor a directory has it."""
    path = run_path(runs_dir, name)
    known = records(runs_dir)
    if name not in known and not path.is_dir():
        raise UnknownRun(f"no run named {name!r} in {runs_dir} (neither in registry.sqlite nor a folder)")
    run = RunDir(path)
    row = summary(runs_dir, name, known.get(name))
    record = known.get(name)
    return {
        **row,
        "record": None if record is None else {**asdict(record), "run_dir": str(record.run_dir)},
        "config": _config(run),
        "curves": _curves(read_metrics(run.metrics)),
        "eval": read_json_file(run.eval),
        "baseline": _baselines(read_json_file(run.baseline)),
        "check": read_json_file(run.check_report),
        "has_report": run.report.is_file(),
        "log_tail": _log_tail(path) if row["job"] and row["job"].get("state") in ("failed", "killed") else None,
    }


def _log_tail(path: Path, lines: int = 40) -> str | None:
    from hone.ui.jobs import LOG

    try:
        return "\n".join((path / LOG).read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return None


def compare_runs(runs_dir: Path, names: list[str]) -> dict[str, Any]:
    """Test metrics of `names` side by side, with each run's difference from the first."""
    runs = [run_detail(runs_dir, n) for n in names]
    metrics: list[str] = []
    for r in runs:
        metrics += [m for m in ((r["eval"] or {}).get("metrics") or {}) if m not in metrics]
    rows = []
    for metric in metrics:
        values = [((r["eval"] or {}).get("metrics") or {}).get(metric) for r in runs]
        first = values[0] if values and _number(values[0]) else None
        deltas = [v - first if first is not None and _number(v) else None for v in values]
        rows.append({"metric": metric, "values": values, "deltas": deltas})
    heads = [{k: r[k] for k in ("name", "task", "model", "method", "phase", "primary_metric", "score")} for r in runs]
    verdicts = [(r["eval"] or {}).get("verdict") for r in runs]
    return {"runs": heads, "rows": rows, "verdicts": verdicts}


def find_kind(runs_dir: Path, filename: str, kind: str) -> list[dict[str, Any]]:
    """Every `filename` up to SCAN_DEPTH folders below runs_dir whose "kind" is `kind`, with its path."""
    found = []
    if not runs_dir.is_dir():
        return found
    for depth in range(SCAN_DEPTH + 1):
        for path in sorted(runs_dir.glob("/".join(["*"] * depth + [filename]))):
            data = read_json_file(path)
            if isinstance(data, dict) and data.get("kind") == kind:
                found.append({**data, "path": str(path.relative_to(runs_dir))})
    return found
