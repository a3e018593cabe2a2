"""The FastAPI app: `create_app(config)` builds it; models load in the lifespan, on a background thread, so
`/health` answers at once and `/ready` says when serving can start.

Middleware, outermost first: metrics (every request timed), API keys (deny by default, `/health` open),
body size, then the gate: 503 while loading or draining, and 429 at once when the server is full
(`ServerState.full()`). Routes live in `openai_routes.py` and `task_routes.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hone.serve.cache import PrefixCache
from hone.serve.config import ServeConfig
from hone.serve.errors import APIError, error_body
from hone.serve.metrics import Metrics, MetricsMiddleware
from hone.serve.pool import ModelPool
from hone.serve.protocol import AdapterRequest
from hone.serve.scheduler import Overloaded, Scheduler
from hone.serve.security import AuthMiddleware, BodyLimitMiddleware

log = logging.getLogger("hone.serve")
PROBES = ("/health", "/ready", "/metrics")
OPERATOR_PREFIX = "/v1/adapters"  # an operator's loads and unloads are never shed


@dataclass
class ServerState:
    config: ServeConfig
    pool: ModelPool
    scheduler: Scheduler
    metrics: Metrics
    loaded: threading.Event = field(default_factory=threading.Event)
    failure: str | None = None
    draining: bool = False
    inflight: int = 0
    freeze_heap: bool = False  # the app owns its process (`hone serve`): see `settle_heap`

    def unavailable(self) -> str | None:
        """Why requests cannot be served now (loading, failed, draining), or None."""
        if self.draining:
            return "the server is shutting down; send the request to another replica"
        if not self.loaded.is_set():
            return "the server is still loading its models; retry shortly"
        if self.failure is not None:
            return f"loading the models failed: {self.failure}"
        return None

    def admission_limit(self) -> int:
        """Most requests in flight at once: `max_queue` waiting plus a full batch running on each base model
        (at least one batch: encoder calls run one batch at a time on the compute thread)."""
        return self.config.max_queue + self.config.max_batch * max(1, len(self.pool.engines))

    def full(self) -> bool:
        """Whether a new request would only be refused: the queue is full, or `admission_limit()` requests are
        in flight (those being read, validated or answered count too, not only the queued ones)."""
        return self.scheduler.waiting >= self.config.max_queue or self.inflight >= self.admission_limit()

    def run(self, fn: Any) -> Any:
        """Await `fn()`, a change to the served models, run on the compute thread (between decode steps);
        the heap is settled after it."""

        def change() -> Any:
            try:
                return fn()
            finally:
                self.settle_heap()

        return asyncio.wrap_future(self.scheduler.exclusive(change))

    def settle_heap(self) -> None:
        """With `freeze_heap`: collect garbage once, then freeze the survivors (`gc.freeze`).

        The models, tokenizers and libraries are ~450k long-lived objects that every full collection would
        walk again: measured on a tiny encoder, 250 ms pauses of the whole process (the event loop included)
        every few seconds under load, and 40% of the throughput. Frozen, later collections skip them; a
        model unloaded since the last settling is freed by reference counting, its cycles at the next one.
        Off in-process (tests), where freezing would keep the host's garbage cycles forever.
        """
        if self.freeze_heap:
            gc.unfreeze()
            gc.collect()
            gc.freeze()


def create_app(config: ServeConfig, keys: list[str] | None = None, freeze_heap: bool = False) -> FastAPI:
    """The server for `config`. `keys`: accepted API keys (None: no authentication, only with `no_auth`).
    `freeze_heap`: the app owns its process; freeze the heap once models are loaded (`ServerState.settle_heap`)."""
    from hone.train.setup import autocast_for_inference

    if keys is None and not config.no_auth:
        raise ValueError("no API key: pass --api-key (or set HONE_API_KEY), or --no-auth for local experiments")
    metrics = Metrics()
    cache = PrefixCache(int(config.prefix_cache_mb * 2**20), metrics=metrics) if config.prefix_cache_mb > 0 else None
    state = ServerState(
        config,
        ModelPool(cache, autocast_for_inference()),
        Scheduler(config.max_queue, config.max_batch, config.batch_wait_ms / 1000, config.limits.max_inputs, metrics),
        metrics,
        freeze_heap=freeze_heap,
    )
    app = FastAPI(title="hone", version="1", lifespan=_lifespan, docs_url=None, redoc_url=None)
    app.state.hone = state
    _routes(app)
    _errors(app)
    app.add_middleware(_Gate, state=state)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.limits.max_body_bytes)
    app.add_middleware(AuthMiddleware, keys=None if config.no_auth else keys)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: ServerState = app.state.hone
    state.scheduler.start()
    loader = threading.Thread(target=_load_all, args=(state,), name="hone-loader", daemon=True)
    loader.start()
    try:
        yield
    finally:
        state.scheduler.stop()


def _load_all(state: ServerState) -> None:
    try:
        for run in state.config.runs:
            state.scheduler.exclusive(lambda r=run: state.pool.load_run(r.path, r.name)).result()
            log.info("serving %s", run.name or run.path)
        state.metrics.adapters.set(len(state.pool.models))
    except Exception as exc:
        state.failure = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
        log.error("loading failed: %s", state.failure)
    finally:
        state.settle_heap()
        state.loaded.set()


class _Gate:
    """503 while models load, after loading failed, and once draining began; 429 when the server is full.

    A request that would be refused (`ServerState.full()`) is refused here, before routing and validation, with
    a response built once: under overload the event loop spends little on the excess and keeps serving the
    admitted (refused after validation, a request with many inputs cost as much as serving it).
    """

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        self.app, self.state = app, state
        message = "The server is busy (too many requests in flight); retry shortly."
        self.busy = JSONResponse(error_body(429, message, code="overloaded"), 429, headers={"Retry-After": "1"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in PROBES:
            await self.app(scope, receive, send)
            return
        reason = self.state.unavailable()
        if reason is not None:
            response = JSONResponse(
                error_body(503, reason, code="unavailable"), 503, headers={"Retry-After": "5", "Connection": "close"}
            )
            await response(scope, receive, send)
            return
        if self.state.full() and not scope["path"].startswith(OPERATOR_PREFIX):
            self.state.metrics.rejected.labels(reason="full").inc()
            await self.busy(scope, receive, send)
            return
        self.state.inflight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.inflight -= 1


def _routes(app: FastAPI) -> None:
    from hone.serve import openai_routes, task_routes

    app.include_router(openai_routes.router)
    app.include_router(task_routes.router)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready")
    async def ready(request: Request) -> JSONResponse:
        state: ServerState = request.app.state.hone
        reason = state.unavailable()
        body = {
            "ready": reason is None,
            "reason": reason,
            "models": sorted(state.pool.models) if reason is None else [],
        }
        return JSONResponse(body, 200 if reason is None else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        state: ServerState = request.app.state.hone
        state.metrics.queue_depth.set(state.scheduler.waiting)
        cache = state.pool.cache
        if cache is not None:
            state.metrics.prefix_bytes.set(cache.bytes)
        body, content_type = state.metrics.render()
        return Response(body, media_type=content_type)

    @app.post("/v1/adapters")
    async def load_adapter(body: AdapterRequest, request: Request) -> dict[str, Any]:
        state: ServerState = request.app.state.hone
        root = state.config.adapter_root
        if root is None:
            raise APIError(
                403,
                "runtime adapter loading is off; start the server with --adapter-root DIR",
                code="adapters_disabled",
            )
        served = await state.run(lambda: state.pool.load_adapter(Path(root), body.name, body.path))
        state.metrics.adapters.set(len(state.pool.models))
        return {"id": served.name, "object": "model", "loaded": True, "parent": state.pool.parent(served)}

    @app.delete("/v1/adapters/{name}")
    async def unload_adapter(name: str, request: Request) -> dict[str, Any]:
        state: ServerState = request.app.state.hone
        await state.run(lambda: state.pool.unload(name))
        state.metrics.adapters.set(len(state.pool.models))
        return {"id": name, "object": "model", "deleted": True}


def _errors(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status, headers=exc.headers)

    @app.exception_handler(Overloaded)
    async def overloaded(request: Request, exc: Overloaded) -> JSONResponse:
        message = f"The server is busy ({exc}); retry shortly."
        return JSONResponse(error_body(429, message, code="overloaded"), 429, headers={"Retry-After": "1"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return JSONResponse(error_body(400, message, code="invalid_request", param=where or None), 400)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(error_body(exc.status_code, str(exc.detail)), exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s", request.url.path)
        return JSONResponse(error_body(500, "internal error; see the server log", code="server_error"), 500)
