"""`hone init <task>`: a commented hone.yaml written from the schema's own descriptions."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from hone.config.load import ConfigError
from hone.config.schema import TASK_CONFIGS

_PLACEHOLDERS = {"train": "data/train.jsonl"}


def config_template(task: str) -> str:
    """A complete config for `task`: every field, its default and its description as a comment."""
    model = TASK_CONFIGS.get(task)
    if model is None:
        raise ConfigError(f"task {task!r} is not known; choose one of {sorted(TASK_CONFIGS)}")
    header = f"# hone config for a `{task}` run. Every key is shown with its default.\n"
    header += "# Check the data with `hone check hone.yaml`, then `hone train hone.yaml`.\n"
    return header + "\n".join(_section(model, indent=0, overrides={"task": task}))


def _section(model: type[BaseModel], indent: int, overrides: dict[str, Any] | None = None) -> list[str]:
    lines: list[str] = []
    pad = "  " * indent
    # `task` leads: it decides what every other section means.
    for name, field in sorted(model.model_fields.items(), key=lambda item: item[0] != "task"):
        for comment in textwrap.wrap(field.description or "", 96 - len(pad)):
            lines.append(f"{pad}# {comment}")
        sub = _submodel(field)
        if sub is not None:
            lines.append(f"{pad}{name}:")
            lines.extend(_section(sub, indent + 1))
            continue
        value = (overrides or {}).get(name, _default(name, field))
        lines.append(f"{pad}{name}: {_yaml_scalar(value)}")
    return lines


def _submodel(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _default(name: str, field: FieldInfo) -> Any:
    if field.is_required():
        return _PLACEHOLDERS.get(name, "")
    return field.get_default(call_default_factory=True)


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_scalar(v) for v in value) + "]"
    text = str(value)
    return (
        text
        if text and text.replace("/", "").replace(".", "").replace("_", "").replace("-", "").isalnum()
        else json.dumps(text)
    )
