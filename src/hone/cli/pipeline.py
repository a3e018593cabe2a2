"""Pipeline commands, in the order data flows: check, baseline, train, eval, report, predict (export: cli/export.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from hone.cli.errors import EXIT_FAILED, friendly_errors

# markup off: these lines quote data (labels like "[x]", field names, file contents), which must print as they are
out = Console(highlight=False, markup=False, soft_wrap=True)  # soft wrap: a path or a command is never cut

ConfigArg = Annotated[
    Path,
    typer.Argument(
        help="The run's config file (write one with `hone init classify`), or its run directory, e.g. runs/tickets."
    ),
]
RunArg = Annotated[
    Path, typer.Argument(help="A run directory, e.g. runs/tickets, or the config file it was trained from.")
]
SetOpt = Annotated[
    list[str] | None, typer.Option("--set", help="Override a config key, e.g. --set train.lr=3e-5 (repeatable).")
]


def register(app: typer.Typer) -> None:
    for command in (check, baseline, train, eval_, report, predict):
        name = command.__name__.rstrip("_")
        app.command(name)(command)


def check(
    config: Annotated[
        Path,
        typer.Argument(
            help="The run's config file, or a trained run directory (then: template parity and EOS stopping)."
        ),
    ],
    set_: SetOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the full report as JSON.")] = False,
) -> None:
    """Check the data: every bad row with its line and category, duplicates, leakage, imbalance, truncation.

    Given a run directory of a chat task, check the trained model instead: the text it was trained on
    must equal what inference renders (plus the answer and EOS), and its answers must stop at EOS.
    """
    from hone import api

    if config.is_dir():
        with friendly_errors():
            report = api.check_run(config)
        _print_run_check(report, as_json)
        if not report["ok"]:
            raise typer.Exit(EXIT_FAILED)
        return
    with friendly_errors():
        result = api.check(api.config_of(config, set_ or []))
    if as_json:
        print(json.dumps(result.to_json(), indent=2, ensure_ascii=False))
    else:  # the summary lists the first problems of each kind; --json (and the data report) has every one
        for line in result.summary_lines():
            out.print(line, soft_wrap=True, style=_style_of(line))
    if result.errors():
        raise typer.Exit(EXIT_FAILED)


def _style_of(line: str) -> str | None:
    if " error " in line or line.startswith(("errors:", "data not usable")):
        return "red"
    if " warning " in line or line.startswith("warnings:"):
        return "yellow"
    return None


def _print_run_check(report: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return
    parity, stops = report["template_parity"], report["stopping"]
    mark = {True: "ok", False: "FAILED"}
    out.print(
        f"template parity: {mark[parity['ok']]} — {parity['checked']} conversation(s), {parity['mismatched']} where "
        "the training text differs from the inference prompt + answer + EOS"
        + (f" ({', '.join(parity['lines'])})" if parity["lines"] else "")
    )
    out.print(
        f"stops at EOS: {mark[stops['ok']]} — {stops['stopped']}/{stops['checked']} answers ended with EOS within "
        f"{stops['max_new_tokens']} tokens; repetition {stops['repetition']:.2f}"
    )


def baseline(
    config: ConfigArg,
    set_: SetOpt = None,
    fresh: Annotated[
        bool, typer.Option("--fresh", help="Compute again even when a run with the same data and settings has them.")
    ] = False,
) -> None:
    """Score the baselines (majority, TF-IDF + LR, frozen embeddings + LR) on the test split; the best is kept."""
    from hone import api

    with friendly_errors():
        result = api.baseline(api.config_of(config, set_ or []), fresh=fresh)
    metric = result["primary_metric"]
    for name, b in result["baselines"].items():
        star = "  ← best" if name == result["best"] else ""
        out.print(f"{name:>10}  {metric} {b['metrics'][metric]:.4f}{_also(b['metrics'], metric)}{star}")


def _also(metrics: dict, primary: str) -> str:
    """A second figure worth seeing next to the primary metric, when the task has one."""
    for name in ("accuracy", "exact_match", "json_validity", "ndcg@10"):
        if name in metrics and name != primary and isinstance(metrics[name], (int, float)):
            return f"  {name} {metrics[name]:.4f}"
    return ""


def train(
    config: ConfigArg,
    set_: SetOpt = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the newest complete checkpoint.")] = False,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="Train data-parallel on N processes on this machine (one per GPU; on CPU, gloo): launches "
            "torchrun. train.batch_size is per process. Several nodes: see README, Training on several processes.",
        ),
    ] = 1,
    search: Annotated[
        int | None,
        typer.Option(
            "--search",
            min=2,
            help="Try N recipes (learning rate, epochs, warm-up, head LR or LoRA rank) on the dev split with "
            "Optuna, each a run <name>-t<k>; only the best is scored on test (writes <runs_dir>/<name>-search.json).",
        ),
    ] = None,
) -> None:
    """Fine-tune the model (full, freeze or LoRA); Ctrl-C or SIGTERM checkpoints and exits cleanly."""
    from hone import api
    from hone.train.distributed import is_main, world_size

    if processes > 1 and world_size() == 1:
        raise typer.Exit(_launch(processes, config, set_ or [], resume))
    if search is not None:
        if resume or processes > 1:
            raise typer.BadParameter("--search runs its trials one after another; without --resume or --processes")
        with friendly_errors():
            summary = api.search(api.config_of(config, set_ or []), search, log=out.print)
        test = summary["test"]
        out.print(f"{summary['winner']}: test {test['primary_metric']} {test['score']:.4f}. {test['verdict'] or ''}")
        return
    with friendly_errors():
        run = api.train(api.config_of(config, set_ or []), resume=resume)
    if is_main():
        out.print(f"model written to {run.dir.model}")


def _launch(processes: int, config: Path, set_: list[str], resume: bool) -> int:
    """`hone train` again under torchrun with `processes` ranks on this machine; its exit status."""
    import subprocess

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += ["-m", "hone", "train", str(config), *(a for s in set_ for a in ("--set", s))]
    command += ["--resume"] if resume else []
    out.print(f"launching {processes} processes: {' '.join(command[1:])}")
    return subprocess.run(command, check=False).returncode


def eval_(
    run: RunArg,
    test: Annotated[
        Path | None,
        typer.Option(
            "--test",
            help="Score on this held-out file instead (the run's own fields; baselines fitted on its train split); "
            "written to RUN/evaluations/ (a table in `hone report`), the run's split and eval.json stay as they are.",
        ),
    ] = None,
) -> None:
    """Score the trained model on the test split against the best baseline; writes eval.json."""
    from hone import api

    with friendly_errors():
        result = api.evaluate(run, test=test)
    if test is not None:
        out.print(f"{test}: {result['n']} example(s); written to {result['path']}")
    metric = result["primary_metric"]
    out.print(f"test {metric} {result['metrics'][metric]:.4f}{_also(result['metrics'], metric)}")
    out.print(result["verdict"], style="bold")


def report(run: RunArg) -> None:
    """Write report.html: verdict, baselines vs tuned, curves, what the task's errors look like (a confusion matrix
    for a classifier), evaluations on other files."""
    from hone import api

    with friendly_errors():
        path = api.report(run)
    out.print(f"report: {path}")


def predict(
    run: RunArg,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to label; without any, --file or stdin.")] = None,
    file: Annotated[
        Path | None,
        typer.Option("--file", "-f", help="Texts, one per line, or JSONL with a `text` field; default stdin."),
    ] = None,
    baseline: Annotated[
        bool, typer.Option("--baseline", help="Predict with the best baseline kept with the run, not the model.")
    ] = False,
) -> None:
    """Label new texts with a trained run; prints one JSON object per text: `hone predict runs/x "some text"`."""
    from hone import api

    if not texts:
        lines = (file.read_text(encoding="utf-8") if file else sys.stdin.read()).splitlines()
        texts = [_text_of(line) for line in lines if line.strip()]
    with friendly_errors():
        results = api.predict(run, texts, baseline=baseline)
    for text, result in zip(texts, results, strict=True):
        print(json.dumps({"text": text, **result}, ensure_ascii=False))


def _text_of(line: str) -> str:
    if line.lstrip().startswith("{"):
        try:
            return str(json.loads(line)["text"])
        except (ValueError, KeyError):
            pass
    return line
