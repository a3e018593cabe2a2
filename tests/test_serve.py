"""The server in-process: every route, mixed-adapter batching, streaming, extraction, limits and overload."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from starlette.testclient import TestClient

from hone.api import Run
from hone.serve.app import create_app
from hone.serve.config import ServeConfig

KEY = "test-key"
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def make_client(runs: dict[str, Path], **settings: Any) -> TestClient:
    config = ServeConfig(runs=[str(p) for p in runs.values()], **{"worker": "thread", **settings})
    app = create_app(config, keys=[KEY])
    return TestClient(app, headers=AUTH, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def client(serve_runs: dict[str, Path]) -> Iterator[TestClient]:
    with make_client(serve_runs) as c:
        assert c.app.state.hone.loaded.wait(120)
        yield c


def chat(client: TestClient, model: str, text: str, **extra: Any) -> Any:
    body = {"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": 8, "temperature": 0}
    return client.post("/v1/chat/completions", json={**body, **extra})


def answer(response: Any) -> str:
    assert response.status_code == 200, response.text
    return response.json()["choices"][0]["message"]["content"]


def pool(client: TestClient) -> Any:
    """The models of the app's worker (a thread of this process in these tests)."""
    return client.app.state.hone.link.in_process.state.pool


def metric(client: TestClient, name: str) -> float:
    lines = client.get("/metrics").text.splitlines()
    return sum(float(line.split()[-1]) for line in lines if line.startswith(name))


# --- models and routing -------------------------------------------------------------------------------------


def test_models_lists_the_base_once_and_every_run_with_its_task(client: TestClient) -> None:
    data = {m["id"]: m for m in client.get("/v1/models").json()["data"]}
    assert set(data) == {"base", "alpha", "beta", "attrs", "topics", "things", "vectors", "ranker"}
    assert data["base"]["task"] == "base" and data["base"]["parent"] is None
    assert {data[n]["parent"] for n in ("alpha", "beta", "attrs")} == {"base"}
    assert data["topics"]["task"] == "classify" and data["vectors"]["task"] == "embed"
    engines = {id(s.engine) for s in pool(client).models.values() if s.engine is not None}
    assert len(engines) == 1, "every adapter must sit on one copy of the base"


def test_each_adapter_answers_like_the_run_itself(client: TestClient, serve_runs: dict[str, Path]) -> None:
    answers = {}
    for name in ("alpha", "beta"):
        run = Run(serve_runs[name])
        [expected], _ = run.predictor().predict([[{"role": "user", "content": "say red 3"}]])
        answers[name] = answer(chat(client, name, "say red 3"))
        assert answers[name].strip() == expected.strip()
    assert answers["alpha"] != answers["beta"], "two trained adapters must not give the same answer"


def test_mixed_adapter_batches_give_the_same_answers_as_each_request_alone(client: TestClient) -> None:
    requests = [
        (m, f"say {w} {i}")
        for i, (m, w) in enumerate(zip(["alpha", "beta", "base"] * 8, "red blue cat sun".split() * 6, strict=True))
    ]
    alone = [answer(chat(client, m, t)) for m, t in requests]
    decode_batches = (
        metric(client, 'hone_batch_size_sum{kind="decode"}'),
        metric(client, 'hone_batch_size_count{kind="decode"}'),
    )
    with ThreadPoolExecutor(len(requests)) as pool:
        together = list(pool.map(lambda r: answer(chat(client, *r)), requests))
    assert together == alone
    rows = metric(client, 'hone_batch_size_sum{kind="decode"}') - decode_batches[0]
    steps = metric(client, 'hone_batch_size_count{kind="decode"}') - decode_batches[1]
    assert rows / steps > 2, "concurrent requests were not decoded together"


def test_wrong_route_for_a_model_and_unknown_model_are_openai_errors(client: TestClient) -> None:
    r = chat(client, "topics", "hello")
    assert r.status_code == 400 and r.json()["error"]["code"] == "wrong_model_kind"
    r = chat(client, "nope", "hello")
    assert r.status_code == 404
    assert r.json()["error"] == {
        "message": r.json()["error"]["message"],
        "type": "not_found_error",
        "param": "model",
        "code": "model_not_found",
    }


# --- generation ---------------------------------------------------------------------------------------------


def _stream(client: TestClient, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    with client.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    return [json.loads(line.removeprefix("data: ")) for line in lines[:-1]]


def test_streaming_gives_the_same_text_as_one_response(client: TestClient) -> None:
    body = {"model": "beta", "messages": [{"role": "user", "content": "say sun 9"}], "max_tokens": 8, "temperature": 0}
    chunks = _stream(client, "/v1/chat/completions", {**body, "stream_options": {"include_usage": True}})
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == answer(client.post("/v1/chat/completions", json=body))
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 8


def test_completions_take_several_prompts_and_token_ids(client: TestClient) -> None:
    tokenizer = pool(client).get("alpha").tokenizer
    r = client.post(
        "/v1/completions", json={"model": "alpha", "prompt": ["say red", "say blue"], "max_tokens": 4, "temperature": 0}
    )
    texts = [c["text"] for c in r.json()["choices"]]
    ids = tokenizer("say red")["input_ids"]
    again = client.post("/v1/completions", json={"model": "alpha", "prompt": ids, "max_tokens": 4, "temperature": 0})
    assert again.json()["choices"][0]["text"] == texts[0]
    assert r.json()["usage"]["completion_tokens"] == 8


def test_stop_strings_cut_the_answer_and_finish_with_stop(client: TestClient) -> None:
    full = answer(chat(client, "alpha", "say dog 4", max_tokens=12))
    stop = full.strip().split()[1] if len(full.split()) > 1 else full.strip()[1:3]
    cut = chat(client, "alpha", "say dog 4", max_tokens=12, stop=[stop]).json()["choices"][0]
    assert cut["finish_reason"] == "stop" and stop not in cut["message"]["content"]
    assert full.startswith(cut["message"]["content"])


def test_sampling_with_a_seed_repeats_and_n_gives_several_choices(client: TestClient) -> None:
    body = {"temperature": 1.5, "seed": 7, "n": 3, "max_tokens": 6}
    first = chat(client, "base", "hello there", **body).json()["choices"]
    second = chat(client, "base", "hello there", **body).json()["choices"]
    assert [c["message"]["content"] for c in first] == [c["message"]["content"] for c in second]
    assert len(first) == 3 and len({c["message"]["content"] for c in first}) > 1


def test_shared_prompts_reuse_the_prefix_cache(client: TestClient) -> None:
    system = {"role": "system", "content": "You are terse. " * 6}
    body = {"model": "alpha", "max_tokens": 2, "temperature": 0}
    client.post("/v1/chat/completions", json={**body, "messages": [system, {"role": "user", "content": "say red"}]})
    r = client.post("/v1/chat/completions", json={**body, "messages": [system, {"role": "user", "content": "say sun"}]})
    assert r.json()["usage"]["prompt_tokens_details"]["cached_tokens"] >= 20
    assert metric(client, "hone_prefix_cache_hits_total") >= 1


# --- extraction ---------------------------------------------------------------------------------------------


def test_extract_always_returns_the_requested_fields_as_json(client: TestClient) -> None:
    texts = ["colour red . size m . cat", "nothing here at all", "size s ." * 5]
    r = client.post("/v1/extract", json={"model": "attrs", "input": texts})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert all(d["valid"] and set(d["object"]) == {"colour", "size"} for d in data)
    assert all(d["object"]["colour"] in ("red", "blue", None) for d in data)
    schema = {"type": "object", "properties": {"colour": {"enum": ["red", "green"]}, "count": {"type": "integer"}}}
    r = client.post("/v1/extract", json={"model": "attrs", "input": texts[0], "schema": schema})
    [d] = r.json()["data"]
    assert d["valid"] and set(d["object"]) == {"colour", "count"} and d["object"]["colour"] in ("red", "green", None)
    assert d["object"]["count"] is None or isinstance(d["object"]["count"], int)


def test_extract_matches_the_run_predictor(client: TestClient, serve_runs: dict[str, Path]) -> None:
    text = "size m . colour blue . dog"
    [expected], _ = Run(serve_runs["attrs"]).predictor().predict([text])
    [d] = client.post("/v1/extract", json={"model": "attrs", "input": text}).json()["data"]
    assert d["object"] == dict(expected)


def test_extract_refuses_a_budget_too_small_for_the_object(client: TestClient) -> None:
    r = client.post("/v1/extract", json={"model": "attrs", "input": "x", "max_tokens": 2})
    assert r.status_code == 400 and "max_tokens" in r.json()["error"]["message"]


# --- encoder tasks ------------------------------------------------------------------------------------------


def test_classify_ner_and_rerank_answer_like_the_runs(client: TestClient, serve_runs: dict[str, Path]) -> None:
    texts = ["invoice card money", "password reset login"]
    data = client.post("/v1/classify", json={"model": "topics", "input": texts}).json()["data"]
    expected = Run(serve_runs["topics"]).predict(texts)
    assert [d["label"] for d in data] == [e["label"] for e in expected]
    ner = client.post("/v1/ner", json={"model": "things", "input": "the cat is late"}).json()["data"][0]
    assert all("the cat is late"[e["start"] : e["end"]] == e["text"] for e in ner["entities"])
    docs = ["red case 1", "blue thing", "sun case 9"]
    results = client.post(
        "/v1/rerank", json={"model": "ranker", "query": "red 1", "documents": docs, "top_n": 2}
    ).json()
    scores = [r["relevance_score"] for r in results["results"]]
    assert len(scores) == 2 and scores == sorted(scores, reverse=True)


def test_embeddings_match_the_run_in_float_and_base64(client: TestClient, serve_runs: dict[str, Path]) -> None:
    texts = ["red case 1", "the moon"]
    floats = client.post("/v1/embeddings", json={"model": "vectors", "input": texts}).json()
    packed = client.post("/v1/embeddings", json={"model": "vectors", "input": texts, "encoding_format": "base64"})
    loaded = Run(serve_runs["vectors"]).predictor().loaded
    expected = loaded.task.vectors(loaded.model, loaded.tokenizer, texts, 8)
    for i, item in enumerate(packed.json()["data"]):
        vector = np.frombuffer(base64.b64decode(item["embedding"]), dtype="<f4")
        np.testing.assert_allclose(vector, floats["data"][i]["embedding"], rtol=1e-6)
        assert float(np.dot(vector, expected[i])) > 0.999
    assert floats["usage"]["prompt_tokens"] > 0


# --- limits and errors --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 99}, "n"),
        ({"max_tokens": 10_000}, "max_tokens"),
        ({"messages": [{"role": "user", "content": "word " * 3000}]}, "messages"),
        ({"messages": [{"role": "wizard", "content": "x"}]}, "messages.0.role"),
        ({"logprobs": True}, "logprobs"),
        ({"temperature": 9}, "temperature"),
        ({"stop": ["x" * 100]}, "stop"),
    ],
)
def test_bad_requests_get_400_in_openai_format(client: TestClient, body: dict[str, Any], param: str) -> None:
    base = {"model": "alpha", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}
    r = client.post("/v1/chat/completions", json={**base, **body})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["param"] == param and error["type"] == "invalid_request_error" and len(r.content) < 1000


def test_malformed_json_and_huge_bodies_are_4xx(client: TestClient) -> None:
    r = client.post("/v1/chat/completions", content=b'{"model": ', headers={"content-type": "application/json"})
    assert r.status_code == 400 and "error" in r.json()
    r = client.post("/v1/embeddings", json={"model": "vectors", "input": ["x" * 1000] * 1200})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"
    r = client.post("/v1/classify", json={"model": "topics", "input": ["x"] * 300})
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_inputs"


def test_every_route_but_health_needs_the_key(client: TestClient) -> None:
    bare = TestClient(client.app)
    assert bare.get("/health").status_code == 200
    paths = client.app.openapi()["paths"]
    routes = [(m.upper(), p) for p, ops in paths.items() for m in ops if p != "/health"] + [("GET", "/openapi.json")]
    assert len(routes) == 13  # models, chat, completions, embeddings, 4 task routes, adapters x2, ready, metrics, spec
    for method, path in routes:
        for verb in (method, "HEAD", "OPTIONS"):
            assert bare.request(verb, path.replace("{name}", "alpha"), json={}).status_code == 401, (verb, path)
        r = bare.request(method, path.replace("{name}", "alpha"), json={}, headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401, (method, path)


# --- load ---------------------------------------------------------------------------------------------------


def test_overload_answers_every_request_with_success_or_fast_429(serve_runs: dict[str, Path]) -> None:
    runs = {k: serve_runs[k] for k in ("alpha", "topics")}
    with make_client(runs, max_queue=3, max_batch=2) as c:
        assert c.app.state.hone.loaded.wait(120)

        def one(i: int) -> tuple[int, float, str | None]:
            start = time.perf_counter()
            r = chat(c, "alpha", f"say red {i}", max_tokens=24)
            return r.status_code, time.perf_counter() - start, r.headers.get("retry-after")

        with ThreadPoolExecutor(24) as pool:
            results = list(pool.map(one, range(48)))
    codes = [code for code, _, _ in results]
    assert set(codes) <= {200, 429} and codes.count(200) >= 3 and codes.count(429) >= 1
    rejected = [(seconds, retry) for code, seconds, retry in results if code == 429]
    assert all(retry == "1" for _, retry in rejected)
    assert np.median([s for s, _ in rejected]) < 0.5


def test_ready_is_false_and_routes_503_while_models_load(serve_runs: dict[str, Path], monkeypatch) -> None:
    from hone.serve.pool import ModelPool

    gate = threading.Event()
    original = ModelPool.load_run

    def slow(self: ModelPool, path: Path, name: str | None = None) -> Any:
        gate.wait(30)
        return original(self, path, name)

    monkeypatch.setattr(ModelPool, "load_run", slow)
    with make_client({"topics": serve_runs["topics"]}) as c:
        assert c.get("/ready").status_code == 503
        r = c.post("/v1/classify", json={"model": "topics", "input": "x"})
        assert r.status_code == 503 and r.headers["retry-after"]
        assert c.get("/health").status_code == 200
        gate.set()
        assert c.app.state.hone.loaded.wait(60)
        assert c.get("/ready").json()["ready"] is True
        assert c.post("/v1/classify", json={"model": "topics", "input": "x"}).status_code == 200


# --- the command --------------------------------------------------------------------------------------------


def test_serve_command_refuses_to_start_without_keys_runs_or_vllm(serve_runs: dict[str, Path], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from hone.cli import app

    runner = CliRunner()
    no_key = runner.invoke(app, ["serve", str(serve_runs["alpha"])], env={"HONE_API_KEY": ""})
    assert no_key.exit_code == 2 and "--api-key" in no_key.output
    not_a_run = runner.invoke(app, ["serve", str(tmp_path), "--api-key", "k"])
    assert not_a_run.exit_code == 1 and "model/hone.json" in not_a_run.output
    vllm = runner.invoke(app, ["serve", str(serve_runs["alpha"]), "--api-key", "k", "--backend", "vllm"])
    assert vllm.exit_code == 2 and "vllm" in vllm.output.lower()
    (tmp_path / "serve.yaml").write_text("runs: [x]\nmax_batch: 0\n")
    bad_config = runner.invoke(app, ["serve", "--config", str(tmp_path / "serve.yaml"), "--api-key", "k"])
    assert bad_config.exit_code != 0 and "max_batch" in bad_config.output
