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
    return header + "\n".join(_section(model, indent=0, overrides={"task": task}, notes=_chosen(model, task)))


def _chosen(model: type[BaseModel], task: str) -> dict[str, str]:
    """What an empty key becomes with the default method (written beside it; left empty, so that another
    `model.method` chooses again)."""
    resolved = model.model_validate({"task": task, "data": {"train": _PLACEHOLDERS["train"]}})
    method = resolved.model.method  # type: ignore[attr-defined]
    train = resolved.train  # type: ignore[attr-defined]
    return {
        key: f"empty: {getattr(train, key.split('.')[1]):g} for method {method}"
        for key in resolved.defaults_chosen  # type: ignore[attr-defined]
    }


def _section(
    model: type[BaseModel],
    indent: int,
    overrides: dict[str, Any] | None = None,
    values: BaseModel | None = None,
    notes: dict[str, str] | None = None,
    prefix: str = "",
) -> list[str]:
    """The fields of `model`, each with its description; `values` is the section's own default where the parent
    builds it (a chat task's `train` has other defaults than a classifier's); `notes` are comments put beside
    keys by dotted name."""
    lines: list[str] = []
    pad = "  " * indent
    notes = notes or {}
    # `task` leads: it decides what every other section means.
    for name, field in sorted(model.model_fields.items(), key=lambda item: item[0] != "task"):
        for comment in textwrap.wrap(field.description or "", 96 - len(pad)):
            lines.append(f"{pad}# {comment}")
        sub = _submodel(field)
        if sub is not None:
            lines.append(f"{pad}{name}:")
            own = None if field.is_required() else field.get_default(call_default_factory=True)
            own = own if isinstance(own, BaseModel) else None
            lines.extend(_section(sub, indent + 1, values=own, notes=notes, prefix=f"{prefix}{name}."))
            continue
        default = getattr(values, name) if values is not None else _default(name, field)
        value = (overrides or {}).get(name, default)
        note = f"  # {notes[prefix + name]}" if prefix + name in notes else ""
        lines.append(f"{pad}{name}: {_yaml_scalar(value)}{note}")
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
