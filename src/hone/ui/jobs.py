"""Runs started from the browser: write a config from hone's defaults, then baseline → train → eval → report.

The web process only writes the config and starts a detached driver (`python -m hone.ui.jobs <config>`);
the driver runs each stage as its own `python -m hone ...` process, appends their output to
`<run>/ui-job.log`, and records the stage it is in and how it ended in `<run>/ui-job.json`. Training
never runs inside the web server, and a job outlives a restarted dashboard.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from hone.runs.registry import process_alive, process_start_id
from hone.runs.rundir import read_json, write_json

JOB, LOG, CONFIG = "ui-job.json", "ui-job.log", "hone.yaml"
DATA_SUFFIXES = {".jsonl", ".json", ".ndjson", ".csv", ".tsv", ".conll", ".txt"}
SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "checkpoints", "model"}
MAX_FILES, MAX_DEPTH = 300, 4
MAX_UPLOAD_BYTES = 64 * 1024 * 1024
HEAD_BYTES, COLUMN_ROWS = 64 * 1024, 20  # what the new-run form reads of a file to offer its columns


class JobError(ValueError):
    """A job request that cannot start; the message names the field and the fix."""


def data_files(root: Path, runs_dir: Path) -> list[str]:
    """Data files under `root` (relative paths, `examples/` first), skipping hidden folders and runs_dir."""
    found: list[str] = []
    runs = runs_dir.resolve()
    for current, dirs, files in os.walk(root):
        here = Path(current)
        depth = len(here.relative_to(root).parts)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS and (here / d).resolve() != runs
        )
        if depth >= MAX_DEPTH:
            dirs[:] = []
        found += [str((here / f).relative_to(root)) for f in sorted(files) if Path(f).suffix.lower() in DATA_SUFFIXES]
        if len(found) >= MAX_FILES:
            break
    return sorted(found[:MAX_FILES], key=lambda p: (not p.startswith("examples"), p))


def save_upload(runs_dir: Path, filename: str, content: str) -> Path:
    """Store an uploaded data file as `<runs_dir>/uploads/<name>` (a new name if taken); return its path."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(filename).name).lstrip(".") or "data.jsonl"
    if Path(stem).suffix.lower() not in DATA_SUFFIXES:
        raise JobError(f"upload {filename!r}: name the file .jsonl, .csv, .tsv, .conll or .txt")
    if len(content.encode("utf-8")) > MAX_UPLOAD_BYTES:
        raise JobError(f"upload {filename!r} is over {MAX_UPLOAD_BYTES // 2**20} MiB; pick it as a path instead")
    folder = runs_dir / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / stem
    for i in range(1, 1000):
        if not path.exists():
            break
        path = folder / f"{Path(stem).stem}-{i}{Path(stem).suffix}"
    path.write_text(content, encoding="utf-8")
    return path.resolve()


def resolve_data(data: str, data_root: Path, runs_dir: Path) -> Path:
    """The chosen data file: a path under `data_root` or an upload under `<runs_dir>/uploads`, nothing else."""
    if not data.strip():
        raise JobError("data: choose a data file or upload one")
    candidate = Path(data)
    path = (candidate if candidate.is_absolute() else data_root / candidate).resolve()
    allowed = [data_root.resolve(), (runs_dir / "uploads").resolve()]
    if not any(path.is_relative_to(root) for root in allowed):
        raise JobError(f"data: {data} is outside {data_root}; pick a listed file or upload it")
    if not path.is_file():
        raise JobError(f"data: {data} is not a file under {data_root}")
    return path


def _fresh_name(runs_dir: Path, stem: str) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-._")[:40] or "run"
    return f"{base}-{time.strftime('%Y%m%d-%H%M%S')}"


def job_config(request: dict[str, Any], data_root: Path, runs_dir: Path) -> Any:
    """The typed config for a browser request {data, task, model?, name?, overrides?}: hone's defaults plus
    the data file, name and runs_dir. Bad keys raise hone's ConfigError naming the key."""
    from hone import pipeline

    data = resolve_data(str(request.get("data") or ""), data_root, runs_dir)
    name = str(request.get("name") or "").strip() or _fresh_name(runs_dir, data.stem)
    raw: dict[str, Any] = {
        "task": str(request.get("task") or "classify"),
        "name": name,
        "runs_dir": str(runs_dir.resolve()),
        "data": {"train": str(data)},
    }
    if str(request.get("model") or "").strip():
        raw["model"] = {"name": str(request["model"]).strip()}
    overrides = [line.strip() for line in str(request.get("overrides") or "").splitlines() if line.strip()]
    cfg = pipeline.config_of(raw, overrides)
    if (runs_dir / cfg.name).exists():
        raise JobError(f"name: a run called {cfg.name!r} already exists in {runs_dir}; choose another name")
    return cfg


def write_job_config(cfg: Any) -> Path:
    """Write `cfg` (every default spelled out) as `<runs_dir>/<name>/hone.yaml`; return the path."""
    from hone.config import dump_config

    run_dir = Path(cfg.runs_dir) / cfg.name
    run_dir.mkdir(parents=True, exist_ok=False)
    path = run_dir / CONFIG
    path.write_text(dump_config(cfg), encoding="utf-8")
    write_json(run_dir / JOB, {"state": "running", "stage": None, "config": str(path), "started": time.time()})
    return path


def launch(config_path: Path) -> subprocess.Popen[bytes]:
    """Start the driver for `config_path` in its own session (a dashboard restart leaves it running)."""
    log = open(config_path.parent / LOG, "ab")  # noqa: SIM115 - the child owns the descriptor from here
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "hone.ui.jobs", str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    finally:
        log.close()


def job_state(run_dir: Path) -> dict[str, Any] | None:
    """ui-job.json of a dashboard job, "killed" when it says running but its driver is gone; None if none."""
    path = run_dir / JOB
    try:
        state = read_json(path)
    except (OSError, ValueError):
        return None
    if not isinstance(state, dict):
        return None
    pid = state.get("pid")
    if state.get("state") == "running" and isinstance(pid, int) and not process_alive(pid, state.get("pid_start")):
        state["state"] = "killed"
    return state


def stages(config_path: Path) -> list[tuple[str, list[str]]]:
    """The commands a job runs, in order."""
    run_dir = str(config_path.parent)
    return [
        ("baseline", ["baseline", str(config_path)]),
        ("train", ["train", str(config_path)]),
        ("eval", ["eval", run_dir]),
        ("report", ["report", run_dir]),
    ]


def drive(config_path: Path) -> int:
    """Run every stage (the driver process's body); stop at the first that fails. Returns an exit code."""
    job_file = config_path.parent / JOB
    state = read_json(job_file) if job_file.is_file() else {"config": str(config_path)}
    state.update(state="running", pid=os.getpid(), pid_start=process_start_id(os.getpid()))
    for stage, args in stages(config_path):
        write_json(job_file, {**state, "stage": stage})
        print(f"== hone {' '.join(args)}", flush=True)
        code = subprocess.call([sys.executable, "-m", "hone", *args], stdin=subprocess.DEVNULL)
        if code != 0:
            write_json(job_file, {**state, "stage": stage, "state": "failed", "returncode": code, "ended": time.time()})
            return code
    write_json(job_file, {**state, "stage": None, "state": "done", "returncode": 0, "ended": time.time()})
    return 0


def field_settings() -> dict[str, list[dict[str, str]]]:
    """Per task, the config keys that name a column of the data (`data.text_field`, `data.label_field`, ...), with
    their defaults and descriptions, from the config schema: the new-run form maps a file's columns onto them."""
    from hone.config.schema import TASK_CONFIGS

    out = {}
    for task, model in TASK_CONFIGS.items():
        data = model.model_fields["data"].annotation
        fields = getattr(data, "model_fields", {})
        out[task] = [
            {"key": f"data.{name}", "default": str(field.default), "about": field.description or ""}
            for name, field in fields.items()
            if name.endswith("_field")
        ]
    return out


def columns(filename: str, head: str) -> list[str]:
    """A data file's column names from its first rows (`head`): a CSV/TSV header, or the keys of the first JSON
    objects in the order they first appear. Other formats (CoNLL, text) have no columns: empty."""
    suffix = Path(filename).suffix.lower()
    head = head.lstrip("\ufeff")
    if suffix in (".csv", ".tsv"):
        header = next(csv.reader(io.StringIO(head), delimiter="\t" if suffix == ".tsv" else ","), [])
        return list(dict.fromkeys(c.strip() for c in header if c.strip()))
    if suffix not in (".jsonl", ".json", ".ndjson"):
        return []
    found: dict[str, None] = {}
    for line in head.splitlines()[:COLUMN_ROWS]:
        try:
            row = json.loads(line)
        except ValueError:
            continue  # the line cut off at the end of the head, or not a row
        if isinstance(row, dict):
            found.update(dict.fromkeys(map(str, row)))
    return list(found)


def read_head(path: Path, size: int = HEAD_BYTES) -> str:
    """The first `size` bytes of a data file as text (what `columns` reads)."""
    with path.open("rb") as fh:
        return fh.read(size).decode("utf-8", errors="replace")


def default_models() -> dict[str, str]:
    """Each task's default base model, from the config schema."""
    from hone.config.schema import TASK_CONFIGS

    out = {}
    for task, model in TASK_CONFIGS.items():
        field = model.model_fields["model"]
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        out[task] = getattr(default, "name", "")
    return out


def _main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m hone.ui.jobs <run>/hone.yaml", file=sys.stderr)
        return 2
    path = Path(argv[0]).resolve()
    yaml.safe_load(path.read_text(encoding="utf-8"))  # fail here, visibly, on an unreadable config
    return drive(path)


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
