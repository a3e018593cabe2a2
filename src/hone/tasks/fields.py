"""Field checks every task's example contract shares: a required, non-empty string."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hone.data import problems as P
from hone.data.problems import Problem


def type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def required_text(
    record: Mapping[str, Any], name: str, what: str, source: str, line: int, out: list[Problem], setting: str = ""
) -> str | None:
    """`record[name]` when it is a non-empty string; otherwise None and one problem appended to `out`.

    `what` names the content in messages ("the query"); `setting` is the config key that renames the field.
    """
    rename = f" (or set {setting})" if setting else ""
    if name not in record:
        message = f"no {name!r} field; each row needs {what} in {name!r}{rename}"
        out.append(Problem(P.MISSING_FIELD, message, source, line, name))
        return None
    value = record[name]
    if not isinstance(value, str):
        out.append(Problem(P.WRONG_TYPE, f"{name!r} must be a string, got {type_name(value)}", source, line, name))
        return None
    if not value.strip():
        out.append(Problem(P.EMPTY_FIELD, f"{name!r} is empty; give {what} or remove the row", source, line, name))
        return None
    return value
