"""The `hone` command: a thin skin over `hone.api`. Heavy imports happen inside commands."""

from __future__ import annotations

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
pipeline.register(app)
export.register(app)
info.register(app)
serve.register(app)
for module in (advise, estimate, sweep, compare, ui):
    module.register(app)
app.add_typer(data_app, name="data", help="Reshape labelled data: `hone data to-instruct` makes instruction data.")


def main() -> None:
    app()
