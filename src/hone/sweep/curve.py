"""Saturating learning curves: fit score(n) = a - b * n**-c, the gain from doubling the data, where two cross.

The inverse power law is the usual shape of a learning curve: quick gains first, then a plateau at
`a`. For a metric where lower is better (a loss), the curve falls towards `a`: a + b * n**-c.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_SIZES = 3  # three parameters need at least three distinct data sizes


def curve(n: Any, a: float, b: float, c: float, sign: float = 1.0) -> Any:
    return a - sign * b * np.power(np.asarray(n, dtype=float), -c)


def fit(examples: Sequence[float], scores: Sequence[float], higher_is_better: bool = True) -> dict[str, Any]:
    """{"form", "params", "doubling_gain", "at_examples"}, or {"reason"} when the points cannot carry a fit.

    `doubling_gain` is the improvement from twice the largest size: positive when the metric gets better,
    whichever its direction (a loss that falls by 0.03 gains 0.03)."""
    from scipy.optimize import curve_fit

    sizes = sorted(set(examples))
    if len(sizes) < MIN_SIZES:
        return {"reason": f"{len(sizes)} distinct data size(s); a curve needs at least {MIN_SIZES}"}
    sign = 1.0 if higher_is_better else -1.0
    x, y = np.asarray(examples, dtype=float), np.asarray(scores, dtype=float)
    spread = float(np.ptp(y)) or 1.0
    start = [float(y.max() if higher_is_better else y.min()), spread * x.min() ** 0.5, 0.5]
    # a metric seen only within [0, 1] is a share (F1, accuracy, recall): its plateau cannot pass 1 (or 0)
    share = bool(((y >= 0) & (y <= 1)).all())
    a_low, a_high = (-np.inf, 1.0) if share and higher_is_better else (0.0 if share else -np.inf, np.inf)
    start[0] = min(max(start[0], a_low), a_high)
    try:
        params, _ = curve_fit(
            lambda n, a, b, c: curve(n, a, b, c, sign),
            x,
            y,
            p0=start,
            bounds=([a_low, 0.0, 1e-3], [a_high, np.inf, 3.0]),
            maxfev=20_000,
        )
    except (RuntimeError, ValueError) as exc:  # no convergence: say so rather than draw a wrong curve
        return {"reason": f"the curve did not converge: {exc}"}
    a, b, c = (float(v) for v in params)
    largest = sizes[-1]
    gain = sign * float(curve(2 * largest, a, b, c, sign) - curve(largest, a, b, c, sign))
    form = "a - b * n**-c" if higher_is_better else "a + b * n**-c"
    return {"form": form, "params": {"a": a, "b": b, "c": c}, "doubling_gain": gain, "at_examples": int(largest)}


def predict(fitted: dict[str, Any], n: Any) -> Any:
    p = fitted["params"]
    return curve(n, p["a"], p["b"], p["c"], 1.0 if fitted["form"].startswith("a -") else -1.0)


def crossing(first: dict[str, Any] | None, second: dict[str, Any] | None, low: float, high: float) -> dict | None:
    """Where two fitted curves cross between `low` and `high` examples (the first crossing), else None."""
    if not first or not second or "params" not in first or "params" not in second:
        return None
    grid = np.geomspace(max(low, 1.0), high, 2000)
    diff = predict(first, grid) - predict(second, grid)
    flips = np.nonzero(np.diff(np.sign(diff)))[0]
    if len(flips) == 0:
        return None
    i = int(flips[0])
    # linear interpolation between the two grid points around the sign change
    t = diff[i] / (diff[i] - diff[i + 1])
    n = float(grid[i] + t * (grid[i + 1] - grid[i]))
    return {"examples": n, "score": float(predict(first, n))}
