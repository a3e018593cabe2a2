"""What `hone serve` serves and how: runs, network, keys, batching and limits (a serve.yaml or flags).

```yaml
runs:
  - runs/copy                       # served as "copy" (the run directory's name)
  - {path: runs/products, name: products-v2}
adapter_root: runs                  # POST /v1/adapters may load run directories from here only
api_keys: []                        # or --api-key / HONE_API_KEY; none and no_auth false: refuse to start
admin_keys: []                      # or --admin-key / HONE_ADMIN_KEY: operators manage adapters, read /metrics
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator

from hone.config.schema import Section


class ServedRun(Section):
    path: Path = Field(description="A trained run directory (or its model/ folder).")
    name: str | None = Field(None, description="The name clients put in `model`; default: the run directory's name.")


class ServeLimits(Section):
    max_body_bytes: int = Field(1_000_000, gt=0, description="Largest request body; larger gets 413.")
    max_prompt_tokens: int = Field(2048, gt=0, description="Longest prompt in tokens; longer gets 400.")
    max_tokens: int = Field(512, gt=0, description="Largest `max_tokens` a request may ask for.")
    max_n: int = Field(4, gt=0, description="Most choices (`n`) per request.")
    max_inputs: int = Field(256, gt=0, description="Most texts in one classify/ner/embeddings/rerank request.")
    max_messages: int = Field(256, gt=0, description="Most messages in one chat request (checked before templating).")
    template_ms: float = Field(
        250.0, gt=0, description="Longest a model's chat template may take to render one request's prompt."
    )


class ServeConfig(Section):
    runs: list[ServedRun] = Field(default_factory=list, description="The runs to serve (at least one).")
    host: str = Field("127.0.0.1", description="Interface to listen on; 0.0.0.0 exposes the server to the network.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port.")
    api_keys: list[str] = Field(default_factory=list, description="Accepted keys (Authorization: Bearer <key>).")
    admin_keys: list[str] = Field(
        default_factory=list,
        description="Operator keys: load and unload adapters (with adapter_root), read /metrics; never client keys.",
    )
    no_auth: bool = Field(False, description="Serve without keys (local experiments only).")
    adapter_root: Path | None = Field(
        None, description="Directory runtime adapter loads are confined to (loads also need an operator key)."
    )
    adapter_loads_per_minute: int = Field(10, gt=0, description="Most adapter loads and unloads per minute.")
    worker: Literal["process", "thread"] = Field(
        "process",
        description="Where models run: a worker process of their own (the HTTP process never runs a model), or a "
        "thread of the server's process (tests, embedding in another program).",
    )
    threads: int | None = Field(
        None,
        gt=0,
        description="Compute threads of the model worker process; default: the CPU count minus one, so the HTTP "
        "process always has a core to answer (and refuse) requests on.",
    )
    max_connections: int = Field(
        1000, gt=0, description="Most open client connections; beyond it the one idle the longest is closed."
    )
    idle_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A connection with no request in progress (slow headers, keep-alive) is closed after this.",
    )
    body_timeout_s: float = Field(30.0, gt=0, description="A request body not fully received by then gets 408.")
    send_timeout_s: float = Field(
        30.0, gt=0, description="A client that reads none of its answer for this long is cut off."
    )
    backend: Literal["torch", "vllm"] = Field("torch", description="`vllm` needs vLLM and a CUDA GPU.")
    max_batch: int = Field(16, gt=0, description="Most sequences decoded together on one base model.")
    batch_wait_ms: float = Field(5.0, ge=0, description="How long a lone request waits for others to batch with.")
    max_queue: int = Field(
        64,
        gt=0,
        description="Requests waiting beyond this get 429 with Retry-After, as do requests beyond this plus "
        "max_batch per base model in flight.",
    )
    prefix_cache_mb: float = Field(256.0, ge=0, description="Memory for cached prompt KV states (0: off).")
    drain_timeout_s: float = Field(30.0, ge=0, description="After SIGTERM, how long in-flight requests may finish.")
    limits: ServeLimits = Field(default_factory=ServeLimits, description="Per-request limits.")

    @field_validator("runs", mode="before")
    @classmethod
    def _paths_as_runs(cls, value: Any) -> Any:
        return [{"path": v} if isinstance(v, (str, Path)) else v for v in value or []]


def load_serve_config(path: Path | None, overrides: dict[str, Any]) -> ServeConfig:
    """serve.yaml (if given) with command-line values on top; paths in the file are relative to it."""
    raw: dict[str, Any] = {}
    if path is not None:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(raw, dict):
            raise ValueError(f"{path}: expected a mapping of serve settings")
        base = path.resolve().parent
        raw["runs"] = [_relative(r, base) for r in raw.get("runs") or []]
        if raw.get("adapter_root"):
            raw["adapter_root"] = str(base / raw["adapter_root"])
    for key, value in overrides.items():
        if value not in (None, [], ()):
            raw[key] = [*raw.get(key, []), *value] if key in ("runs", "api_keys", "admin_keys") else value
    try:
        return ServeConfig.model_validate(raw)
    except ValidationError as exc:
        where = str(path) if path else "serve settings"
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{where}: {problems}") from None


def _relative(run: Any, base: Path) -> Any:
    if isinstance(run, str):
        return str(base / run)
    if isinstance(run, dict) and "path" in run:
        return {**run, "path": str(base / run["path"])}
    return run
