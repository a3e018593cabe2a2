"""The suite's measuring rules, kept in one place so every benchmark follows them.

A benchmark is a list of `Case`s: hone's way of doing some work and the comparison's way of doing the same
work. `measure` runs each case once as a warm-up, then `repeats` rounds in which every case runs once,
in an order rotated each round (no case always goes first, so drift in the machine's load is shared
out), and keeps the median. `Result` holds the figures with the workload they were measured on, computes
hone's ratio to the comparison and writes itself as JSON; `show` prints it as a table.
"""

from __future__ import annotations

import gc
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MIN_REPEATS = 3
HONE, COMPARISON = "hone", "comparison"


@dataclass(frozen=True)
class Settings:
    """How a benchmark runs: `smoke` shrinks it to a tiny random model and tiny sizes (a check that it runs)."""

    smoke: bool = False
    repeats: int = MIN_REPEATS
    warmup: int = 1
    progress: bool = False  # a line on stderr per timed run (full runs take minutes)


@dataclass
class Case:
    """One way of doing the benchmark's work.

    `run()` does the work once, timed, and returns notes on what it did (token counts, cache hits...);
    `prepare()` runs untimed before every `run()` (to empty or warm a cache). `per`: the figure is a rate,
    `notes[per]` per second (e.g. "tokens" gives tokens/s); None: the figure is the wall-clock seconds.
    """

    key: str
    label: str
    side: str  # HONE or COMPARISON
    run: Callable[[], dict[str, Any]]
    prepare: Callable[[], None] | None = None
    per: str | None = None
    warm: Callable[[], dict[str, Any]] | None = None
    after: Callable[[dict[str, Any]], None] | None = None
    amount: str | None = None  # the figure is notes[amount] itself, in `unit`, lower is better (memory)
    unit: str = ""
    against: str | None = None  # the key of the figure this one's ratio is taken against (default: the headline)


@dataclass
class Figure:
    """One case's measurements: `samples` in the figure's unit and `seconds`, one each per repeat."""

    key: str
    label: str
    side: str
    unit: str
    higher_is_better: bool
    samples: list[float]
    seconds: list[float]
    notes: dict[str, Any]
    against: str | None = None

    @property
    def value(self) -> float:
        return statistics.median(self.samples)

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "side": self.side,
            "value": self.value,
            "unit": self.unit,
            "higher_is_better": self.higher_is_better,
            "samples": self.samples,
            "seconds": self.seconds,
            "notes": self.notes,
        }


def measure(cases: list[Case], settings: Settings) -> list[Figure]:
    """Warm up every case, then run them in rotating order `settings.repeats` times."""
    for _ in range(settings.warmup):
        for case in cases:
            _report(settings, "warm-up", case, _once(case, warm=True))
    runs: dict[str, list[tuple[float, dict[str, Any]]]] = {case.key: [] for case in cases}
    for round_ in range(settings.repeats):
        shift = round_ % len(cases)
        for case in cases[shift:] + cases[:shift]:
            runs[case.key].append(_report(settings, f"repeat {round_ + 1}/{settings.repeats}", case, _once(case)))
    return [_figure(case, runs[case.key]) for case in cases]


def _report(settings: Settings, stage: str, case: Case, run: tuple[float, dict[str, Any]]) -> tuple[float, dict]:
    if settings.progress:
        print(f"{stage:>12}  {case.key:20} {run[0]:8.2f} s", file=sys.stderr, flush=True)
    return run


def _once(case: Case, warm: bool = False) -> tuple[float, dict[str, Any]]:
    if case.prepare is not None:
        case.prepare()
    gc.collect()  # a collection started by an earlier case's garbage must not land inside this timing
    work = case.warm if warm and case.warm is not None else case.run
    start = time.perf_counter()
    notes = work()
    seconds = time.perf_counter() - start
    if case.after is not None and not warm:
        case.after(notes)
    return seconds, notes


def _figure(case: Case, runs: list[tuple[float, dict[str, Any]]]) -> Figure:
    seconds = [s for s, _ in runs]
    if case.amount is not None:
        samples = [float(notes[case.amount]) for _, notes in runs]
        return Figure(case.key, case.label, case.side, case.unit, False, samples, seconds, runs[-1][1], case.against)
    if case.per is None:
        samples, unit = seconds, "s"
    else:
        samples, unit = [notes[case.per] / s for s, notes in runs], f"{case.per}/s"
    return Figure(
        case.key, case.label, case.side, unit, case.per is not None, samples, seconds, runs[-1][1], case.against
    )


def ratio(hone: Figure, other: Figure) -> float:
    """How many times better hone's figure is than `other` (> 1: hone is better), for times and rates alike."""
    return hone.value / other.value if hone.higher_is_better else other.value / hone.value


@dataclass
class Result:
    """A benchmark's figures with what they were measured on. The first figure of each side is its headline."""

    name: str
    description: str
    workload: dict[str, Any]
    figures: list[Figure]
    settings: Settings
    checks: dict[str, Any] = field(default_factory=dict)

    def headline(self, side: str) -> Figure:
        return next(f for f in self.figures if f.side == side)

    def ratio_of(self, figure: Figure) -> float:
        """A figure against the one it names (`against`), else a hone figure against the headline comparison
        and a comparison figure against hone's headline."""
        if figure.against is not None:
            other = next(f for f in self.figures if f.key == figure.against)
            return ratio(figure, other) if figure.side == HONE else ratio(other, figure)
        if figure.side == HONE:
            return ratio(figure, self.headline(COMPARISON))
        return ratio(self.headline(HONE), figure)

    def to_json(self) -> dict[str, Any]:
        hone, comparison = self.headline(HONE), self.headline(COMPARISON)
        meaning = (
            f"{hone.key} {hone.unit} / {comparison.key} {hone.unit}"
            if hone.higher_is_better
            else f"{comparison.key} seconds / {hone.key} seconds (how many times faster hone is)"
            if hone.unit == "s"
            else f"{comparison.key} {hone.unit} / {hone.key} {hone.unit} (above 1: hone needs less)"
        )
        return {
            "name": self.name,
            "description": self.description,
            "smoke": self.settings.smoke,
            "repeats": self.settings.repeats,
            "warmup": self.settings.warmup,
            "workload": self.workload,
            "hone": hone.to_json(),
            "comparison": comparison.to_json(),
            "ratio": self.ratio_of(hone),
            "ratio_meaning": meaning,
            "figures": [{**f.to_json(), "ratio": self.ratio_of(f)} for f in self.figures],
            "checks": self.checks,
            "environment": environment(),
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


def write(data: dict[str, Any], out_dir: Path) -> Path:
    """`<name>.json`, or `<name>.smoke.json` for a smoke run (so a CI check never overwrites measured figures)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{data['name']}{'.smoke' if data['smoke'] else ''}.json"
    path.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON")


def finite_positive(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def environment() -> dict[str, Any]:
    """What the figures depend on besides the workload: versions, threads, CPU, hone's commit."""
    import peft
    import torch
    import transformers

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "hone_commit": _commit(),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _commit() -> str | None:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return None
    if head.returncode != 0:
        return None
    return head.stdout.strip() + ("+dirty-src" if dirty.stdout.strip() else "")


# --- printing --------------------------------------------------------------------------------------------


def show(data: dict[str, Any], path: Path | None = None) -> None:
    """The workload, every figure with its ratio, and the checks, as rich tables."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    workload = Table(title=f"{data['name']}: workload", show_header=False)
    for key, value in _flat(data["workload"]):
        workload.add_row(key, _text(value))
    console.print(workload)
    figures = Table(title=f"{data['name']}: median of {data['repeats']} after {data['warmup']} warm-up")
    for column in ("figure", "side", "median", "unit", "min - max", "ratio"):
        figures.add_column(column, justify="right" if column in ("median", "min - max", "ratio") else "left")
    for f in data["figures"]:
        spread = f"{min(f['samples']):.3g} - {max(f['samples']):.3g}"
        figures.add_row(f["label"], f["side"], f"{f['value']:.4g}", f["unit"], spread, f"{f['ratio']:.2f}x")
    console.print(figures)
    console.print(f"ratio {data['ratio']:.2f}x = {data['ratio_meaning']}")
    for key, value in _flat(data["checks"]):
        console.print(f"check {key}: {_text(value)}")
    if path is not None:
        console.print(f"wrote {path}")


def _flat(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            rows += _flat(value, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)
