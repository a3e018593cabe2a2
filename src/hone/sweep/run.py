"""Running a sweep: every (config, fraction, seed) point as an ordinary hone run, then sweep.json and the views.

Each point is an ordinary hone run on a share of the train split (`data.split.train_fraction`) with its
own seed, while the split itself stays pinned (`data.split.seed`), so every point is scored on the same
test examples. A point whose eval.json exists is reused, so an interrupted sweep continues where it
stopped. Everything lands in `<runs_dir>/<sweep name>/`: points/ (the runs), sweep.json, sweep.png,
sweep.html.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def sweep(
    configs: Sequence[Any],
    fractions: Sequence[float] = FRACTIONS,
    seeds: int = 3,
    name: str | None = None,
    overrides: Sequence[str] = (),
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train and evaluate every (config, fraction, seed) point; fit each config's curve; write the views."""
    from hone.pipeline import config_of
    from hone.runs.rundir import write_json
    from hone.sweep.curve import crossing
    from hone.sweep.view import write_html, write_png

    if not configs:
        raise ValueError("give at least one config")
    if any(not 0 < f <= 1 for f in fractions):
        raise ValueError(f"fractions must be in (0, 1]: got {list(fractions)}")
    cfgs = [config_of(c, overrides) for c in configs]
    folder = cfgs[0].runs_dir / (name or f"{cfgs[0].name}-sweep")
    labels = _labels(cfgs)
    total = len(cfgs) * len(fractions) * seeds
    series, done = [], 0
    for cfg, label in zip(cfgs, labels, strict=True):
        points = []
        for fraction in sorted(fractions):
            for s in range(seeds):
                done += 1
                points.append(_point(cfg, label, fraction, s, folder / "points", f"[{done}/{total}]", log))
        series.append(_series(label, cfg, points))
    first = series[0]
    result = {
        "kind": "sweep",
        "name": folder.name,
        "task": cfgs[0].task,
        "metric": first["metric"],
        "direction": first["direction"],
        "test_examples": first["test_examples"],
        "series": [{k: v for k, v in s.items() if k not in ("metric", "direction", "test_examples")} for s in series],
        "crossing": None,
    }
    if len(series) == 2:
        sizes = [p["examples"] for s in series for p in s["points"]]
        result["crossing"] = crossing(series[0]["fit"], series[1]["fit"], min(sizes) / 2, 4 * max(sizes))
    write_json(folder / "sweep.json", result)
    write_png(result, folder / "sweep.png")
    write_html(result, folder / "sweep.html")
    return result


def _labels(cfgs: Sequence[Any]) -> list[str]:
    labels = [f"{c.name} {c.model.method}" for c in cfgs]
    if len(set(labels)) < len(labels):
        labels = [f"{label} #{i + 1}" for i, label in enumerate(labels)]
    return labels


def _point(cfg: Any, label: str, fraction: float, s: int, root: Path, step: str, log: Callable) -> dict[str, Any]:
    from hone import pipeline
    from hone.runs.rundir import read_json

    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", label).strip("-")
    run_name = f"{slug}-f{fraction:g}-s{s}"
    split_seed = cfg.data.split.seed if cfg.data.split.seed is not None else cfg.seed
    point = pipeline.config_of(
        cfg,
        [
            f"name={run_name}",
            f"runs_dir={root}",
            f"data.split.train_fraction={fraction}",
            f"data.split.seed={split_seed}",
            f"seed={cfg.seed + s}",
        ],
    )
    run_dir = root / run_name
    if (run_dir / "eval.json").is_file():
        result, reused = read_json(run_dir / "eval.json"), " (done before)"
    else:
        result, reused = pipeline.evaluate(_trained(point, run_dir)), ""
    metric = result["primary_metric"]
    examples = read_json(run_dir / "data" / "check.json")["stats"]["splits"]["train"]
    score = result["metrics"][metric]
    log(f"{step} {label} f={fraction:g} seed={s}: {examples} examples, {metric} {score:.4f}{reused}")
    return {
        "fraction": fraction,
        "examples": examples,
        "seed": s,
        "score": float(result["metrics"][metric]),
        "run_dir": str(run_dir),
        "_metric": metric,
        "_higher": bool(result["higher_is_better"]),
        "_n": int(result["n"]),
    }


def _trained(point: Any, run_dir: Path) -> Any:
    """The point's trained run: the finished model when there is one (it is written atomically), else
    training resumed from its newest complete checkpoint (an interrupted sweep), else a fresh run."""
    from hone import pipeline
    from hone.train.checkpoint import latest_checkpoint

    if (run_dir / "model").is_dir():
        return pipeline.Run(run_dir)
    has_checkpoint = (run_dir / "checkpoints").is_dir() and latest_checkpoint(run_dir / "checkpoints") is not None
    return pipeline.train(point, resume=has_checkpoint, progress=False)


def _series(label: str, cfg: Any, points: list[dict[str, Any]]) -> dict[str, Any]:
    import numpy as np

    from hone.sweep.curve import fit

    higher = points[0]["_higher"]
    summary = []
    for n in sorted({p["examples"] for p in points}):
        scores = [p["score"] for p in points if p["examples"] == n]
        summary.append({"examples": n, "mean": float(np.mean(scores)), "std": float(np.std(scores)), "n": len(scores)})
    fitted = fit([p["examples"] for p in points], [p["score"] for p in points], higher)
    meta = {"metric": points[0]["_metric"], "direction": "max" if higher else "min", "test_examples": points[0]["_n"]}
    clean = [{k: v for k, v in p.items() if not k.startswith("_")} for p in points]
    out = {"label": label, "config": cfg.name, "points": clean, "summary": summary, **meta}
    out["fit"] = fitted if "params" in fitted else None
    if out["fit"] is None:
        out["no_fit"] = fitted["reason"]
    return out
