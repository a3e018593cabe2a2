"""Commands around the pipeline: init (write a config), runs (the registry), demo (everything once)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from hone.cli.errors import console, friendly_errors

# Wide enough for the runs table even when piped (rich falls back to 80 columns there).
out = Console(highlight=False, width=max(140, shutil.get_terminal_size().columns))


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("runs")(runs)
    app.command("demo")(demo)


def init(
    task: Annotated[
        str,
        typer.Argument(help="The task: classify, ner, embed, rerank, instruct, extract, pretrain or preference."),
    ] = "classify",
) -> None:
    """Print a commented hone.yaml for TASK, every field described: `hone init classify > hone.yaml`."""
    from hone import api

    with friendly_errors():
        print(api.init_config(task))


def runs(
    runs_dir: Annotated[Path, typer.Option("--dir", help="The runs directory.")] = Path("runs"),
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Rebuild the index (registry.sqlite) from the run directories first; the old file is kept beside it.",
        ),
    ] = False,
) -> None:
    """List runs with task, model, method, status and primary metric."""
    from rich.markup import escape

    from hone import api
    from hone.evaluate.standing import standing

    with friendly_errors():
        records = api.runs(runs_dir, rebuild=rebuild, log=_note)
    if not records:
        out.print(f"no runs in {runs_dir} yet; start one with `hone demo` or `hone train hone.yaml`")
        return
    headers = ("name", "task", "model", "method", "status", "metric", "score", "vs best baseline (95% CI)", "finished")
    table = Table(*headers)
    for r in records:
        where = standing(_eval_of(r.run_dir))
        score = f"{r.score:.4f}" if r.score is not None else "-"
        # not green: a finished run is only a success when it beats its baseline, which the score's colour says
        colour = {"finished": "default", "running": "cyan", "stopped": "yellow"}.get(r.status, "red")
        shade = STANDING_COLOURS.get(where["state"], "dim")
        table.add_row(
            escape(r.name),
            r.task,
            escape(Path(r.model).name),
            r.method,
            f"[{colour}]{r.status}[/]",
            r.primary_metric or "-",
            f"[{shade}]{score}[/]",  # green only when the run beats its best baseline
            f"[{shade}]{escape(where['text'])}[/]",
            (r.finished or "-")[:19],
        )
    out.print(table)


STANDING_COLOURS = {"beats": "green", "unproven": "yellow", "loses": "red"}


def _eval_of(run_dir: Path) -> dict | None:
    from hone.runs.rundir import read_json

    try:
        return read_json(Path(run_dir) / "eval.json")
    except (OSError, ValueError):
        return None


def _note(line: str) -> None:
    from rich.markup import escape

    console.print(f"[yellow]{escape(line)}[/]", highlight=False, soft_wrap=True)


def demo(
    runs_dir: Annotated[Path, typer.Option("--dir", help="Where the demo run is written.")] = Path("runs"),
    epochs: Annotated[int | None, typer.Option(help="Override the example config's epochs (fewer = faster).")] = None,
) -> None:
    """Run check → baseline → train → evaluate → report on the bundled MiniLM and the support-ticket example."""
    from hone import api

    with friendly_errors():
        result = api.demo(runs_dir, epochs=epochs, log=out.print)
    out.print(f"\n[bold]{result['verdict']}[/]")
    out.print(f"report: {result['report']}")
