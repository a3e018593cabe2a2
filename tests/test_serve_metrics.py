"""`hone.serve.metrics`: per-instance registries (one per process of a server, joined in /metrics), route-template
labels and the timing middleware."""

from __future__ import annotations

import prometheus_client
import pytest
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from hone.serve.metrics import LATENCY_BUCKETS, HttpMetrics, MetricsMiddleware, WorkerMetrics

HTTP_NAMES = {
    "hone_requests",
    "hone_request_seconds",
    "hone_inflight_requests",
    "hone_rejected",
    "hone_open_connections",
    "hone_connections_closed",
    "hone_worker_restarts",
}
WORKER_NAMES = {
    "hone_queue_depth",
    "hone_batch_size",
    "hone_generated_tokens",
    "hone_decode_tokens_per_second",
    "hone_prompt_tokens",
    "hone_prefix_cache_hits",
    "hone_prefix_cache_misses",
    "hone_prefix_cache_bytes",
    "hone_queue_rejected",
    "hone_adapters_loaded",
}


def build_app() -> FastAPI:
    app = FastAPI()

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models/{model}")
    def model(model: str) -> dict[str, str]:
        return {"id": model}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return app


def samples(metrics: HttpMetrics | WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    found = {}
    for family in text_string_to_metric_families(body.decode()):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.fixture
def served() -> HttpMetrics:
    metrics = HttpMetrics()
    client = TestClient(MetricsMiddleware(build_app(), metrics), raise_server_exceptions=False)
    for path in ["/health", "/health", "/v1/models/a", "/v1/models/b", "/nope", "/no/such/path", "/boom"]:
        client.get(path)
    return metrics


def test_requests_are_counted_by_route_template_and_status(served: HttpMetrics) -> None:
    found = samples(served)
    count = {labels: v for (name, labels), v in found.items() if name == "hone_requests_total"}
    assert count == {
        (("route", "/health"), ("status", "200")): 2,
        (("route", "/v1/models/{model}"), ("status", "200")): 2,
        (("route", "other"), ("status", "404")): 2,
        (("route", "/boom"), ("status", "500")): 1,
    }
    body = served.render()[0].decode()
    assert "/v1/models/a" not in body and "/no/such/path" not in body  # raw paths never become labels


def test_latency_histogram_has_buckets_per_route(served: HttpMetrics) -> None:
    found = samples(served)
    buckets = {dict(labels)["le"] for (name, labels), _ in found.items() if name == "hone_request_seconds_bucket"}
    assert {float(b) for b in buckets} == {*LATENCY_BUCKETS, float("inf")}
    assert found["hone_request_seconds_count", (("route", "/health"),)] == 2
    assert found["hone_request_seconds_bucket", (("le", "+Inf"), ("route", "/health"))] == 2
    assert found["hone_request_seconds_sum", (("route", "/health"),)] > 0
    assert found["hone_inflight_requests", ()] == 0


def test_render_exposes_every_metric_and_the_two_processes_share_no_name(served: HttpMetrics) -> None:
    body, content_type = served.render()
    worker = WorkerMetrics().render()[0]
    assert content_type == prometheus_client.CONTENT_TYPE_LATEST
    assert content_type.startswith("text/plain")
    http = {f.name for f in text_string_to_metric_families(body.decode())}
    work = {f.name for f in text_string_to_metric_families(worker.decode())}
    assert HTTP_NAMES <= http and WORKER_NAMES <= work  # the parser also lists each counter's `_created` series
    assert not http & work  # /metrics joins both expositions: one name in both would be a broken exposition
    assert all(name.startswith("hone_") for name in http | work)
    joined = {f.name for f in text_string_to_metric_families((body + worker).decode())}
    assert joined == http | work


def test_engine_metrics_record() -> None:
    metrics = WorkerMetrics()
    metrics.batch_size.labels(kind="decode").observe(5)
    metrics.tokens.labels(model="tiny").inc(7)
    metrics.prefix_hits.inc()
    metrics.rejected.labels(reason="queue_full").inc()
    metrics.queue_depth.set(3)
    found = samples(metrics)
    assert found["hone_batch_size_bucket", (("kind", "decode"), ("le", "8.0"))] == 1
    assert found["hone_batch_size_bucket", (("kind", "decode"), ("le", "4.0"))] == 0
    assert found["hone_generated_tokens_total", (("model", "tiny"),)] == 7
    assert found["hone_prefix_cache_hits_total", ()] == 1
    assert found["hone_queue_rejected_total", (("reason", "queue_full"),)] == 1
    assert found["hone_queue_depth", ()] == 3


def test_instances_do_not_clash_nor_touch_the_global_registry() -> None:
    first, second = HttpMetrics(), HttpMetrics()
    first.observe("/health", 200, 0.01)
    assert samples(first)["hone_requests_total", (("route", "/health"), ("status", "200"))] == 1
    assert ("hone_requests_total", (("route", "/health"), ("status", "200"))) not in samples(second)
    assert prometheus_client.REGISTRY.get_sample_value("hone_requests_total", {"route": "/health"}) is None
    assert b"hone_" not in prometheus_client.generate_latest(prometheus_client.REGISTRY)


def test_custom_route_of_and_passthrough_of_lifespan() -> None:
    metrics = HttpMetrics()
    app = MetricsMiddleware(build_app(), metrics, route_of=lambda scope: "fixed")
    with TestClient(app) as client:  # the lifespan goes through untouched and is not counted
        client.get("/v1/models/x")
    assert samples(metrics)["hone_requests_total", (("route", "fixed"), ("status", "200"))] == 1
    assert sum(v for (name, _), v in samples(metrics).items() if name == "hone_requests_total") == 1
