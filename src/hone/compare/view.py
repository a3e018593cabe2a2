"""The human views of compare.json: a self-contained HTML page (ratings table + win-rate matrix) and a rich table."""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:72rem}
table{border-collapse:collapse;margin:1rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th{background:#f3f3f3}td.name,th.name{text-align:left}.muted{color:#777}
"""


def ratings_table(result: dict[str, Any]) -> str:
    """The ratings as an HTML table (best first)."""
    head = "<tr><th class=name>system</th><th>Elo</th><th>95% CI</th><th>W</th><th>L</th><th>T</th></tr>"
    rows = "".join(
        f"<tr><td class=name>{escape(r['system'])}</td><td>{r['elo']:.0f}</td>"
        f"<td>{r['ci_low']:.0f} – {r['ci_high']:.0f}</td>"
        f"<td>{r['wins']}</td><td>{r['losses']}</td><td>{r['ties']}</td></tr>"
        for r in result["ratings"]
    )
    return f"<table id=ratings>{head}{rows}</table>"


def matrix_table(result: dict[str, Any]) -> str:
    """Row system's win rate against column system (ties count half); blank where never judged."""
    names = [r["system"] for r in result["ratings"]]
    head = "<tr><th class=name>row beats column</th>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"
    body = ""
    for x in names:
        cells = "".join(_rate_cell(result["win_rate"].get(x, {}).get(y)) for y in names)
        body += f"<tr><td class=name>{escape(x)}</td>{cells}</tr>"
    return f"<table id=win-rate>{head}{body}</table>"


def _rate_cell(rate: float | None) -> str:
    if rate is None:
        return "<td class=muted>–</td>"
    shade = int(255 - 90 * abs(rate - 0.5) * 2)
    colour = f"rgb({shade},255,{shade})" if rate > 0.5 else f"rgb(255,{shade},{shade})"
    return f'<td style="background:{colour}">{rate:.2f}</td>'


def agreement_table(result: dict[str, Any]) -> str:
    if not result["agreement"]:
        return "<p class=muted>No pair was judged by both a human and another judge.</p>"
    rows = "".join(
        f"<tr><td class=name>{escape(a['judge'])}</td><td>{a['pairs']}</td><td>{a['agreement']:.2f}</td>"
        f"<td>{kappa_text(a['kappa'])}</td></tr>"
        for a in result["agreement"]
    )
    head = "<tr><th class=name>judge vs human</th><th>pairs</th><th>agreement</th><th>Cohen's κ</th></tr>"
    return f"<table id=agreement>{head}{rows}</table>"


def kappa_text(kappa: float | None) -> str:
    return "–" if kappa is None else f"{kappa:.2f}"


def summary(result: dict[str, Any]) -> str:
    judged = sum(1 for j in result["judgments"] if j["judge"] == result["rated_by"])
    unparsed = result["unparsed"].get(result["rated_by"], 0)
    extra = f", {unparsed} unparsed verdicts" if unparsed else ""
    return (
        f"{len(result['systems'])} systems, {result['prompts']} shared prompts, "
        f"{judged} of {result['pairs_planned']} pairs judged by {escape(result['rated_by'])}{extra}."
    )


def page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang=en><head><meta charset=utf-8><link rel="icon" href="data:,">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def report_body(result: dict[str, Any]) -> str:
    sources = "".join(
        f"<li>{escape(s['name'])} <span class=muted>{escape(s['source'])}</span></li>" for s in result["systems"]
    )
    return (
        f"<h1>hone compare</h1><p id=summary>{summary(result)}</p><h2>Ratings (Bradley–Terry, Elo scale)</h2>"
        f"{ratings_table(result)}<h2>Win rate</h2>{matrix_table(result)}<h2>Judge agreement</h2>"
        f"{agreement_table(result)}<h2>Systems</h2><ul>{sources}</ul>"
    )


def write_html(result: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page("hone compare", report_body(result)), encoding="utf-8")
    return path


def print_table(result: dict[str, Any], console: Any = None) -> None:
    """Ratings as a rich table on the terminal."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=f"hone compare — rated by {result['rated_by']}")
    for column in ("system", "Elo", "95% CI", "W", "L", "T"):
        table.add_column(column, justify="left" if column == "system" else "right")
    for r in result["ratings"]:
        ci = f"{r['ci_low']:.0f}–{r['ci_high']:.0f}"
        table.add_row(r["system"], f"{r['elo']:.0f}", ci, str(r["wins"]), str(r["losses"]), str(r["ties"]))
    console.print(table)
    console.print(summary(result), highlight=False)
    for a in result["agreement"]:
        console.print(
            f"{a['judge']} vs human: {a['agreement']:.0%} agreement on {a['pairs']} pairs, "
            f"kappa {kappa_text(a['kappa'])}"
        )
