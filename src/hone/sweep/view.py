"""The human views of a sweep: sweep.png (metric vs examples, every series on one plot) and sweep.html."""

from __future__ import annotations

import base64
import html
from pathlib import Path
from typing import Any

COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706")


def draw(result: dict[str, Any]) -> Any:
    """The figure: seed points, mean ± std band, and the fitted curve dashed, per series; log-scaled x."""
    import numpy as np
    from matplotlib.ticker import FuncFormatter, NullFormatter

    from hone.report.plots import _figure, _style
    from hone.sweep.curve import predict

    fig = _figure(7.5, 4.2)
    ax = fig.add_subplot()
    for colour, series in zip(COLOURS * 4, result["series"], strict=False):
        xs = [p["examples"] for p in series["points"]]
        ax.scatter(xs, [p["score"] for p in series["points"]], s=14, alpha=0.45, color=colour)
        n = np.array([s["examples"] for s in series["summary"]], dtype=float)
        mean = np.array([s["mean"] for s in series["summary"]])
        std = np.array([s["std"] for s in series["summary"]])
        ax.plot(n, mean, "-o", color=colour, label=series["label"], markersize=4)
        ax.fill_between(n, mean - std, mean + std, color=colour, alpha=0.15)
        if series["fit"]:
            grid = np.geomspace(n.min(), 2 * n.max(), 100)
            ax.plot(grid, predict(series["fit"], grid), "--", color=colour, alpha=0.8)
    if result["crossing"]:
        ax.axvline(result["crossing"]["examples"], color="#6b7280", linestyle=":", label="curves cross")
    ax.set_xscale("log")
    # plain counts (50, 100, 200) read better than 5×10¹ on a data-size axis
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(sorted({s["examples"] for series in result["series"] for s in series["summary"]}))
    _style(ax, f"{result['metric']} vs training examples", "training examples (log scale)", result["metric"])
    ax.legend(fontsize=8, frameon=False)
    return fig


def write_png(result: dict[str, Any], path: Path) -> None:
    fig = draw(result)
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, format="png", dpi=110, facecolor="white", bbox_inches="tight")
    tmp.replace(path)


def sentences(result: dict[str, Any]) -> list[str]:
    """What the curves say, in words: the gain from doubling each series' data, and where two cross."""
    metric, out = result["metric"], []
    for s in result["series"]:
        if s["fit"]:
            f = s["fit"]
            way = "raise" if result["direction"] == "max" else "lower"
            out.append(
                f"{s['label']}: doubling the data from {f['at_examples']:,} examples would {way} {metric} by about "
                f"{f['doubling_gain']:.4f} (fitted plateau {f['params']['a']:.4f})."
            )
        else:
            out.append(f"{s['label']}: no curve fitted — {s.get('no_fit', 'too few points')}.")
    if len(result["series"]) == 2:
        cross = result["crossing"]
        a, b = (s["label"] for s in result["series"])
        out.append(
            f"{a} and {b} cross near {cross['examples']:,.0f} examples ({metric} {cross['score']:.4f})."
            if cross
            else f"{a} and {b} do not cross within the range measured (½× to 4× the sizes)."
        )
    return out


def write_html(result: dict[str, Any], path: Path) -> None:
    from hone.report.style import CSS

    png = path.with_name("sweep.png")
    image = base64.b64encode(png.read_bytes()).decode("ascii") if png.is_file() else ""
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(s['label'])}</td><td class=num>{r['examples']:,}</td><td class=num>{r['mean']:.4f}</td>"
        f"<td class=num>{r['std']:.4f}</td><td class=num>{r['n']}</td></tr>"
        for s in result["series"]
        for r in s["summary"]
    )
    text = "".join(f"<p>{e(line)}</p>" for line in sentences(result))
    page = (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><link rel="icon" href="data:,">'
        f"<title>{e(result['name'])}: learning curves</title><style>{CSS}</style></head><body><main>"
        f"<h1>Learning curves: {e(result['name'])}</h1>"
        f"<p class=meta>{e(result['task'])} · {e(result['metric'])} on the same "
        f"{result['test_examples']} test examples for every point</p>{text}"
        f'<img src="data:image/png;base64,{image}" alt="{e(result["metric"])} against training examples">'
        f"<table><thead><tr><th>series</th><th class=num>examples</th><th class=num>mean</th><th class=num>std</th>"
        f"<th class=num>seeds</th></tr></thead><tbody>{rows}</tbody></table></main></body></html>"
    )
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)
