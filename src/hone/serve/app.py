"""The HTTP process's FastAPI app: `create_app(config, keys, admin_keys)` builds it.

This process never runs a model, a template or a tokenizer: it authenticates, applies the cheap limits
(connections, header/idle/body/send time, body bytes, message counts, well-formed text), parses, forwards each
request to the model worker (`hone.serve.link`, `hone.serve.worker`) and streams the answer back. So no request,
however large or slow, holds the event loop that answers everybody else, and refusing a request never takes
time from the models.

Middleware, outermost first: metrics (every request timed), the connection guard (busy/idle, slow readers),
API keys and roles (deny by default, `/health` open), the gate: 503 while the worker loads, restarts or has
failed and once draining began, and 429 at once when the server is full (`HttpState.full()`), before the
body is read; then the body limit. Routes live in `routes.py`. The worker starts in the lifespan.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from hone.serve.config import ServeConfig
from hone.serve.connections import ConnectionGuard, GuardMiddleware
from hone.serve.errors import APIError, error_body
from hone.serve.link import WorkerLink
from hone.serve.metrics import HttpMetrics, MetricsMiddleware
from hone.serve.security import AuthMiddleware, BodyLimitMiddleware

log = logging.getLogger("hone.serve")
PROBES = ("/health", "/ready", "/metrics")
OPERATOR_PREFIX = "/v1/adapters"  # an operator's loads and unloads are never shed


@dataclass
class HttpState:
    config: ServeConfig
    metrics: HttpMetrics
    link: WorkerLink = field(init=False)
    guard: ConnectionGuard | None = None  # sees every TCP connection when `hone.serve.server` runs the app
    operators: bool = False  # operator keys were given
    status: dict[str, Any] = field(default_factory=lambda: {"loaded": False, "failure": None, "models": []})
    loaded: threading.Event = field(default_factory=threading.Event)  # the worker's first status has come
    draining: bool = False
    inflight: int = 0
    adapter_changes: deque[float] = field(default_factory=deque)  # when recent loads and unloads began
    changing: bool = False  # an adapter load or unload is in progress

    def __post_init__(self) -> None:
        self.link = WorkerLink(self.config, self.on_status)

    @property
    def failure(self) -> str | None:
        return self.status.get("failure")

    def on_status(self, status: dict[str, Any]) -> None:
        if status.get("restarting"):
            self.metrics.restarts.inc()
        self.status = status
        if status.get("loaded"):
            self.loaded.set()
        else:
            self.loaded.clear()

    def models(self) -> dict[str, dict[str, Any]]:
        return {card["id"]: card for card in self.status.get("models", [])}

    def unavailable(self) -> str | None:
        """Why requests cannot be served now (loading, restarting, failed, draining), or None."""
        if self.draining:
            return "the server is shutting down; send the request to another replica"
        if self.status.get("restarting"):
            return "the model worker is restarting; retry shortly"
        if not self.loaded.is_set():
            return "the server is still loading its models; retry shortly"
        if self.failure is not None:
            return f"loading the models failed: {self.failure}"
        return None

    def admission_limit(self) -> int:
        """Most requests in flight at once: `max_queue` waiting plus a full batch running on each base model
        (at least one batch: encoder calls run one batch at a time on the compute thread)."""
        return self.config.max_queue + self.config.max_batch * max(1, int(self.status.get("engines", 0)))

    def full(self) -> bool:
        """Whether a new request would only be refused: `admission_limit()` requests are in flight (being read,
        validated, computed or answered). The worker refuses too when its own queue is full."""
        return self.inflight >= self.admission_limit()


def create_app(config: ServeConfig, keys: list[str] | None = None, admin_keys: list[str] | None = None) -> FastAPI:
    """The server for `config`. `keys`: client API keys (None: no authentication, only with `no_auth`);
    `admin_keys`: operator keys (adapter loads and unloads, /metrics), never accepted as client keys."""
    if keys is None and not config.no_auth:
        raise ValueError("no API key: pass --api-key (or set HONE_API_KEY), or --no-auth for local experiments")
    operators = list(dict.fromkeys([*(admin_keys or []), *config.admin_keys]))
    metrics = HttpMetrics()
    guard = ConnectionGuard(config.max_connections, config.idle_timeout_s, metrics, config.send_timeout_s)
    state = HttpState(config, metrics, guard=guard, operators=bool(operators))
    app = FastAPI(title="hone", version="1", lifespan=_lifespan, docs_url=None, redoc_url=None)
    app.state.hone = state
    _routes(app)
    _errors(app)
    app.add_middleware(BodyLimitMiddleware, max_bytes=config.limits.max_body_bytes, timeout_s=config.body_timeout_s)
    app.add_middleware(_Gate, state=state)  # outside the body limit: a refused request's body is never read
    app.add_middleware(AuthMiddleware, keys=None if config.no_auth else keys, admin_keys=operators)
    app.add_middleware(GuardMiddleware, guard=guard)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    state: HttpState = app.state.hone
    await state.link.start()
    try:
        yield
    finally:
        await state.link.stop()


class _Gate:
    """503 while models load, after loading failed, and once draining began; 429 when the server is full.

    A request that would be refused (`HttpState.full()`) is refused here, before routing and validation, with
    a response built once: under overload the event loop spends little on the excess and keeps serving the
    admitted (refused after validation, a request with many inputs cost as much as serving it).
    """

    def __init__(self, app: ASGIApp, state: HttpState) -> None:
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
    from hone.serve import routes

    app.include_router(routes.router)


def _errors(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return JSONResponse(exc.body(), exc.status, headers=exc.headers)

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
