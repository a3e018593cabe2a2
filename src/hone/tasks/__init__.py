"""Tasks: each owns its example schema, model head, loss, metrics, predictions and baselines.

`TASKS` maps a config's `task` to its `TaskSpec`; the pipeline asks the spec and never branches
on a task's name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hone.data.problems import Problem


@dataclass(frozen=True)
class TaskSpec:
    """What the pipeline needs to know about a task before any model exists."""

    task: type
    # record, data config, source, line -> an example (with .text, .labels, .label_key, .source, .line) or problems
    parse: Callable[[Mapping[str, Any], Any, str, int], Any]
    # train examples, imbalance ratio -> dataset-wide findings about labels
    label_problems: Callable[[Sequence[Any], float], list[Problem]]
    # "truncate": inputs over max_length are cut (the check warns); "window": long inputs are split into windows
    long_inputs: Literal["truncate", "window"]
    # config, base model directory, the task -> the baselines a fine-tune must beat
    baselines: Callable[[Any, str, Any], list[Any]]
    # one parsed example -> warnings about it (usable, but suspicious)
    example_warnings: Callable[[Any], list[Problem]] = field(default=lambda example: [])
    # all examples, the model's tokenizer -> findings that need the real tokenizer
    token_problems: Callable[[Sequence[Any], Any], list[Problem]] = field(default=lambda examples, tokenizer: [])
    # config, base model directory, task, training examples -> the examples training sees (e.g. + mined negatives)
    augment: Callable[[Any, str, Any, list[Any]], list[Any]] = field(
        default=lambda config, model_dir, task, train: train
    )
    # all examples, tokenizer, data config -> (token statistics, problems); replaces the generic truncation check
    token_check: Callable[[Sequence[Any], Any, Any], tuple[dict[str, Any] | None, list[Problem]]] | None = None


def _registry() -> dict[str, TaskSpec]:
    from hone.tasks import classify, embed, extract, instruct, ner, preference, pretrain, rerank

    return {
        "classify": classify.SPEC,
        "ner": ner.SPEC,
        "embed": embed.SPEC,
        "rerank": rerank.SPEC,
        "instruct": instruct.SPEC,
        "extract": extract.SPEC,
        "pretrain": pretrain.SPEC,
        "preference": preference.SPEC,
    }


TASKS: dict[str, TaskSpec] = _registry()


def spec_for(task: str) -> TaskSpec:
    if task not in TASKS:
        raise ValueError(f"task {task!r} is not known; choose one of {sorted(TASKS)}")
    return TASKS[task]


def task_from_description(meta: dict[str, Any]) -> Any:
    """Rebuild a task from what a saved model's hone.json says about it."""
    task = spec_for(str(meta.get("task"))).task
    fields = {k: v for k, v in meta.items() if k in task.__dataclass_fields__}
    return task(**fields)
