"""The `hone compare` command: pairwise judgments of runs, baselines and external outputs, rated Bradley–Terry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hone.cli.errors import friendly_errors

out = Console(highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to `app`."""
    app.command("compare")(compare)


def compare(
    runs: Annotated[
        list[Path] | None, typer.Argument(help="Generation run directories; each adds <run> and <run>:<baseline>.")
    ] = None,
    outputs: Annotated[
        list[Path] | None,
        typer.Option("--outputs", help='JSONL of {"system","prompt_id","prompt","output"[,"reference"]} (repeatable).'),
    ] = None,
    judge: Annotated[
        str, typer.Option(help="reference (ROUGE-L vs reference), model (a served LLM), human (web page), or auto.")
    ] = "auto",
    out_dir: Annotated[Path | None, typer.Option("--out", help="Output folder; default <runs_dir>/compare.")] = None,
    seed: Annotated[int, typer.Option(help="Seeds pair sampling, shown order and the bootstrap.")] = 0,
    pairs_per_prompt: Annotated[
        int | None, typer.Option(help="Judge at most this many system pairs per prompt.")
    ] = None,
    limit: Annotated[int | None, typer.Option(help="Judge at most this many pairs in all.")] = None,
    margin: Annotated[float, typer.Option(help="Reference judge: a ROUGE-L difference within this is a tie.")] = 0.02,
    judge_url: Annotated[str | None, typer.Option(help="Model judge: API base, e.g. http://127.0.0.1:8000/v1.")] = None,
    judge_model: Annotated[str | None, typer.Option(help="Model judge: the `model` name to ask.")] = None,
    api_key: Annotated[str | None, typer.Option(help="Model judge: bearer key.", envvar="HONE_JUDGE_API_KEY")] = None,
    judge_timeout: Annotated[float, typer.Option(help="Model judge: seconds per request.")] = 60.0,
    retries: Annotated[int, typer.Option(help="Model judge: tries per pair before giving up.")] = 3,
    resamples: Annotated[int, typer.Option(help="Bootstrap resamples of prompts for the 95% intervals.")] = 200,
    host: Annotated[str, typer.Option(help="Human judge: interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Human judge: port of the judging page.")] = 8766,
) -> None:
    """Judge every pair of systems on every shared prompt and rate them (Bradley–Terry, Elo scale, 95% CIs).

    Writes <out>/judgments.jsonl as it goes (a rerun skips pairs that judge already decided),
    compare.json and compare.html. With --judge human, open the printed address and judge in the
    browser; stop with Ctrl-C. Example: hone compare runs/chat runs/chat-r16 --judge reference
    """
    from hone.compare import make_judge, open_comparison, run_judge
    from hone.compare.view import print_table

    # the human page's server handles Ctrl-C itself and then writes the ratings
    with friendly_errors(stop_on_signal=judge != "human"):
        comparison = open_comparison(runs or [], outputs or [], out_dir, seed, pairs_per_prompt, limit, resamples)
        out.print(
            f"{len(comparison.systems.names)} systems: {', '.join(comparison.systems.names)}; "
            f"{len(comparison.pairs)} pairs planned"
        )
        for line in comparison.systems.partial_overlaps():
            out.print(f"[yellow]note:[/] {line}")
        if judge == "human":
            from hone.compare.human import serve_human

            out.print(f"judge at http://{host}:{port}/ (Ctrl-C to stop)")
            result = serve_human(comparison, host, port)
        else:
            settings = {"judge_url": judge_url, "judge_model": judge_model, "api_key": api_key}
            chosen = make_judge(judge, comparison.systems, margin, timeout=judge_timeout, retries=retries, **settings)
            result = run_judge(comparison, chosen)
    print_table(result, out)
    out.print(f"wrote {comparison.out / 'compare.json'} and {comparison.out / 'compare.html'}")
