"""`hone serve`: every given run behind one OpenAI-compatible HTTP server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hone.cli.errors import EXIT_USAGE, console, friendly_errors


def serve(
    runs: Annotated[
        list[Path] | None, typer.Argument(help="Run directories to serve (names: their folder names).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="A serve.yaml (see the README, Serving).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Interface to listen on (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default 8000).")] = None,
    api_key: Annotated[
        list[str] | None, typer.Option("--api-key", help="An accepted API key (repeatable; or HONE_API_KEY).")
    ] = None,
    admin_key: Annotated[
        list[str] | None,
        typer.Option(
            "--admin-key",
            help="An operator key (repeatable; or HONE_ADMIN_KEY): loads and unloads adapters, reads /metrics.",
        ),
    ] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Serve without API keys (local experiments).")] = False,
    adapter_root: Annotated[
        Path | None,
        typer.Option(help="Allow POST /v1/adapters (with an operator key) to load run directories from here only."),
    ] = None,
    backend: Annotated[str | None, typer.Option(help="`torch` (built in) or `vllm` (needs vLLM and a GPU).")] = None,
    max_batch: Annotated[int | None, typer.Option(help="Most sequences decoded together (default 16).")] = None,
    max_queue: Annotated[int | None, typer.Option(help="Waiting requests beyond this get 429 (default 64).")] = None,
) -> None:
    """Serve trained runs: chat/completions/embeddings (OpenAI-compatible) and classify/ner/extract/rerank.

    One copy of each base model holds every LoRA adapter trained on it; clients pick one with the
    request's `model` field. Every route but /health needs an API key; loading and unloading adapters at
    runtime needs an operator key (--admin-key) and --adapter-root. Models run in a worker process of their own.
    """
    # Before torch starts OpenMP: spinning worker threads would steal the 2 cores from the event loop
    # (decode steps measured swinging from 60 to 740 ms without this on a 2-core machine).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        console.print("[bold red]error:[/] serving needs its extra: pip install 'hone[serve]'")
        raise typer.Exit(EXIT_USAGE) from None
    from hone.serve.config import load_serve_config
    from hone.serve.pool import model_dir_of
    from hone.serve.security import api_keys_from

    overrides = {
        "runs": [str(r) for r in runs or []],
        "host": host,
        "port": port,
        "no_auth": no_auth or None,
        "adapter_root": str(adapter_root) if adapter_root else None,
        "backend": backend,
        "max_batch": max_batch,
        "max_queue": max_queue,
    }
    with friendly_errors():
        cfg = load_serve_config(config, overrides)
        if not cfg.runs:
            raise typer.BadParameter("give at least one run directory (or runs: in --config)")
        for run in cfg.runs:
            model_dir_of(run.path)
    keys = api_keys_from(api_key or [], os.environ) + cfg.api_keys
    admin_keys = api_keys_from(admin_key or [], os.environ, "HONE_ADMIN_KEYS", "HONE_ADMIN_KEY") + cfg.admin_keys
    if not keys and not cfg.no_auth:
        console.print(
            "[bold red]error:[/] no API key: pass --api-key KEY (or set HONE_API_KEY), "
            "or --no-auth for local experiments"
        )
        raise typer.Exit(EXIT_USAGE)
    if cfg.backend == "vllm":
        _exec_vllm(cfg, keys)
        return
    from hone import api

    console.print(f"serving {len(cfg.runs)} run(s) on http://{cfg.host}:{cfg.port}  (SIGTERM drains, twice stops)")
    api.serve(api_keys=keys, admin_keys=admin_keys, **cfg.model_dump(exclude={"api_keys", "admin_keys"}))


def _exec_vllm(cfg: Any, keys: list[str]) -> None:
    """Hand the runs to vLLM: export a bundle to a temporary folder, then become `vllm serve` with it."""
    import tempfile

    from hone.export.vllm import export_vllm, launch_command, vllm_available

    reason = vllm_available()
    if reason is not None:
        console.print(f"[bold red]error:[/] --backend vllm: {reason}; use --backend torch (the default)")
        raise typer.Exit(EXIT_USAGE)
    if any(run.name for run in cfg.runs):
        console.print("[yellow]note:[/] vLLM serves each adapter under its run directory's name")
    with friendly_errors():
        bundle = Path(tempfile.mkdtemp(prefix="hone-vllm-")) / "bundle"
        export_vllm([run.path for run in cfg.runs], bundle)
    command = launch_command(bundle, cfg.host, cfg.port) + (["--api-key", keys[0]] if keys else [])
    console.print(f"starting vLLM: {' '.join(command)}")
    os.execvp(command[0], command)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
