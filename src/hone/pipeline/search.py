"""`hone train --search N`: N training recipes tried on the dev split, the best one scored on test once.

Each trial is an ordinary run, `<name>-t<k>`, recorded in the registry like any other, trained with a recipe
Optuna proposes (TPE, seeded by the run's `seed`) around the config's own values: the learning rate, the
epochs, the warm-up, the new head's learning rate (encoder tasks) and the LoRA rank (LoRA runs). A trial is
judged by its best dev score (the metric that selects checkpoints: the task's primary metric, or held-out
loss for generative tasks), reported at every dev evaluation, and stopped early by Optuna's median pruner
when it falls behind the trials before it at the same step (recorded as `stopped`, pruned). Test is not
read until the search is over: only the winner is scored on it, against the baselines.

`<runs_dir>/<name>-search.json` lists every trial (its recipe, state, dev score and step), the winner and
the test result, and the winner's run directory gets a copy (`search.json`), which its report shows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hone.pipeline.run import Run
from hone.pipeline.steps import ConfigLike, config_of, run_dir_of
from hone.runs.rundir import write_json
from hone.train.signals import Pruned

MIN_TRIALS = 2
ENCODER_TASKS = ("classify", "ner", "embed", "rerank")
LORA_METHODS = ("lora", "dora", "qlora")


def space(cfg: Any) -> dict[str, tuple[str, Any]]:
    """The recipe knobs a search varies for this config, as {config key: (kind, choices or range)}."""
    tc = cfg.train
    knobs: dict[str, tuple[str, Any]] = {
        "train.lr": ("log", (tc.lr / 4, tc.lr * 4)),
        "train.epochs": ("int", (max(1, tc.epochs // 2), max(2, tc.epochs * 2))),
        "train.warmup_ratio": ("choice", [0.0, 0.06, 0.1]),
    }
    if cfg.task in ENCODER_TASKS and cfg.model.method == "full":
        knobs["head_lr_factor"] = ("log", (1.0, 100.0))  # the new head learns this many times faster
    if cfg.model.method in LORA_METHODS:
        knobs["model.lora.r"] = ("choice", [4, 8, 16, 32])
    return knobs


def search(config: ConfigLike, trials: int, progress: bool = True, log: Callable[[str], None] = print) -> dict:
    """Try `trials` recipes on dev, evaluate the best on test; returns what `<name>-search.json` holds."""
    try:
        import optuna
    except ImportError:
        raise ImportError("a search needs Optuna: pip install 'hone[search]'") from None

    from hone.pipeline.baselines import baseline
    from hone.pipeline.evaluations import evaluate

    cfg = config_of(config)
    if trials < MIN_TRIALS:
        raise ValueError(f"--search {trials}: a search compares at least {MIN_TRIALS} recipes")
    if cfg.data.dev is None and getattr(cfg.data, "split", None) is not None and cfg.data.split.dev == 0:
        raise ValueError("a search chooses on the dev split and this config has none: give data.dev or data.split.dev")
    if cfg.train.max_steps is not None:
        log("train.max_steps is set: every trial stops there, whatever epochs the search proposes")
    knobs = space(cfg)
    metric, higher = _dev_metric(cfg)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        direction="maximize" if higher else "minimize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=0),
    )
    records: list[dict[str, Any]] = []

    def objective(trial: Any) -> float:
        overrides = {key: _suggest(trial, key, kind, domain) for key, (kind, domain) in knobs.items()}
        name = f"{cfg.name}-t{trial.number + 1}"
        trial_cfg = _with(cfg, name, overrides)
        record: dict[str, Any] = {"trial": trial.number + 1, "run": name, "recipe": _recipe(trial_cfg, overrides)}
        records.append(record)
        log(f"trial {trial.number + 1}/{trials} ({name}): {_describe(record['recipe'])}")
        try:
            run = _train_trial(trial_cfg, trial, progress)
        except Pruned as exc:
            record.update(state="pruned", dev_score=exc.score, step=exc.step)
            log(f"  pruned at step {exc.step}: dev {metric} {exc.score:.4f} behind earlier trials")
            raise optuna.TrialPruned() from None
        step, score = best_dev(run.path, metric, higher)
        if score is None:
            record.update(state="failed", reason="no dev evaluation was logged")
            raise ValueError(f"{name}: no dev evaluation was logged; a search needs dev scores")
        record.update(state="complete", dev_score=score, step=step)
        log(f"  best dev {metric} {score:.4f} at step {step}")
        return score

    study.optimize(objective, n_trials=trials, catch=())
    completed = [r for r in records if r.get("state") == "complete"]
    if not completed:
        raise RuntimeError("every trial was pruned or failed; nothing to evaluate")
    winner = next(r for r in records if r["trial"] == study.best_trial.number + 1)
    log(f"best recipe: {winner['run']} (dev {metric} {winner['dev_score']:.4f}); scoring it on test, once")
    winner_run = Run(run_dir_of(cfg).path.parent / winner["run"])
    baseline(winner_run.path / "config.yaml")  # reused from an earlier run with the same data when there is one
    result = evaluate(winner_run)
    summary = {
        "name": cfg.name,
        "trials": records,
        "space": {key: [kind, list(domain)] for key, (kind, domain) in knobs.items()},
        "dev_metric": metric,
        "higher_is_better": higher,
        "sampler": f"optuna {optuna.__version__} TPE (seed {cfg.seed}), median pruner",
        "winner": winner["run"],
        "test": {
            "touched": 1,
            "run": winner["run"],
            "primary_metric": result["primary_metric"],
            "score": result["metrics"].get(result["primary_metric"]),
            "verdict": result.get("verdict"),
        },
    }
    write_json(cfg.runs_dir / f"{cfg.name}-search.json", summary)
    write_json(winner_run.path / "search.json", summary)
    return summary


def _train_trial(cfg: Any, trial: Any, progress: bool) -> Run:
    """Train one trial's run, reporting each dev evaluation to Optuna and stopping it when pruned."""
    from hone.pipeline.steps import _train
    from hone.runs.lock import hold

    seen = 0

    def on_step(session: Any, record: Any) -> None:
        nonlocal seen
        history = session.tracker.history
        for entry in history[seen:]:  # dev evaluations since the last step
            trial.report(entry["score"], entry["step"])
            if trial.should_prune():
                raise Pruned(entry["step"], entry["score"])
        seen = len(history)

    with hold(run_dir_of(cfg), "hone train --search"):
        return _train(cfg, resume=False, progress=progress, on_step=on_step)


def best_dev(run_dir: Path, metric: str, higher: bool) -> tuple[int | None, float | None]:
    """The best logged dev score of a run and its step (None, None when none was logged)."""
    best: tuple[int | None, float | None] = (None, None)
    for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        score = (entry.get("dev") or {}).get(metric)
        if score is None or not math.isfinite(score):
            continue
        if best[1] is None or (score > best[1] if higher else score < best[1]):
            best = (entry["step"], score)
    return best


def _dev_metric(cfg: Any) -> tuple[str, bool]:
    from hone.tasks import spec_for
    from hone.train.trainer import dev_metric

    task_type = spec_for(cfg.task).task
    return dev_metric(task_type)


def _suggest(trial: Any, key: str, kind: str, domain: Any) -> Any:
    if kind == "log":
        return trial.suggest_float(key, domain[0], domain[1], log=True)
    if kind == "int":
        return trial.suggest_int(key, domain[0], domain[1])
    return trial.suggest_categorical(key, domain)


def _with(cfg: Any, name: str, overrides: dict[str, Any]) -> Any:
    """`cfg` as a trial's config: its own name, the proposed values set (head_lr from its factor)."""
    data = cfg.model_dump(mode="json")
    data["name"] = name
    for key, value in overrides.items():
        if key == "head_lr_factor":
            continue
        section, *path = key.split(".")
        target = data[section]
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    if "head_lr_factor" in overrides:
        data["train"]["head_lr"] = data["train"]["lr"] * overrides["head_lr_factor"]
    return config_of(data)


def _recipe(cfg: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    recipe = {"train.lr": cfg.train.lr, "train.epochs": cfg.train.epochs, "train.warmup_ratio": cfg.train.warmup_ratio}
    if "head_lr_factor" in overrides:
        recipe["train.head_lr"] = cfg.train.head_lr
    if "model.lora.r" in overrides:
        recipe["model.lora.r"] = cfg.model.lora.r
    return recipe


def _describe(recipe: dict[str, Any]) -> str:
    return ", ".join(
        f"{k.split('.')[-1]} {v:.3g}" if isinstance(v, float) else f"{k.split('.')[-1]} {v}" for k, v in recipe.items()
    )
