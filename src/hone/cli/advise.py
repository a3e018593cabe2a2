"""The `hone advise` command: prompt, RAG, agent, encoder fine-tune or LoRA fine-tune — and the checklist."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from hone.cli.errors import friendly_errors

if TYPE_CHECKING:
    from hone.plan.advise import Advice

out = Console(highlight=False)
MARK = {"ok": "[green]ok[/]", "warning": "[yellow]warning[/]", "missing": "[red]missing[/]"}


def register(app: typer.Typer) -> None:
    """Add the command to `app`."""
    app.command("advise")(advise)


def advise(
    answers: Annotated[Path | None, typer.Option(help="A YAML answers file (`hone advise --template`).")] = None,
    run: Annotated[Path | None, typer.Option(help="A run directory whose baseline (and eval) results count.")] = None,
    task: Annotated[str | None, typer.Option(help="classify, ner, extract, generate, retrieval, qa or other.")] = None,
    labelled: Annotated[int | None, typer.Option(help="Labelled examples available today.")] = None,
    sensitive: Annotated[bool | None, typer.Option(help="The data may not leave your machines.")] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Target p95 latency per request, ms.")] = None,
    daily_volume: Annotated[int | None, typer.Option(help="Requests a day in production.")] = None,
    documents: Annotated[bool | None, typer.Option(help="The knowledge already lives in documents.")] = None,
    facts_change: Annotated[bool | None, typer.Option(help="Those facts change often.")] = None,
    tools: Annotated[bool | None, typer.Option(help="The job needs tools/APIs or actions.")] = None,
    metric: Annotated[str | None, typer.Option(help="The success metric, e.g. macro_f1.")] = None,
    target: Annotated[float | None, typer.Option(help="The metric value that means success.")] = None,
    weeks: Annotated[float | None, typer.Option(help="Weeks until production.")] = None,
    compute: Annotated[str | None, typer.Option(help="What you can train on: cpu or gpu.")] = None,
    guidelines: Annotated[
        bool | None, typer.Option("--guidelines/--no-guidelines", help="Written labelling guidelines exist.")
    ] = None,
    agreement: Annotated[
        float | None, typer.Option(help="Share of examples two labellers label alike, 0-1 (caps any score).")
    ] = None,
    house_style: Annotated[
        bool | None, typer.Option("--house-style", help="Outputs must keep a house tone/format prompts miss.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the advice as JSON.")] = False,
    out_file: Annotated[
        Path | None,
        typer.Option("--out", help="Write advice.json there and advice.md beside it (default with --run: in the run)."),
    ] = None,
    show_template: Annotated[bool, typer.Option("--template", help="Print a commented answers file and exit.")] = False,
) -> None:
    """Recommend prompting, RAG, an agent, an encoder fine-tune or a LoRA fine-tune, with reasons and a checklist.

    Example: hone advise --task extract --labelled 800 --sensitive --run runs/products
    """
    from hone.plan.advise import advise as decide
    from hone.plan.advise import template

    if show_template:
        print(template(), end="")
        return
    flags = {
        "task": task, "labelled_examples": labelled, "sensitive_data": sensitive, "latency_ms": latency_ms,
        "daily_volume": daily_volume, "knowledge_in_documents": documents, "facts_change": facts_change,
        "needs_tools": tools, "success_metric": metric, "target": target, "timeline_weeks": weeks,
        "compute": compute, "label_guidelines": guidelines, "annotator_agreement": agreement,
        "house_style": house_style,
    }  # fmt: skip
    with friendly_errors():
        result = decide(answers, run, **flags)
    target_file = out_file or (run / "advice.json" if run is not None else None)
    if target_file is not None:
        _write(result, target_file)
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:
        _print(result)
    if target_file is not None and not as_json:
        out.print(f"wrote {target_file} and {target_file.with_suffix('.md')}")


def _write(result: Advice, path: Path) -> None:
    from hone.runs.rundir import write_json

    write_json(path, result.to_json())
    path.with_suffix(".md").write_text(result.to_markdown(), encoding="utf-8")


def _print(result: Advice) -> None:
    from rich.table import Table

    from hone.plan.advise import APPROACHES, THRESHOLDS

    out.print(f"[bold]Recommendation: {APPROACHES[result.recommendation]}[/]  (runner-up: {result.runner_up})")
    scores = Table("approach", "score", "reasons for (+) and against (-)", show_lines=True)
    for name in sorted(result.scores, key=lambda n: -result.scores[n]):
        scores.add_row(name, f"{result.scores[name]:+g}", "\n".join(result.reasons[name]) or "[dim]no rule fired[/]")
    out.print(scores)
    checks = Table("before you commit", "status", "why", "to do", title="Commitment checklist")
    for item in result.checklist:
        checks.add_row(item.name, MARK[item.status], item.why, item.action)
    out.print(checks)
    for note in result.assumptions:
        out.print(f"[dim]assumed: {note}[/]")
    out.print("[dim]thresholds: " + "; ".join(THRESHOLDS.values()) + "[/]", soft_wrap=True)
