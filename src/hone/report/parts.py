"""Small HTML pieces the report's sections share: escaping, numbers and durations as they read best, tables,
notes, images and clipped text."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any

TEXT_LIMIT = 300  # characters of a text shown in a table


def e(value: Any) -> str:
    """Escape any value for HTML text or attributes; lists read as comma-separated."""
    if isinstance(value, (list, tuple)):
        value = ", ".join(map(str, value)) or "(none)"
    return "—" if value is None else escape(str(value))


def num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def metric(value: Any) -> str:
    number = num(value)
    return "—" if number is None else f"{number:.3f}"


def duration(seconds: Any) -> str:
    """A time in the unit that reads best: 4.2 s, 12.3 ms, 8 µs."""
    value = num(seconds)
    if value is None or not math.isfinite(value):
        return "—"
    scale, unit = next(((s, u) for s, u in ((1, "s"), (1e-3, "ms")) if value >= s), (1e-6, "µs"))
    return f"{value / scale:.3g} {unit}"


def row(values: Sequence[str], numeric: set[int], tag: str = "td", attrs: str = "") -> str:
    """One table row of already-escaped cells; columns in `numeric` are right-aligned."""
    cells = [f"<{tag}{' class=num' * (i in numeric)}>{v}</{tag}>" for i, v in enumerate(values)]
    return f"<tr{attrs}>{''.join(cells)}</tr>"


def table(headers: Sequence[str], rows: Iterable[str | Sequence[str]], numeric: set[int]) -> str:
    """An HTML table; each row is a list of escaped cells or an already-rendered `<tr>`."""
    body = "".join(r if isinstance(r, str) else row(r, numeric) for r in rows)
    head = row([escape(h) for h in headers], numeric, tag="th")
    return f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"


def note(html_text: str) -> str:
    return f'<p class="note">{html_text}</p>'


def img(b64: str, alt: str) -> str:
    return f'<img alt="{escape(alt)}" src="data:image/png;base64,{b64}">'


def clip(text: Any) -> str:
    """The text cut to TEXT_LIMIT characters (before escaping, so no entity is cut in half)."""
    text = str(text)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT].rstrip() + "…"
