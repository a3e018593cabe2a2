"""Where an evaluated run stands against its best baseline: one small, import-light function for every place
runs are listed (`hone runs`, the dashboard, the report), so a run that loses never looks like a success."""

from __future__ import annotations

from typing import Any


def standing(result: dict[str, Any] | None) -> dict[str, Any]:
    """Where an evaluated run stands against its best baseline, for every place runs are listed.

    `state`: "beats" (the 95% interval of the gain is above zero), "unproven" (a gain whose interval includes
    zero), "loses" (no gain: keep the baseline), "no_baseline" (evaluated, nothing to compare with) or
    "not_evaluated"; `text` says it in a few words, e.g. "+0.242 [+0.177, +0.315] over embed_lr".
    """
    if not isinstance(result, dict):
        return {"state": "not_evaluated", "text": "not evaluated"}
    comparison = result.get("comparison")
    if not isinstance(comparison, dict):
        return {"state": "no_baseline", "text": "no baseline to compare with"}
    gain, (low, high), name = comparison["gain"], comparison["ci95"], comparison["baseline"]
    state = "beats" if comparison["better"] else "unproven" if gain > 0 else "loses"
    words = {"beats": "over", "unproven": "over (not proven)", "loses": "vs"}[state]
    return {
        "state": state,
        "gain": gain,
        "ci95": [low, high],
        "baseline": name,
        "text": f"{gain:+.3f} [{low:+.3f}, {high:+.3f}] {words} {name}" + (" — keep it" if state == "loses" else ""),
    }
