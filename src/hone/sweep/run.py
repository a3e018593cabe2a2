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
    jobs: int = 1,
) -> dict[str, Any]:
    """Train and evaluate every (config, fraction, seed) point; fit each config's curve; write the views.

    `jobs` > 1 runs that many points at once, each in a process of its own: on GPUs one device each (in
    turn over the visible devices), on a CPU the cores shared out (`torch.set_num_threads`)."""
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
    if jobs < 1:
        raise ValueError(f"--jobs {jobs}: run at least one point at a time")
    labels = _labels(cfgs)
    work = [
        (cfg, label, fraction, s, folder / "points")
        for cfg, label in zip(cfgs, labels, strict=True)
        for fraction in sorted(fractions)
        for s in range(seeds)
    ]
    done = _run_points(work, jobs, log)
    series = [
        _series(label, cfg, [done[i] for i, w in enumerate(work) if w[1] == label])
        for cfg, label in zip(cfgs, labels, strict=True)
    ]
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


def _run_points(work: list[tuple], jobs: int, log: Callable[[str], None]) -> list[dict[str, Any]]:
    """Every point of `work`, in order; with `jobs` > 1 on a pool of processes, logged as each finishes."""
    total = len(work)
    if jobs == 1 or total == 1:
        out = []
        for k, item in enumerate(work, 1):
            point, line = _point(*item)
            log(f"[{k}/{total}] {line}")
            out.append(point)
        return out
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    context = multiprocessing.get_context("spawn")  # fresh interpreters: no copied torch or thread state
    slots = context.Value("i", 0)
    devices, threads = _shares(jobs)
    log(f"{total} points, {jobs} at a time (" + (f"GPUs {devices}" if devices else f"{threads} CPU threads each") + ")")
    results: list[dict[str, Any] | None] = [None] * total
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker, initargs=(slots, devices, threads)) as pool:
        futures = {pool.submit(_point, *item): i for i, item in enumerate(work)}
        try:
            for k, future in enumerate(as_completed(futures), 1):
                point, line = future.result()
                results[futures[future]] = point
                log(f"[{k}/{total}] {line}")
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)  # points not started are dropped; a rerun reuses the rest
            raise
    return [r for r in results if r is not None]


def _shares(jobs: int) -> tuple[list[int], int]:
    """The GPUs to deal out to the workers (none on a CPU), and each worker's CPU threads."""
    import os

    import torch

    devices = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    return devices, max(1, len(os.sched_getaffinity(0)) // jobs)


def _worker(slots: Any, devices: list[int], threads: int) -> None:
    """A pool process's setup, before it imports torch: its GPU (in turn), its share of the CPU threads."""
    import os

    with slots.get_lock():
        slot = slots.value
        slots.value += 1
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(devices[slot % len(devices)])
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _point(cfg: Any, label: str, fraction: float, s: int, root: Path) -> tuple[dict[str, Any], str]:
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
    line = f"{label} f={fraction:g} seed={s}: {examples} examples, {metric} {score:.4f}{reused}"
    return {
        "fraction": fraction,
        "examples": examples,
        "seed": s,
        "score": float(result["metrics"][metric]),
        "run_dir": str(run_dir),
        "_metric": metric,
        "_higher": bool(result["higher_is_better"]),
        "_n": int(result["n"]),
    }, line


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
