"""The report's "Possible label noise" section, from eval.json's "suspect_labels" (`hone.evaluate.noise`).

Every value is run data and is escaped (through `hone.report.html`'s helpers).
"""

from __future__ import annotations

import json
from typing import Any

from hone.report.parts import clip as _clip
from hone.report.parts import e as _e
from hone.report.parts import metric as _metric
from hone.report.parts import note as _note
from hone.report.parts import table as _table

EXPLANATION = (
    "High loss on a <b>training</b> example after training means the model could not fit it: often a wrong or "
    "ambiguous label. Check these lines first."
)
HEADERS = ["where", "text", "given label", "model says", "confidence", "loss"]


def noise_section(eval_json: dict[str, Any] | None) -> str:
    """Both tables (highest loss, most confidently wrong) with file:line; empty when eval.json has no key."""
    suspects = (eval_json or {}).get("suspect_labels")
    if not suspects:
        return ""  # an eval.json written before this section existed
    if "unavailable" in suspects:
        return _note(f"Not available for this run: {_e(suspects['unavailable'])}.")
    parts = [
        f'<p class="warning" id="suspects-warning">{_e(suspects["warning"])}.</p>' if suspects.get("warning") else "",
        f"<p>{EXPLANATION}</p>",
        _note(f"{_e(suspects.get('note'))}."),
        "<h3>Highest loss</h3>",
        _rows_table(suspects.get("highest_loss") or [], "No training examples were scored."),
        "<h3>Most confidently wrong</h3>",
        _rows_table(suspects.get("confidently_wrong") or [], "The model agrees with every scored training label."),
    ]
    return "".join(parts)


def _rows_table(rows: list[dict[str, Any]], empty: str) -> str:
    if not rows:
        return _note(empty)
    cells = [
        [
            f"<code>{_e(row.get('line'))}</code>",
            f'<div class="text">{_e(_clip(row.get("text", "")))}</div>',
            f'<div class="text">{_e(_clip(_show(row.get("label"))))}</div>',
            f'<div class="text">{_e(_clip(_show(row.get("predicted"))))}{_detail(row)}</div>',
            _metric(row.get("confidence")),
            _metric(row.get("loss")),
        ]
        for row in rows
    ]
    return _table(HEADERS, cells, {4, 5})


def _show(value: Any) -> str:
    """A label as text: strings as they are, lists and objects as compact JSON, no prediction as a dash."""
    if value is None:
        return "—"
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _detail(row: dict[str, Any]) -> str:
    detail = row.get("detail")
    return f'<div class="note">{_e(detail)}</div>' if detail else ""
