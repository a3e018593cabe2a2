"""Schema fuzzing (schemathesis) of every operation in the server's own OpenAPI spec, in-process over ASGI.

Contract under test: whatever a client sends, the server never answers 5xx, and every error it gives is
OpenAI's error body `{"error": {"message", "type", "param", "code"}}`. Without a key every route but
`GET /health` is a 401 in that format.

Cases come from the app's `/openapi.json`: schemathesis's fuzzing phase (positive and negative generation,
`EXAMPLES` per operation) and its coverage phase (boundary values, wrong types, missing fields, unexpected
methods: a fixed few hundred cases). A hook (`before_generate_case`)
makes the fuzzing reach past the model lookup: most cases get a `model` served on that route (or one of
the wrong kind), generation budgets within the limits, and real adapter names and paths (`STEER`); the
rest keep the arbitrary values the schema allows. Limits are set low (`LIMITS`), so a fuzzed request costs
at most a few dozen decode steps of a tiny model. The 5xx the fuzzing found are pinned as plain tests.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import torch
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.transport import Response as FuzzResponse
from starlette.testclient import TestClient
from starlette.types import Receive, Scope, Send

from hone.serve.app import create_app
from hone.serve.config import ServeConfig, ServeLimits
from scorecard import record

KEY = "fuzz-key"  # an operator key: every route, the adapter routes included, is reachable with it
AUTH = {"Authorization": f"Bearer {KEY}"}
# fuzzed cases per operation with the key (operations without inputs stop at 1) and without it (answered by
# the auth middleware); HONE_FUZZ_EXAMPLES / HONE_FUZZ_SEED run a longer or different search
EXAMPLES = int(os.environ.get("HONE_FUZZ_EXAMPLES", "100"))
EXAMPLES_NO_KEY = 15
LIMITS = ServeLimits(max_body_bytes=16_384, max_prompt_tokens=128, max_tokens=24, max_n=2, max_inputs=4)
MODELS = {  # the right models for each route, and one of the wrong kind
    "/v1/chat/completions": ["alpha", "beta", "base", "topics"],
    "/v1/completions": ["alpha", "attrs", "base", "vectors"],
    "/v1/embeddings": ["vectors", "alpha"],
    "/v1/classify": ["topics", "things"],
    "/v1/ner": ["things", "topics"],
    "/v1/rerank": ["ranker", "vectors"],
    "/v1/extract": ["attrs", "alpha"],
}
# generation budgets inside and at the server's limits, so fuzzed sampling options reach the decoder
BUDGET = {"max_tokens": [1, 4, LIMITS.max_tokens], "n": [1, LIMITS.max_n]}
STEER: dict[str, dict[str, list[Any]]] = {path: {"model": names} for path, names in MODELS.items()}
for _path in ("/v1/chat/completions", "/v1/completions"):
    STEER[_path].update(BUDGET)
STEER["/v1/extract"]["max_tokens"] = [LIMITS.max_tokens]
# runtime loads: real run directories (LoRA adapters, an encoder run, a missing one), and names to unload
STEER["/v1/adapters"] = {
    "name": ["spare-2", "alpha", "x" * 65],
    "path": ["alpha", "beta", "topics", "missing", "alpha/model"],
}
UNLOAD_NAMES = ["spare", "base", "topics", "nope"]
SETTINGS = {
    "seed": int(os.environ.get("HONE_FUZZ_SEED", "20240611")),
    "generation": {"mode": "all", "database": "none"},
    # examples (none in the spec), fuzzing (bounded by EXAMPLES) and coverage: schemathesis's boundary values,
    # wrong types, missing fields and unexpected methods, a fixed set of a few hundred cases in all
    "phases": {"stateful": {"enabled": False}},
}
ERROR_KEYS = {"message", "type", "param", "code"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class _NoLifespan:
    """The app for schemathesis's client, minus the lifespan: the fixture below owns it (loads once, stops once)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":  # returning at once tells the client there is no lifespan to run
            await self.app(scope, receive, send)


def serve_config(runs: list[Path], **settings: Any) -> ServeConfig:
    """A server over `runs` with the low `LIMITS`."""
    # the fuzzing loads adapters hundreds of times a minute, on purpose: no rate limit here
    return ServeConfig(
        runs=[str(p) for p in runs],
        max_batch=4,
        prefix_cache_mb=4,
        limits=LIMITS,
        worker="thread",
        adapter_loads_per_minute=100_000,
        **settings,
    )


@contextmanager
def running(config: ServeConfig) -> Iterator[Any]:
    """The app for `config`, its lifespan running (compute thread started, models loaded) until the block ends."""
    app = create_app(config, keys=["fuzz-client-key"], admin_keys=[KEY])
    with TestClient(app) as client:
        assert app.state.hone.loaded.wait(120) and app.state.hone.failure is None
        yield app, client


@pytest.fixture(scope="module")
def fuzz_app(serve_runs: dict[str, Path]) -> Iterator[Any]:
    """Every tiny run, runtime adapter loads from the runs' folder, and one loaded adapter ("spare") to unload."""
    with running(serve_config(list(serve_runs.values()), adapter_root=serve_runs["alpha"].parent)) as (app, client):
        loaded = client.post("/v1/adapters", json={"name": "spare", "path": "beta"}, headers=AUTH)
        assert loaded.status_code == 200, loaded.text
        yield app


def steered(operation: Any, case: Any, pick: Callable[[list[Any]], Any]) -> Any:
    """`case`, where `pick` (a draw) may replace its `model`, adapter `name`/`path` or unload name by a real one."""
    if isinstance(case.body, dict):
        for field, names in STEER.get(operation.path, {}).items():
            choice = pick(names)
            if choice is not None:
                case.body[field] = choice
    if operation.path == "/v1/adapters/{name}":
        choice = pick(UNLOAD_NAMES)
        if choice is not None:
            case.path_parameters = {"name": choice}
    return case


def before_generate_case(context: Any, strategy: st.SearchStrategy) -> st.SearchStrategy:
    """Schemathesis hook: each field in `STEER` (and the unload name) mostly gets one of its real values."""
    return _steered(strategy, context.operation)


@st.composite
def _steered(draw: Any, strategy: st.SearchStrategy, operation: Any) -> Any:
    return steered(operation, draw(strategy), lambda names: draw(_maybe(names)))


def _maybe(values: list[Any]) -> st.SearchStrategy:
    return st.sampled_from([*values, None])  # None: keep the generated value


@pytest.fixture(scope="module")
def api_schema(fuzz_app: Any) -> Any:
    config = schemathesis.Config.from_dict(SETTINGS)
    schema = schemathesis.openapi.from_dict(fuzz_app.openapi(), config=config)
    schema.hook(before_generate_case)
    schema.app = _NoLifespan(fuzz_app)  # requests go in-process through schemathesis's ASGI transport
    return schema


# --- what the fuzzing found, pinned -------------------------------------------------------------------------
# (before the fuzzing: item 11's figure is recorded when the module's last test, a fuzzing one, ends)


@pytest.fixture(scope="module")
def chat_client(serve_runs: dict[str, Path]) -> Iterator[TestClient]:
    """A server of its own (the fuzzing may unload any model it learns the name of)."""
    with running(serve_config([serve_runs["alpha"]])) as (_, client):
        client.headers.update(AUTH)
        yield client


@pytest.mark.parametrize(
    "sampling",
    [
        {"temperature": 5e-324},  # divided the logits into inf/nan: 500 "probability tensor contains nan"
        {"temperature": 1e-39, "seed": 3},
        {"temperature": 1.0, "top_p": 5e-324},  # 0 in float32: top-p kept no token at all
        {"temperature": 0.7, "top_p": 1e-30, "seed": 2**70},  # past torch.Generator's seed range
        {"temperature": 0.7, "seed": -(2**70)},
    ],
)
def test_extreme_sampling_values_are_answered_like_greedy_or_sampled(
    chat_client: TestClient, sampling: dict[str, Any]
) -> None:
    client = chat_client
    body = {"model": "alpha", "messages": [{"role": "user", "content": "say red 3"}], "max_tokens": 6}
    greedy = client.post("/v1/chat/completions", json={**body, "temperature": 0})
    r = client.post("/v1/chat/completions", json={**body, **sampling})
    assert r.status_code == 200, r.text
    choice = r.json()["choices"][0]
    if sampling.get("temperature", 1.0) < 1e-30 or sampling.get("top_p", 1.0) < 1e-20:
        assert choice["message"]["content"] == greedy.json()["choices"][0]["message"]["content"]
    assert choice["finish_reason"] in ("stop", "length")


# --- the fuzzing ----------------------------------------------------------------------------------------------

schema = schemathesis.pytest.from_fixture("api_schema")
SEEN: dict[str, dict[str, Counter]] = {"key": defaultdict(Counter), "no key": defaultdict(Counter)}


def openai_error_format(ctx: Any, response: FuzzResponse, case: Any) -> bool | None:
    """Every 4xx/5xx body is OpenAI's error object: message and type strings, param and code present."""
    if response.status_code < 400:
        return None
    try:
        error = json.loads(response.content)["error"]
    except (ValueError, KeyError, TypeError) as exc:
        raise AssertionError(f"{response.status_code} body is not an OpenAI error: {response.content[:200]!r}") from exc
    assert isinstance(error, dict) and ERROR_KEYS <= set(error), f"error keys {sorted(error)}"
    assert isinstance(error["message"], str) and isinstance(error["type"], str), error
    return None


ANSWERED_AT: dict[str, float] = {}  # when the first and the latest fuzzed request were answered


def _answered(auth: str, case: Any, response: FuzzResponse) -> None:
    SEEN[auth][case.operation.label][response.status_code] += 1
    now = time.perf_counter()
    ANSWERED_AT.setdefault("first", now)
    ANSWERED_AT["last"] = now


FUZZ_TESTS = {  # each fuzzing test, and the key its requests are counted under
    "test_fuzzed_requests_with_the_key_never_get_5xx_and_errors_are_openai_format": "key",
    "test_fuzzed_requests_without_a_key_are_401_in_openai_format": "no key",
}


@pytest.fixture(autouse=True, scope="module")
def figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the module: print the answers per operation and record the totals (scorecard item 11).

    A fuzzing test that ran but sent no request (schemathesis could not start, say) fails the module here:
    a scorecard line of "0 requests" would read as a pass.
    """
    yield
    for auth, operations in SEEN.items():
        for label, counts in sorted(operations.items()):
            print(f"{auth}: {label}: {sum(counts.values())} cases, {dict(sorted(counts.items()))}")
    ran = {FUZZ_TESTS[item.originalname] for item in request.session.items if item.originalname in FUZZ_TESTS}
    silent = sorted(auth for auth in ran if not SEEN[auth])
    if silent:
        pytest.fail(f"the fuzzing made no request ({', '.join(silent)}): see the fuzzing test's own failure")
    if not ran:
        return
    per_operation = {auth: [sum(c.values()) for c in ops.values()] or [0] for auth, ops in SEEN.items()}
    statuses = Counter()
    for operations in SEEN.values():
        for counts in operations.values():
            statuses.update(counts)
    server_errors = sum(n for status, n in statuses.items() if status >= 500)
    took = ANSWERED_AT.get("last", 0.0) - ANSWERED_AT.get("first", 0.0)
    record(
        11,
        f"schemathesis {schemathesis.SCHEMATHESIS_VERSION}: {sum(statuses.values())} requests over "
        f"{len(SEEN['key'])} operations (with key {min(per_operation['key'])}-{max(per_operation['key'])} per "
        f"operation, without {min(per_operation['no key'])}-{max(per_operation['no key'])}): {server_errors} 5xx; "
        f"answers {dict(sorted(statuses.items()))}; fuzzing took {took:.0f} s",
    )


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_fuzzed_requests_with_the_key_never_get_5xx_and_errors_are_openai_format(case: Any) -> None:
    response = case.call(headers=AUTH)
    _answered("key", case, response)
    case.validate_response(response, checks=[not_a_server_error, openai_error_format])


@settings(max_examples=EXAMPLES_NO_KEY, deadline=None, suppress_health_check=list(HealthCheck))
@schema.parametrize()
def test_fuzzed_requests_without_a_key_are_401_in_openai_format(case: Any) -> None:
    response = case.call()
    _answered("no key", case, response)
    open_route = case.operation.path == "/health" and case.method.upper() in ("GET", "HEAD")
    assert response.status_code == (200 if open_route else 401), (case.operation.label, response.status_code)
    case.validate_response(response, checks=[not_a_server_error, openai_error_format])
