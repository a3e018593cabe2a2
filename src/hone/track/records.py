"""What a tracker is given, in the shape every tracker takes: flat string params, flat numeric metrics."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from hone.config.schema import HoneConfig

STEP_KEYS = ("epoch", "loss", "lr", "grad_norm", "examples_per_s", "tokens_per_s")


def config_params(config: HoneConfig) -> dict[str, str]:
    """The resolved config as `section.key` -> text (lists, numbers and nulls as JSON)."""
    flat: dict[str, str] = {}
    _flatten(config.model_dump(mode="json"), "", ".", flat, lambda v: v if isinstance(v, str) else json.dumps(v))
    return flat


def step_metrics(line: dict[str, Any]) -> dict[str, float]:
    """One metrics.jsonl line as tracker metrics: the step's own numbers, and dev metrics as `dev/<name>`."""
    metrics = {k: float(line[k]) for k in STEP_KEYS if _number(line.get(k))}
    if isinstance(line.get("dev"), dict):
        _flatten(line["dev"], "dev/", "/", metrics, float, keep=_number)
    return metrics


def eval_metrics(result: dict[str, Any]) -> tuple[dict[str, float], dict[str, str]]:
    """eval.json as metrics (`test/<metric>`; the gain over the best baseline with its 95% interval, and that
    baseline's score) and tags (which baseline, the verdict)."""
    metrics: dict[str, float] = {}
    _flatten(result.get("metrics") or {}, "test/", "/", metrics, float, keep=_number)
    tags = {"hone.task": str(result.get("task", "")), "hone.primary_metric": str(result.get("primary_metric", ""))}
    comparison, primary = result.get("comparison"), result.get("primary_metric", "score")
    if isinstance(comparison, dict):
        low, high = comparison["ci95"]
        for suffix, value in (("", comparison["gain"]), ("_ci_low", low), ("_ci_high", high)):
            metrics[f"gain/{primary}{suffix}"] = float(value)
        metrics[f"baseline/{primary}"] = float(comparison["baseline_score"])
        tags.update({"hone.best_baseline": str(comparison["baseline"]), "hone.gain_proven": str(comparison["better"])})
    if result.get("verdict"):
        tags["hone.verdict"] = str(result["verdict"])
    return metrics, tags


def last_step(metrics_log: Path) -> int:
    """The last optimizer step metrics.jsonl records (0 before training): where evaluation results are plotted."""
    if not metrics_log.is_file():
        return 0
    steps = [0]
    for line in metrics_log.read_text(encoding="utf-8").splitlines():
        try:
            steps.append(int(json.loads(line)["step"]))
        except (ValueError, KeyError, TypeError):
            continue
    return max(steps)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _flatten(node: Any, prefix: str, sep: str, out: dict[str, Any], convert: Any, keep: Any = None) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            inner = f"{prefix}{key}{sep}" if isinstance(value, dict) else f"{prefix}{key}"
            _flatten(value, inner, sep, out, convert, keep)
    elif keep is None or keep(node):
        out[prefix] = convert(node)
