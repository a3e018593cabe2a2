"""Prometheus metrics of both processes of a server, each set in its own registry, so several apps can share a
process and the two halves' expositions can be joined into one `/metrics` body.

Contracts:

- `HttpMetrics` (the HTTP process: requests, latency, refusals, connections) and `WorkerMetrics` (the worker:
  queue, batches, tokens, prefix cache, adapters) each own a fresh `CollectorRegistry`, with no metric name in
  common; nothing is registered in prometheus_client's global one.
- `render()` returns the exposition body and its content type, ready for a `/metrics` route.
- `HttpMetrics.observe(route, status, seconds)` counts one finished request and its latency.
- `MetricsMiddleware` times every http request until the app returns (for a stream: until the last
  chunk), tracks in-flight requests, and labels it with `route_of(scope)`, read after the app ran. The
  default, `route_label`, is the matched route's path template (`/v1/models/{model}`) or "other", so a
  client can never grow the label set by inventing paths.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
UNMATCHED = "other"


class _Registry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition of this registry, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class HttpMetrics(_Registry):
    """What the HTTP process sees: requests, their latency and refusals, connections, the worker's restarts."""

    def __init__(self) -> None:
        super().__init__()
        registry = self.registry
        self.requests = Counter("hone_requests_total", "HTTP requests answered", ["route", "status"], registry=registry)
        self.latency = Histogram(
            "hone_request_seconds",
            "Time to answer an HTTP request",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.inflight = Gauge("hone_inflight_requests", "HTTP requests being answered", registry=registry)
        self.rejected = Counter("hone_rejected_total", "Requests refused, by reason", ["reason"], registry=registry)
        self.connections = Gauge("hone_open_connections", "Client TCP connections open", registry=registry)
        self.closed = Counter(
            "hone_connections_closed_total", "Connections the server closed, by reason", ["reason"], registry=registry
        )
        self.restarts = Counter("hone_worker_restarts_total", "Times the model worker was restarted", registry=registry)

    def observe(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request on `route` with `status`, taking `seconds`."""
        self.requests.labels(route=route, status=str(status)).inc()
        self.latency.labels(route=route).observe(seconds)


class WorkerMetrics(_Registry):
    """What the model worker sees: its queue, batches, generated tokens, the prefix cache and adapters."""

    def __init__(self) -> None:
        super().__init__()
        registry = self.registry
        self.queue_depth = Gauge("hone_queue_depth", "Requests waiting for the engine", registry=registry)
        self.batch_size = Histogram(
            "hone_batch_size", "Requests per engine batch", ["kind"], buckets=BATCH_BUCKETS, registry=registry
        )
        self.tokens = Counter("hone_generated_tokens_total", "Tokens generated", ["model"], registry=registry)
        self.tokens_per_second = Gauge(
            "hone_decode_tokens_per_second", "Decode throughput of the latest batch", registry=registry
        )
        self.prompt_tokens = Counter("hone_prompt_tokens_total", "Prompt tokens processed", registry=registry)
        self.prefix_hits = Counter("hone_prefix_cache_hits_total", "Prefix-cache hits", registry=registry)
        self.prefix_misses = Counter("hone_prefix_cache_misses_total", "Prefix-cache misses", registry=registry)
        self.prefix_bytes = Gauge("hone_prefix_cache_bytes", "Bytes held by the prefix cache", registry=registry)
        self.rejected = Counter(
            "hone_queue_rejected_total", "Requests the worker's queue refused", ["reason"], registry=registry
        )
        self.adapters = Gauge("hone_adapters_loaded", "Adapters currently loaded", registry=registry)


def route_label(scope: Scope) -> str:
    """The path template of the route that answered (set by Starlette's router), else "other"."""
    path = getattr(scope.get("route"), "path", None)
    return path if isinstance(path, str) and path else UNMATCHED


class MetricsMiddleware:
    """Time each http request and count it by route template and status; other scopes pass through."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics, route_of: Callable[[Scope], str] = route_label) -> None:
        self.app = app
        self.metrics = metrics
        self.route_of = route_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500  # what the client sees when the app raises before it answers

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = time.perf_counter()
        self.metrics.inflight.inc()
        try:
            await self.app(scope, receive, send_and_record)
        finally:
            self.metrics.inflight.dec()
            self.metrics.observe(self.route_of(scope), status, time.perf_counter() - start)
