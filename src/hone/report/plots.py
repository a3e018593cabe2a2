"""The report's plots, each returned as a base64 PNG ready for a `data:` URI.

matplotlib is imported inside the functions so importing hone stays fast, and figures are drawn
with the Agg canvas directly (no pyplot): nothing needs a display, no global backend or figure
list is touched, so a report can be written from a server thread or a notebook alike.
"""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 110
LINE = "#2563eb"
ACCENT = "#dc2626"


def _figure(width: float, height: float) -> Figure:
    """A Figure on the Agg canvas, independent of pyplot's global state."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def to_base64_png(fig: Figure) -> str:
    """Render `fig` to PNG and return it base64-encoded (ASCII)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white", bbox_inches="tight", pad_inches=0.1)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _style(ax: Axes, title: str, xlabel: str, ylabel: str) -> None:
    """Title, axis labels and a light grid, the same on every curve."""
    ax.set_title(title, fontsize=12, loc="left")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _smooth(values: Sequence[float], window: int) -> list[float]:
    """Trailing moving average, ignoring non-finite values (a NaN loss must not blank the line)."""
    out: list[float] = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i - window + 1) : i + 1] if math.isfinite(v)]
        out.append(sum(chunk) / len(chunk) if chunk else math.nan)
    return out


Record = dict[str, Any]


def points(records: Sequence[Record], value: Callable[[Record], Any]) -> list[tuple[float, float]]:
    """(step, value) for each metrics.jsonl record where both are numbers (index if no step)."""
    pairs = [(r.get("step", i), value(r)) for i, r in enumerate(records)]
    return [(float(s), float(v)) for s, v in pairs if _is_number(s) and _is_number(v)]


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def training_loss(records: Sequence[Record]) -> str | None:
    """The loss curve from metrics.jsonl records, or None if no loss was logged."""
    found = points(records, lambda r: r.get("loss"))
    return loss_curve(*zip(*found, strict=True)) if found else None


def dev_metric(records: Sequence[Record], metric: str, higher_is_better: bool) -> str | None:
    """The dev curve of `metric` from metrics.jsonl records, or None if none was logged."""

    def score(record: Record) -> Any:
        dev = record.get("dev")
        return dev.get(metric) if isinstance(dev, dict) else None

    found = points(records, score)
    if not found:
        return None
    return dev_curve(*zip(*found, strict=True), metric=metric, higher_is_better=higher_is_better)


def loss_curve(steps: Sequence[float], losses: Sequence[float]) -> str:
    """Training loss against optimizer step; a moving average is drawn over noisy curves."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    if len(losses) >= 20:
        ax.plot(steps, losses, color=LINE, alpha=0.25, linewidth=1, label="loss")
        window = max(5, len(losses) // 20)
        ax.plot(steps, _smooth(losses, window), color=LINE, linewidth=2, label=f"moving average ({window} logs)")
        ax.legend(frameon=False)
    else:
        ax.plot(steps, losses, color=LINE, linewidth=2, marker="o", markersize=3)
    _style(ax, "Training loss", "step", "loss")
    return to_base64_png(fig)


def dev_curve(steps: Sequence[float], scores: Sequence[float], metric: str, higher_is_better: bool = True) -> str:
    """The dev-set primary metric against step, with the best evaluation marked."""
    fig = _figure(7.5, 3.6)
    ax = fig.add_subplot()
    ax.plot(steps, scores, color=LINE, linewidth=2, marker="o", markersize=4)
    finite = [(s, v) for s, v in zip(steps, scores, strict=True) if math.isfinite(v)]
    if finite:
        pick = max if higher_is_better else min
        best_step, best = pick(finite, key=lambda sv: sv[1])
        ax.scatter([best_step], [best], s=90, color=ACCENT, zorder=3, label=f"best {best:.3f} at step {best_step:g}")
        ax.legend(frameon=False)
    _style(ax, f"Dev {metric}", "step", metric)
    return to_base64_png(fig)


def _short(label: str, limit: int = 24) -> str:
    """Shorten in the middle: labels often share a prefix and differ at the end."""
    if len(label) <= limit:
        return label
    head = (limit - 1) // 2
    return label[:head] + "…" + label[-(limit - 1 - head) :]


def confusion_matrix(labels: Sequence[str], matrix: Sequence[Sequence[float]]) -> str:
    """Heatmap of counts (rows = true label, columns = predicted), coloured by share of each row.

    Colouring by row share keeps rare classes visible next to frequent ones; the cells show
    the raw counts. The figure grows with the number of labels up to about the page's width
    (a wider image is scaled down by the browser, shrinking its text); fonts shrink gently so
    ~30 labels stay legible.
    """
    import numpy as np

    counts = np.asarray(matrix, dtype=float).reshape(len(labels), len(labels))
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    n = len(labels)
    side = min(max(4.5, 0.22 * n + 3.0), 9.0)
    fig = _figure(side + 0.6, side)
    ax = fig.add_subplot()
    image = ax.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0, aspect="equal")
    fig.colorbar(image, ax=ax, fraction=0.035, pad=0.02, label="share of true label")
    _annotate_cells(ax, counts, shares, fontsize=_count_fontsize(side, n, counts.max()))
    names = [_short(str(label)) for label in labels]
    if n <= 12:
        ax.set_xticks(range(n), names, rotation=45, ha="right", rotation_mode="anchor")
    else:
        ax.set_xticks(range(n), names, rotation=90)
    ax.set_yticks(range(n), names)
    ax.tick_params(labelsize=10.0 if n <= 10 else max(7.0, 10.0 - 0.15 * (n - 10)), length=2)
    ax.set_title("Confusion matrix (test)", fontsize=12, loc="left")
    ax.set_xlabel("predicted label")
    ax.set_ylabel("true label")
    return to_base64_png(fig)


def _count_fontsize(side_in: float, n: int, largest: float) -> float:
    """A font size (points) at which the widest count fits its cell, within 6.5 to 10."""
    cell_pt = side_in * 0.6 * 72 / max(n, 1)  # the axes take roughly 60% of the figure
    digits = len(f"{largest:g}")
    return min(10.0, max(6.5, cell_pt / (0.65 * digits + 0.4)))


def _annotate_cells(ax: Axes, counts: Any, shares: Any, fontsize: float) -> None:
    """Write each non-empty cell's count, white on dark cells so it stays readable."""
    for (row, col), count in _cells(counts):
        if count == 0:
            continue
        colour = "white" if shares[row, col] > 0.55 else "#111827"
        ax.text(col, row, f"{count:g}", ha="center", va="center", color=colour, fontsize=fontsize)


def _cells(counts: Any) -> list[tuple[tuple[int, int], float]]:
    """((row, column), count) for every cell of a 2-D array."""
    rows, cols = counts.shape
    return [((r, c), float(counts[r, c])) for r in range(rows) for c in range(cols)]
