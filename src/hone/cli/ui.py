"""`hone ui`: the local web dashboard over a runs folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from hone.cli.errors import EXIT_USAGE, console


def ui(
    runs_dir: Annotated[Path, typer.Option("--runs-dir", help="The runs folder to show (and start runs in).")] = Path(
        "runs"
    ),
    host: Annotated[
        str, typer.Option(help="Interface to listen on; 127.0.0.1 keeps it on this machine.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8765,
    serve_url: Annotated[
        str, typer.Option("--serve-url", help="A running `hone serve` for the playground.")
    ] = "http://127.0.0.1:8000",
    api_key: Annotated[
        str | None, typer.Option("--api-key", help="API key for the serve URL (or HONE_API_KEY).")
    ] = None,
    data_root: Annotated[
        Path | None, typer.Option("--data-root", help="Where the New run page looks for data files (default: here).")
    ] = None,
) -> None:
    """Open a dashboard: runs table, each run's curves/metrics/verdict/errors, comparisons, learning curves,
    ratings, a playground for `hone serve`, and a page that starts a training run from the browser."""
    try:
        import uvicorn

        from hone.ui.app import create_app
    except ImportError:
        console.print("[bold red]error:[/] the dashboard needs its extra: pip install 'hone[serve]'")
        raise typer.Exit(EXIT_USAGE) from None
    if runs_dir.exists() and not runs_dir.is_dir():
        console.print(f"[bold red]error:[/] --runs-dir {runs_dir}: not a folder; pass the folder holding your runs")
        raise typer.Exit(EXIT_USAGE)
    if host not in ("127.0.0.1", "localhost", "::1"):
        console.print(f"[yellow]note:[/] listening on {host}: anyone who reaches it can read runs and start training")
    key = api_key or os.environ.get("HONE_API_KEY")
    app = create_app(runs_dir, serve_url=serve_url, api_key=key, data_root=data_root)
    console.print(f"hone ui on http://{host}:{port}  (runs: {runs_dir.resolve()}, playground: {serve_url})")
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    """Add the command to `app`."""
    app.command("ui")(ui)
