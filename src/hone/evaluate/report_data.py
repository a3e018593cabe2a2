"""Assemble eval.json: the tuned model's test metrics, worst examples, cost, and the verdict."""

from __future__ import annotations

from typing import Any

from hone.evaluate.evaluator import compare, evaluate_predictor, only, verdict
from hone.evaluate.leakage import scored
from hone.progress import phase
from hone.runs.rundir import read_json


def build_eval(
    p: Any, predictor: Any, test: list[Any] | None = None, baselines: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Evaluate `predictor` on `test` (default: the run's test split) and compare it with the best of `baselines`
    (default: the run's baseline.json, when it was scored on that split)."""
    task, cfg = p.task, p.config
    own = test is None
    test = p.splits["test"] if own else test
    with phase("evaluate: test split" if own else "evaluate: test file", len(test), "examples"):
        every = evaluate_predictor(task, predictor, test)
    positions, leaked = scored(cfg, p.splits["train"], test)
    outcome = only(task, every, test, positions) if leaked else every
    kept = [test[i] for i in positions]
    gold = task.gold(kept)
    result: dict[str, Any] = {
        "task": task.name,
        "primary_metric": task.primary_metric,
        "higher_is_better": task.higher_is_better,
        "n": len(kept),
        **outcome.metrics,
        **({"leaked": _leaked(task, every, leaked, len(test))} if leaked else {}),
        "worst": task.worst(kept, outcome.predictions, outcome.confidence, cfg.eval.worst_examples),
        "cost": {"tuned": {**outcome.cost, "device": _device(), "batch_size": cfg.eval.batch_size}},
        **_causal_checks(task, predictor, test, cfg.eval.batch_size),
        **(_suspects(p, predictor) if own else {}),
    }
    if own and baselines is None and p.run.baseline.exists():
        baselines = read_json(p.run.baseline)
    if baselines is None or baselines.get("n") != len(test):
        where = p.run.path
        result["verdict"] = (
            f"No baseline results for this test split: run `hone baseline {where}`, then `hone eval {where}` again."
        )
        return result
    result["cost"]["baselines"] = {name: b["cost"] for name, b in baselines["baselines"].items()}
    best = baselines["best"]
    every_pred = baselines["baselines"][best]["predictions"]
    preds = [task.from_json(every_pred[i]) for i in positions]
    result["comparison"] = compare(task, gold, outcome, best, preds, cfg.eval.bootstrap, cfg.seed)
    result["verdict"] = verdict(result["comparison"], task.primary_metric) + _use_the_baseline(p, result, baselines)
    if not result["comparison"]["better"] and isinstance(result.get("suspect_labels"), dict):
        result["suspect_labels"]["warning"] = (
            f"this model does not beat the best baseline ({best}): many of these rows may be its own mistakes, "
            "not mislabelled examples; read them with that in mind"
        )
    regressions = getattr(task, "regressions", None)  # tasks that can say what got worse than before tuning
    if regressions is not None:
        result["regressions"] = regressions(test, baselines["baselines"], every.predictions, cfg.eval.worst_examples)
    return result


def _leaked(task: Any, every: Any, leaked: list[int], n: int) -> dict[str, Any]:
    """What leaving out the test examples also in train changed: how many, and the score with them."""
    metric = task.primary_metric
    score = every.scores.get(metric, float("nan"))
    return {
        "excluded": len(leaked),
        "of": n,
        "with_leaked": every.scores,
        "note": f"{len(leaked)} of {n} test example(s) are also in train (case, spacing and punctuation ignored) "
        f"and are left out of every score here; with them, {metric} would be {score:.4f} "
        "(eval.leaked: keep scores them)",
    }


def _use_the_baseline(p: Any, result: dict[str, Any], baselines: dict[str, Any]) -> str:
    """How to use the baseline the verdict recommends, when it was kept as a model of the run."""
    if result["comparison"]["better"] or not baselines.get("kept"):
        return ""
    run = p.run.path
    return (
        f" The baseline is kept as a model of the run: `hone predict {run} --baseline`, "
        f"`hone serve {run / baselines['kept']}`, `hone export {run} --target baseline`."
    )


def _causal_checks(task: Any, predictor: Any, test: list[Any], batch_size: int) -> dict[str, Any]:
    """Test-split loss (tasks with `held_out`) and, for a chat model with adapters, what tuning cost on
    general prompts (`hone.evaluate.forgetting`). Encoder tasks and baselines get nothing here."""
    loaded = getattr(predictor, "loaded", None)  # only a trained model has weights to measure
    if loaded is None:
        return {}
    out: dict[str, Any] = {}
    held_out = getattr(task, "held_out", None)
    if held_out is not None:
        out["held_out"] = held_out(loaded.model, loaded.tokenizer, test, batch_size)
    chat = getattr(task, "peft_task_type", None) == "CAUSAL_LM" and hasattr(task, "chat_template")
    if chat and _is_peft(loaded.model):  # plain-text LM tasks (pretrain) answer no prompts
        from hone.evaluate.forgetting import forgetting

        out["forgetting"] = forgetting(task, None, loaded.model, loaded.tokenizer, batch_size)
    return out


def _suspects(p: Any, predictor: Any) -> dict[str, Any]:
    """The training examples the trained model fits worst (`hone.evaluate.noise`); nothing for a baseline."""
    loaded = getattr(predictor, "loaded", None)
    if loaded is None:
        return {}
    from hone.evaluate.noise import suspect_labels

    cfg = p.config
    with phase("evaluate: suspect labels in the train split", None, "examples"):
        train, batch_size = p.splits["train"], cfg.eval.batch_size
        found = suspect_labels(loaded.task, loaded.model, loaded.tokenizer, train, batch_size, cfg.seed)
    return {"suspect_labels": found}


def _is_peft(model: Any) -> bool:
    from peft import PeftModel

    return isinstance(model, PeftModel)


def _device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"
