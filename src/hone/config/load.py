"""Read hone.yaml (or a dict), apply `--set key=value` overrides, validate once, explain errors.

Every validation problem is reported with its dotted key; an unknown key also names the closest
valid one, because a misspelt key silently ignored is how a run trains with the wrong settings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hone.config.schema import TASK_CONFIGS, HoneConfig


class ConfigError(ValueError):
    """A config that cannot be used; the message names each bad key and what to do."""


def load_config(
    source: str | Path | Mapping[str, Any], overrides: Iterable[str] = (), base_dir: Path | None = None
) -> HoneConfig:
    """Load and validate a config from a YAML file or a mapping; overrides are `dotted.key=value`."""
    if isinstance(source, Mapping):
        raw, where = dict(source), "config"
        base_dir = base_dir or Path.cwd()
    else:
        path = Path(source)
        raw, where = _read_yaml(path), str(path)
        base_dir = base_dir or path.resolve().parent
    for item in overrides:
        apply_override(raw, item)
    config = validate(raw, where)
    return _resolve_paths(config, base_dir)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: no such config file; write one with `hone init classify > {path}`")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys to values, got {type(raw).__name__}")
    return raw


def apply_override(raw: dict[str, Any], item: str) -> None:
    """Set `a.b.c=value` in a nested dict; the value is parsed as YAML (`3e-5`, `true`, `[a, b]`)."""
    key, sep, value = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set train.lr=3e-5")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {item!r}: {part!r} is a value, not a section")
        node = child
    node[parts[-1]] = yaml.safe_load(value) if value.strip() else None


def validate(raw: dict[str, Any], where: str = "config") -> HoneConfig:
    """Validate a raw mapping into the typed tree or raise ConfigError naming every bad key."""
    task = raw.get("task", "classify")
    model_cls = TASK_CONFIGS.get(task) if isinstance(task, str) else None
    if model_cls is None:
        raise ConfigError(f"{where}: task {task!r} is not known; choose one of {sorted(TASK_CONFIGS)}")
    try:
        return model_cls.model_validate(raw)  # type: ignore[return-value]
    except ValidationError as exc:
        lines = [_explain(err, model_cls) for err in exc.errors()]
        raise ConfigError(f"{where}: {len(lines)} problem(s):\n" + "\n".join(f"  - {x}" for x in lines)) from None


def _explain(err: Any, root: type[BaseModel]) -> str:
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc) or "(top level)"
    if err["type"] == "extra_forbidden":
        valid = _fields_at(root, loc[:-1])
        close = difflib.get_close_matches(loc[-1], valid, n=1, cutoff=0.5)
        hint = f"did you mean {'.'.join([*loc[:-1], close[0]])!r}?" if close else f"valid keys here: {', '.join(valid)}"
        return f"{key}: unknown key; {hint}"
    if err["type"] == "missing":
        return f"{key}: required; add it (see `hone init` for a full commented config)"
    message = err["msg"].removeprefix("Value error, ")  # our own validators' messages read as they are written
    return f"{key}: {message} (got {err.get('input')!r})"


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    for part in loc:
        field = model.model_fields.get(part)
        annotation = getattr(field, "annotation", None)
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            return []
        model = annotation
    return sorted(model.model_fields)


def _resolve_paths(config: HoneConfig, base_dir: Path) -> HoneConfig:
    data = config.data
    for name in type(data).model_fields:
        value = getattr(data, name)
        if isinstance(value, Path) and not value.is_absolute():
            setattr(data, name, (base_dir / value).resolve())
    # Runs land where the user works, like any build output; data is found next to the config.
    config.runs_dir = config.runs_dir.resolve()
    return config


def dump_config(config: HoneConfig) -> str:
    """The resolved config as YAML with every default written out, led by a comment on each value that was
    chosen for this run because the config left it empty (the learning rates, by method)."""
    chosen = config.defaults_chosen
    header = "".join(f"# {key}: {why}\n" for key, why in chosen.items())
    header = f"# Left empty in the config, so chosen for this run:\n{header}" if header else ""
    return header + yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def to_mapping(config: HoneConfig) -> dict[str, Any]:
    """The config as a mapping that validates back to it, where the values chosen because the config left them
    empty stay empty: an override of `model.method` then chooses them again, for the new method."""
    raw = config.model_dump(mode="json")
    for key in config.defaults_chosen:
        section, name = key.split(".")
        raw[section][name] = None
    return raw
