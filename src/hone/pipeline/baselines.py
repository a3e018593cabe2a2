"""The baseline step: every configured baseline fitted on the train split and scored on the test split, by the
same evaluator as the tuned model (`baseline.json`); the winner kept as a model of the run when its kind can be
kept (`hone.baseline.saved`), so "keep the baseline" is a model you can use.

Baseline results depend only on the data and the settings that reach the baselines, never on how the model is
trained: a run whose fingerprint (those settings, the content of every data file, and the hash of every example
of its train and test splits) equals an earlier run's reuses that run's results instead of recomputing them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hone.pipeline.steps import ConfigLike, Prepared, config_of, prepare, run_dir_of
from hone.progress import phase
from hone.runs.rundir import read_json, write_json

IGNORED = ("name", "runs_dir", "train", "eval")  # config sections no baseline reads


def baseline(config: ConfigLike, fresh: bool = False) -> dict[str, Any]:
    """Fit and score every configured baseline on the test split; writes baseline.json (and keeps the winner).
    Results of an earlier run with the same fingerprint are reused unless `fresh`."""
    from hone.runs.lock import hold
    from hone.train.setup import compute_threads

    cfg = config_of(config)
    with hold(run_dir_of(cfg), "hone baseline"), compute_threads(cfg.train.threads):
        p = prepare(cfg)
        fingerprint = fingerprint_of(p)
        earlier = None if fresh else reusable(p, fingerprint)
        if earlier is not None:
            return _reuse(p, *earlier)
        out = {**fit_and_score(p, p.splits["test"], keep=True), "fingerprint": fingerprint}
        write_json(p.run.baseline, out)
        return out


def fit_and_score(p: Prepared, test: list[Any], keep: bool = False) -> dict[str, Any]:
    """Every baseline fitted on `p`'s train split and scored on `test`; with `keep`, the best one is written to
    the run's baseline-model folder when it can be kept."""
    from hone.baseline import saved
    from hone.evaluate.evaluator import best_baseline, evaluate_predictor, only
    from hone.evaluate.leakage import scored
    from hone.models.resolve import resolve_model
    from hone.tasks import spec_for

    cfg, train = p.config, p.splits["train"]
    positions, leaked = scored(cfg, train, test)
    out: dict[str, Any] = {
        "primary_metric": p.task.primary_metric,
        "higher_is_better": p.task.higher_is_better,
        "n": len(test),  # predictions are kept for every test example; metrics are on the scored ones
        "baselines": {},
    }
    if leaked:
        out["leaked"] = {"excluded": len(leaked), "scored": len(positions), "positions": leaked}
    fitted = {}
    for predictor in spec_for(cfg.task).baselines(cfg, str(resolve_model(cfg.model.name)), p.task):
        with phase(f"baseline {predictor.name}: fit", len(train), "examples"):
            predictor.fit(train)
        with phase(f"baseline {predictor.name}: test split", len(test), "examples"):
            every = evaluate_predictor(p.task, predictor, test)
        outcome = only(p.task, every, test, positions) if leaked else every
        fitted[predictor.name] = predictor
        out["baselines"][predictor.name] = {
            **outcome.metrics,
            **({"with_leaked": every.scores} if leaked else {}),
            "cost": outcome.cost,
            "predictions": [p.task.to_json(x) for x in every.predictions],
        }
    out["best"] = best_baseline(out["baselines"], p.task.primary_metric, p.task.higher_is_better)
    winner = fitted[out["best"]]
    if keep and saved.can_keep(winner):
        describe = {"task": cfg.task, "model": cfg.model.name, "run": cfg.name, "describe": p.task.describe()}
        out["kept"] = saved.keep(winner, p.run.path / saved.FOLDER, describe).name
    return out


def fingerprint_of(p: Prepared) -> str:
    """What baseline results depend on, hashed (see the module docstring)."""
    from hone.data.split import example_hash, file_fingerprint

    settings = p.config.model_dump(mode="json")
    for key in IGNORED:
        settings.pop(key, None)
    settings["leaked"] = p.config.eval.leaked  # which test examples are scored
    settings["model"] = {"name": settings["model"]["name"]}  # the method and its adapters change no baseline
    for key, value in list(settings.get("data", {}).items()):
        if isinstance(value, str) and Path(value).is_file():  # a data file: its content, wherever it lies
            settings["data"][key] = file_fingerprint(Path(value))
    splits = {name: [example_hash(ex) for ex in p.splits[name]] for name in ("train", "test")}
    blob = json.dumps({"settings": settings, "splits": splits, "task": p.task.describe()}, sort_keys=True)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def reusable(p: Prepared, fingerprint: str) -> tuple[Path, dict[str, Any]] | None:
    """An earlier run in the same runs folder whose baseline.json has `fingerprint`, and its results."""
    for other in sorted(Path(p.config.runs_dir).glob("*/baseline.json")):
        if other.parent == p.run.path:
            continue
        try:
            found = read_json(other)
        except (OSError, ValueError):
            continue
        if isinstance(found, dict) and found.get("fingerprint") == fingerprint and "best" in found:
            return other.parent, found
    return None


def _reuse(p: Prepared, source: Path, found: dict[str, Any]) -> dict[str, Any]:
    import shutil

    from hone.baseline import saved

    print(f"baselines: reusing the results of run {source.name} (same data and baseline settings)", flush=True)
    out = {**found, "reused_from": source.name}
    kept = source / saved.FOLDER
    if found.get("kept") and saved.is_kept(kept):
        shutil.rmtree(p.run.path / saved.FOLDER, ignore_errors=True)
        shutil.copytree(kept, p.run.path / saved.FOLDER)
    write_json(p.run.baseline, out)
    return out
