"""Model cards for exported folders, in the Hugging Face Hub's layout: a YAML header (base model by its Hub id,
library, pipeline tag, tags, and the run's test metrics as `model-index`) over a Markdown body that states the
metrics, the gain over the best baseline with its 95% interval, and how to load the folder.

A folder with such a README is what `huggingface-cli upload <repo> <folder>` takes as it is; nothing is uploaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PIPELINE_TAGS = {
    "classify": "text-classification",
    "ner": "token-classification",
    "embed": "sentence-similarity",
    "rerank": "text-ranking",
    "instruct": "text-generation",
    "extract": "text-generation",
    "preference": "text-generation",
    "pretrain": "text-generation",
}


def base_reference(meta: dict[str, Any]) -> str:
    """How a folder names its base: the Hub id where the base has one, else the name the run used."""
    from hone.models.resolve import hub_id

    name = str(meta.get("base_model"))
    return hub_id(name) or name


def model_card(
    meta: dict[str, Any], run_dir: Path | None, title: str, usage: str, library: str | None, tags: list[str] = ()
) -> str:
    """README.md text: the Hub's YAML header, then `title`, the evaluation and `usage` (Markdown)."""
    import yaml

    evaluation = _eval(run_dir)
    task = str(meta.get("task"))
    header: dict[str, Any] = {"base_model": base_reference(meta)}
    if library:
        header["library_name"] = library
    header["pipeline_tag"] = PIPELINE_TAGS.get(task, "text-generation")
    header["tags"] = list(dict.fromkeys(["hone", task, str(meta.get("method")), *tags]))
    if evaluation:
        header["model-index"] = [_model_index(meta, run_dir, evaluation)]
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n\n# {title}\n\n{_results(evaluation)}{usage.strip()}\n"


def _eval(run_dir: Path | None) -> dict[str, Any]:
    path = run_dir / "eval.json" if run_dir is not None else None
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text())


def _model_index(meta: dict[str, Any], run_dir: Path | None, evaluation: dict[str, Any]) -> dict[str, Any]:
    task = str(meta.get("task"))
    comparison = evaluation.get("comparison") or {}
    metrics = []
    for name, value in (evaluation.get("metrics") or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            entry: dict[str, Any] = {"type": name, "value": round(float(value), 4), "name": name}
            if name == evaluation.get("primary_metric") and comparison:
                low, high = comparison["ci95"]
                entry["name"] = (
                    f"{name} (gain over {comparison['baseline']} {comparison['gain']:+.3f}, 95% CI {low:+.3f} to "
                    f"{high:+.3f})"
                )
            metrics.append(entry)
    name = run_dir.name if run_dir is not None else task
    dataset = {"name": f"{name} test split ({evaluation.get('n')} examples)", "type": f"hone-{task}"}
    return {
        "name": name,
        "results": [
            {"task": {"type": PIPELINE_TAGS.get(task, "text-generation")}, "dataset": dataset, "metrics": metrics}
        ],
    }


def _results(evaluation: dict[str, Any]) -> str:
    if not evaluation:
        return "Not evaluated yet: `hone eval` writes the test metrics that this card reports.\n\n"
    rows = [
        f"| {name} | {value:.4f} |"
        for name, value in (evaluation.get("metrics") or {}).items()
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
    lines = [f"Test split: {evaluation.get('n')} examples.", "", "| metric | value |", "|---|---|", *rows, ""]
    comparison = evaluation.get("comparison")
    if comparison:
        low, high = comparison["ci95"]
        lines += [
            f"Best baseline: {comparison['baseline']} at {comparison['baseline_score']:.4f} "
            f"{evaluation.get('primary_metric')}; the tuned model's gain is {comparison['gain']:+.4f} "
            f"(95% paired-bootstrap CI {low:+.4f} to {high:+.4f}).",
            "",
        ]
    if evaluation.get("verdict"):
        lines += [f"**{evaluation['verdict']}**", ""]
    return "\n".join(lines) + "\n"
