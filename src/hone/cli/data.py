"""`hone data ...`: commands that reshape labelled data; no model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hone.cli.errors import friendly_errors

out = Console(highlight=False)

app = typer.Typer(
    help="Reshape labelled data, e.g. `hone data to-instruct hone.yaml --out instruct/`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command(
    "to-instruct",
    help="Turn labelled data into chat instruction data (FLAN-style), to tune an LLM on labels you already have."
    "\n\nEach example becomes a chat row: a user message, one of several phrasings of the task around the "
    "example's text, and an assistant message, its label(s), its entities as JSON lines or its fields as one JSON "
    "object. The rows are checked as the original run checks them (bad rows follow data.on_error) and keep its "
    "splits, so the instruct run is scored on the same test examples."
    "\n\nWrites OUT/train.jsonl, OUT/dev.jsonl, OUT/test.jsonl and a ready `task: instruct` OUT/hone.yaml; "
    "then run `hone check OUT/hone.yaml`.",
)
def to_instruct(
    source: Annotated[
        Path,
        typer.Argument(
            help="A classify, ner or extract run's config (hone.yaml), or a data file (JSONL/CSV/CoNLL) with --task.",
            show_default=False,
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for train.jsonl, dev.jsonl, test.jsonl and hone.yaml.")
    ],
    task: Annotated[
        Literal["classify", "ner", "extract"] | None,
        typer.Option(help="What a data file's rows are for: classify, ner or extract (not needed with a config)."),
    ] = None,
    templates: Annotated[
        Literal["one", "all"],
        typer.Option(help="`one`: one phrasing per example, chosen by hash; `all`: every phrasing (augmentation)."),
    ] = "one",
    seed: Annotated[int, typer.Option(help="Seed of the phrasing choice; another seed gives other phrasings.")] = 13,
) -> None:
    """Write instruction data; the help text sits in the decorator because typer would keep docstring line breaks."""
    from hone.data.to_instruct import to_instruct as convert

    with friendly_errors():
        result = convert(source, out_dir, templates=templates, task=task, seed=seed)
    _summary(result)


def _summary(result: dict[str, Any]) -> None:
    splits = Table("split", "examples", "rows", "file", title=f"{result['task']} → instruct", title_justify="left")
    for name, rows in result["rows"].items():
        splits.add_row(
            name, f"{result['examples'][name]:,}", f"{rows:,}", escape(str(Path(result["out"]) / f"{name}.jsonl"))
        )
    out.print(splits)
    phrasings = Table("template", "rows")
    for template_id, rows in result["per_template"].items():
        phrasings.add_row(template_id, f"{rows:,}")
    out.print(phrasings)
    if result["skipped"]:
        out.print(f"[yellow]{result['skipped']:,} bad row(s) skipped (data.on_error: skip)[/]")
    config = escape(result["config"])
    out.print(f"config: {config}  next: [bold]hone check {config}[/]", soft_wrap=True)
