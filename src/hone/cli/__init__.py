"""The `hone` command: a thin skin over `hone.api`. Heavy imports happen inside commands."""

from __future__ import annotations

import os

import typer

from hone.cli import advise, compare, estimate, export, info, pipeline, serve, sweep, ui
from hone.cli.data import app as data_app

app = typer.Typer(
    name="hone",
    help="Turn a pretrained language model into a specialist for one task, prove it beats the cheaper "
    "alternatives, and serve it.\n\nStart with `hone demo`, or `hone init classify > hone.yaml`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Commands that mostly wait on one model (one forward after another, or several processes on a shared
# machine): OpenMP threads that spin between forwards only take the cores others need. A stack sample of a
# slow `hone baseline` (k-shot prompting on a busy 2-core machine) showed it waiting in OpenMP's barrier.
# Training keeps OpenMP's default; `hone serve` sets the same policy itself.
PASSIVE_WAITS = frozenset({"baseline", "eval", "predict", "compare", "report", "export"})


@app.callback()
def _environment(ctx: typer.Context) -> None:
    # Before torch is imported (every command imports it lazily): libgomp reads the policy once, at start.
    if ctx.invoked_subcommand in PASSIVE_WAITS:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


pipeline.register(app)
export.register(app)
info.register(app)
serve.register(app)
for module in (advise, estimate, sweep, compare, ui):
    module.register(app)
app.add_typer(data_app, name="data", help="Reshape labelled data: `hone data to-instruct` makes instruction data.")


def main() -> None:
    app()
