"""The `hone sweep` command: learning curves over data volume, one or two configs on one plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hone.cli.errors import friendly_errors

out = Console(highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to `app`."""
    app.command("sweep")(sweep)


def sweep(
    config: Annotated[Path, typer.Argument(help="The run's config file.")],
    fractions: Annotated[str, typer.Option(help="Shares of the train split, comma-separated.")] = "0.1,0.25,0.5,1",
    seeds: Annotated[int, typer.Option(min=1, help="Seeds per share (the spread in the plot).")] = 3,
    also: Annotated[
        Path | None, typer.Option(help="A second config (e.g. another method) drawn on the same plot.")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Sweep folder under runs_dir; default <name>-sweep.")] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config key for every point (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print sweep.json.")] = False,
    jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            min=1,
            help="Points trained at once, each in its own process: one GPU each, or a share of the cores.",
        ),
    ] = 1,
) -> None:
    """Train on 10/25/50/100% of the train split with several seeds, all scored on the same test split; fit a
    saturating curve and say what doubling the data would gain. Re-running reuses finished points.

    Example: hone sweep examples/tickets/hone.yaml --seeds 2 --also tickets-lora.yaml
    """
    from hone.sweep import sweep as run_sweep
    from hone.sweep.view import sentences

    with friendly_errors():
        shares = _fractions(fractions)
        configs = [config] + ([also] if also else [])
        result = run_sweep(
            configs, shares, seeds, name, set_ or [], log=lambda line: out.print(line, soft_wrap=True), jobs=jobs
        )
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _table(result)
    for line in sentences(result):
        out.print(line, soft_wrap=True)
    folder = Path(result["series"][0]["points"][0]["run_dir"]).parents[1]
    out.print(f"wrote {folder / 'sweep.json'}, sweep.png and sweep.html")


def _fractions(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise typer.BadParameter(f"--fractions {text!r}: give numbers like 0.1,0.25,0.5,1") from None


def _table(result: dict) -> None:
    table = Table(title=f"{result['metric']} on {result['test_examples']} test examples")
    for column in ("series", "examples", "mean", "std", "seeds"):
        table.add_column(column, justify="left" if column == "series" else "right")
    for s in result["series"]:
        for r in s["summary"]:
            table.add_row(s["label"], f"{r['examples']:,}", f"{r['mean']:.4f}", f"{r['std']:.4f}", str(r["n"]))
    out.print(table)
