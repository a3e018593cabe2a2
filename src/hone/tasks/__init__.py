"""Tasks: each owns its example schema, model head, loss, metrics, predictions and baselines.

`TASKS` maps a config's `task` to its `TaskSpec`; the pipeline asks the spec and never branches
on a task's name.
"""

from __future__ import annotations

from typing import Any

from hone.tasks.spec import TaskSpec


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


__all__ = ["TASKS", "TaskSpec", "spec_for", "task_from_description"]


def task_from_description(meta: dict[str, Any]) -> Any:
    """Rebuild a task from what a saved model's hone.json says about it."""
    task = spec_for(str(meta.get("task"))).task
    fields = {k: v for k, v in meta.items() if k in task.__dataclass_fields__}
    return task(**fields)
