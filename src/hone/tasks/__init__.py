"""Tasks: each owns its example schema, model head, loss, metrics and predictions."""

from __future__ import annotations

from typing import Any

from hone.tasks.classify import ClassifyTask

TASKS: dict[str, type] = {"classify": ClassifyTask}


def task_from_description(meta: dict[str, Any]) -> Any:
    """Rebuild a task from what a saved model's hone.json says about it."""
    name = meta.get("task")
    if name not in TASKS:
        raise ValueError(f"model was saved by task {name!r}, which this hone does not know ({sorted(TASKS)})")
    fields = {k: v for k, v in meta.items() if k in TASKS[name].__dataclass_fields__}
    return TASKS[name](**fields)
