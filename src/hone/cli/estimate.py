"""The `hone estimate` command: what a config will cost to train (memory, time, which GPUs it fits), before it runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from hone.cli.errors import friendly_errors

out = Console(highlight=False)


def register(app: typer.Typer) -> None:
    """Add the command to `app`."""
    app.command("estimate")(estimate)


def estimate(
    config: Annotated[Path, typer.Argument(help="The run's config file, e.g. examples/tickets/hone.yaml.")],
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config key, e.g. --set train.batch_size=8."),
    ] = None,
    device: Annotated[str, typer.Option(help="Predict for `cpu` (this machine) or `cuda`.")] = "cpu",
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            help="Data-parallel processes (one per GPU, as `hone train --processes N`): the global batch is "
            "train.batch_size x N x grad_accum; memory is per process.",
            min=1,
        ),
    ] = 1,
    measure: Annotated[
        bool, typer.Option("--measure", help="Also run a few real training steps in a fresh process and compare.")
    ] = False,
    steps: Annotated[int, typer.Option(help="Optimizer steps to measure with --measure.", min=1)] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON instead of tables.")] = False,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="Where to write the JSON (default: <runs_dir>/estimates/<name>.json).")
    ] = None,
) -> None:
    """Predict peak training memory (weights, gradients, optimizer state, activations, logits) and time per epoch.

    Tokenises the training data as training does and builds the model from its config without reading weights.

    Prints each memory component, the time per epoch on this CPU and on common GPUs, and the GPU-size table.

    The table says whether the run fits on a 16/24/40/80 GB GPU, and the largest batch that does.

    --measure trains --steps real steps on the widest batch in a fresh process and compares with the prediction.

    Measured peak memory is the process's peak RSS minus its RSS after the imports.
    """
    from hone import api
    from hone.plan import estimate as plan

    with friendly_errors():
        cfg = api.config_of(config, set_ or [])
        result = plan.estimate(cfg, device, processes)
        if measure and processes > 1:
            raise ValueError("--measure runs one process; leave out --processes to compare with a measurement")
        if measure:
            from hone.plan.measure import compare
            from hone.plan.measure import measure as run_steps

            result["comparison"] = compare(result, run_steps(cfg, steps))
        path = out_file or cfg.runs_dir / "estimates" / f"{cfg.name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if as_json:
        print(json.dumps(result, indent=2))
        return
    show(result)
    out.print(f"written to {path}")


def _size(n: float) -> str:
    return f"{n / 1024**3:.2f} GiB" if abs(n) >= 1024**3 else f"{n / 1024**2:.0f} MiB"


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.1f} s"


def show(r: dict[str, Any]) -> None:
    """The estimate as tables: data, memory components, time, GPU sizes, and the measurement when there is one."""
    t, p, b = r["tokens"], r["parameters"], r["peak_batch"]
    out.print(
        f"[bold]{r['name']}[/]: {r['task']}, {r['model']} ({p['total'] / 1e6:.1f}M parameters, "
        f"{p['trainable'] / 1e6:.2f}M trainable), method {r['method']}, {r['precision']} on {r['device']}"
    )
    out.print(
        f"training rows {t['rows']}{' (packed)' if t['packed'] else ''}: tokens p50 {t['p50']:.0f}, "
        f"p95 {t['p95']:.0f}, "
        f"max {t['max']:.0f} (max_length {t['max_length']}); peak batch {b['rows']} rows x {b['width']} tokens, "
        f"logits at {b['logit_positions']} positions"
    )
    _memory_table(r)
    _time_table(r)
    _gpu_table(r)
    if "comparison" in r:
        _comparison_table(r["comparison"])


def _memory_table(r: dict[str, Any]) -> None:
    table = Table(title="peak memory (predicted)", title_justify="left")
    table.add_column("component")
    table.add_column("size", justify="right")
    for name, value in r["memory"]["components"].items():
        table.add_row(name, _size(value))
    table.add_row("[bold]total[/]", f"[bold]{_size(r['memory']['total_bytes'])}[/]")
    out.print(table)
    out.print(f"[dim]{r['memory']['meaning']}[/]", soft_wrap=True)


def _time_table(r: dict[str, Any]) -> None:
    tm = r["time"]
    processes = r.get("processes", 1)
    scale = (
        f"; {processes} processes, global batch {r['global_batch']}"
        + ("" if r["device"] == "cuda" else ", sharing this CPU's cores")
        if processes > 1
        else ""
    )
    table = Table(
        title=f"time ({tm['steps_per_epoch']} steps an epoch, {tm['total_steps']} in all{scale})",
        title_justify="left",
    )
    for column in ("device", "per epoch", "whole run"):
        table.add_column(column, justify="right" if column != "device" else "left")
    ratio = tm["total_steps"] / max(tm["steps_per_epoch"], 1)
    table.add_row(
        f"{r['device']} ({tm['throughput']['how']})", _duration(tm["seconds_per_epoch"]), _duration(tm["seconds_total"])
    )
    for gpu in tm["gpus"]:
        table.add_row(gpu["gpu"], _duration(gpu["seconds_per_epoch"]), _duration(gpu["seconds_per_epoch"] * ratio))
    out.print(table)


def _gpu_table(r: dict[str, Any]) -> None:
    table = Table(title=f"fits on a GPU? (bf16 autocast, batch {r['peak_batch']['rows']} rows)", title_justify="left")
    for column in ("GPU memory", "needs", "fits", "largest batch"):
        table.add_column(column, justify="right")
    for row in r["gpu_table"]:
        fits = "[green]yes[/]" if row["fits"] else "[red]no[/]"
        table.add_row(f"{row['memory_gb']} GB", _size(row["need_bytes"]), fits, str(row["largest_batch"]))
    out.print(table)


def _comparison_table(c: dict[str, Any]) -> None:
    table = Table(title=f"predicted vs measured ({c['measured']['steps']} steps)", title_justify="left")
    for column in ("", "predicted", "measured", "measured / predicted"):
        table.add_column(column, justify="right")
    m, s = c["memory"], c["seconds_per_step"]
    table.add_row("peak memory", _size(m["predicted_bytes"]), _size(m["measured_bytes"]), f"{m['ratio']:.2f}")
    table.add_row("seconds per step", f"{s['predicted']:.2f}", f"{s['measured']:.2f}", f"{s['ratio']:.2f}")
    e = c["seconds_per_epoch"]
    table.add_row("time per epoch", _duration(e["predicted"]), _duration(e["measured"]), "")
    out.print(table)
    out.print(f"[dim]measured: {c['measured']['meaning']}[/]", soft_wrap=True)
