"""Loading adapters at run time: only from the adapter root, only safetensors, never a 5xx, and no failed
request for other adapters while adapters come and go."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from hone.serve.app import create_app
from hone.serve.config import ServeConfig
from waiting import wait_until

KEY, ADMIN = "k", "operator-k"
OPENED: list[str] = []
WATCH: list[str] = []  # the audit hook records opens under these folders while non-empty


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if WATCH and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if any(path.startswith(w) for w in WATCH):
            OPENED.append(path)


sys.addaudithook(_audit)


class Planted:
    """A pickle that, if ever unpickled, leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (Path.write_text, (self.marker, "pwned"))


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory, serve_runs: dict[str, Path]) -> dict[str, Path]:
    top = tmp_path_factory.mktemp("adapters")
    root, outside = top / "root", top / "outside"
    root.mkdir()
    shutil.copytree(serve_runs["alpha"], outside / "secret-run")
    shutil.copytree(serve_runs["alpha"], root / "good")
    (root / "escape").symlink_to(outside / "secret-run")
    linked = root / "linked-weights" / "model"
    shutil.copytree(serve_runs["alpha"] / "model", linked)
    (linked / "adapter_model.safetensors").unlink()
    (linked / "adapter_model.safetensors").symlink_to(outside / "secret-run" / "model" / "adapter_model.safetensors")
    bad_json = root / "bad-json" / "model"
    shutil.copytree(serve_runs["alpha"] / "model", bad_json)
    (bad_json / "adapter_config.json").write_text("{not json")
    truncated = root / "truncated" / "model"
    shutil.copytree(serve_runs["alpha"] / "model", truncated)
    data = (truncated / "adapter_model.safetensors").read_bytes()
    (truncated / "adapter_model.safetensors").write_bytes(data[: len(data) // 3])
    pickled = root / "pickled" / "model"
    shutil.copytree(serve_runs["alpha"] / "model", pickled)
    (pickled / "adapter_model.bin").write_bytes(pickle.dumps(Planted(top / "pwned")))
    shapes = root / "wrong-shapes" / "model"
    shutil.copytree(serve_runs["alpha"] / "model", shapes)
    config = json.loads((shapes / "adapter_config.json").read_text())
    (shapes / "adapter_config.json").write_text(json.dumps({**config, "r": config["r"] * 2}))
    encoder = root / "encoder"
    shutil.copytree(serve_runs["topics"], encoder)
    return {"top": top, "root": root, "outside": outside}


def _config(serve_runs: dict[str, Path], **settings: Any) -> ServeConfig:
    # loads are rate-limited (10 a minute by default); these tests load far more, on purpose
    return ServeConfig(
        runs=[str(serve_runs["beta"])], worker="thread", **{"adapter_loads_per_minute": 10_000, **settings}
    )


@contextmanager
def _server(config: ServeConfig, key: str = ADMIN) -> Iterator[TestClient]:
    """The app with client key KEY and operator key ADMIN, called with `key`."""
    app = create_app(config, keys=[KEY], admin_keys=[ADMIN])
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.app.state.hone.loaded.wait(120)
        yield c


@pytest.fixture(scope="module")
def client(layout: dict[str, Path], serve_runs: dict[str, Path]) -> Iterator[TestClient]:
    """Called with the operator key."""
    with _server(_config(serve_runs, adapter_root=layout["root"])) as c:
        yield c


def _load(client: TestClient, name: str, path: str) -> Any:
    return client.post("/v1/adapters", json={"name": name, "path": path})


@pytest.mark.parametrize(
    ("name", "path", "code"),
    [
        ("ok", "../outside/secret-run", "invalid_path"),
        ("ok", "/etc", "invalid_path"),
        ("ok", "%2e%2e/outside/secret-run", "invalid_path"),
        ("ok", "..%2Foutside", "invalid_path"),
        ("ok", "good\\..\\..\\outside", "invalid_path"),
        ("ok", "good/../../outside/secret-run", "invalid_path"),
        ("ok", "escape", "path_outside_root"),
        ("ok", "linked-weights", "path_outside_root"),
        ("ok", "missing", "adapter_not_found"),
        ("../x", "good", "invalid_name"),
        ("a/b", "good", "invalid_name"),
        ("x" * 65, "good", "invalid_name"),
        ("ok", "bad-json", "bad_adapter"),
        ("ok", "truncated", "bad_adapter"),
        ("ok", "pickled", "pickle_refused"),
        ("ok", "wrong-shapes", "bad_adapter"),
        ("ok", "encoder", "unsupported_adapter"),
        ("beta", "good", "model_exists"),
    ],
)
def test_bad_adapter_loads_are_4xx_and_open_nothing_outside_the_root(
    client: TestClient, layout: dict[str, Path], name: str, path: str, code: str
) -> None:
    OPENED.clear()
    WATCH.append(str(layout["outside"]))
    try:
        r = _load(client, name, path)
    finally:
        WATCH.clear()
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code
    assert OPENED == [], f"opened outside the root: {OPENED}"
    assert not (layout["top"] / "pwned").exists(), "a pickle was executed"
    assert "ok" not in {m["id"] for m in client.get("/v1/models").json()["data"]}


def test_runtime_loads_need_an_adapter_root(serve_runs: dict[str, Path]) -> None:
    with _server(_config(serve_runs)) as c:
        r = _load(c, "good", "good")
        assert r.status_code == 403 and r.json()["error"]["code"] == "adapters_disabled"


def test_hot_loading_and_unloading_under_load_fails_no_other_request(client: TestClient) -> None:
    body = {"model": "beta", "messages": [{"role": "user", "content": "say moon 5"}], "max_tokens": 6, "temperature": 0}
    expected = client.post("/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"]
    stop = threading.Event()

    def churn() -> int:
        cycles = 0
        while not stop.is_set():
            assert _load(client, "hot", "good").status_code == 200
            assert client.delete("/v1/adapters/hot").status_code == 200
            cycles += 1
        return cycles

    with ThreadPoolExecutor(9) as pool:
        churner = pool.submit(churn)
        replies = list(pool.map(lambda _: client.post("/v1/chat/completions", json=body), range(40)))
        stop.set()
        assert churner.result() >= 2
    assert [r.status_code for r in replies] == [200] * 40
    assert {r.json()["choices"][0]["message"]["content"] for r in replies} == {expected}


def test_unloading_what_is_not_there_or_a_base_is_4xx(client: TestClient) -> None:
    assert client.delete("/v1/adapters/nothing").status_code == 404
    assert client.delete("/v1/adapters/base").status_code == 400


def _tokens(client: TestClient, model: str) -> float:
    lines = client.get("/metrics").text.splitlines()
    return sum(float(x.split()[-1]) for x in lines if x.startswith(f'hone_generated_tokens_total{{model="{model}"'))


def test_unloading_an_adapter_mid_answer_lets_that_answer_finish(client: TestClient) -> None:
    assert _load(client, "busy", "good").status_code == 200
    body = {
        "model": "busy",
        "messages": [{"role": "user", "content": "say red 1"}],
        "max_tokens": 200,
        "temperature": 0,
    }
    expected = client.post("/v1/chat/completions", json=body).json()["choices"][0]
    written = _tokens(client, "busy")
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(client.post, "/v1/chat/completions", json=body)
        wait_until(lambda: _tokens(client, "busy") > written, 60, "the answer being written", interval=0.01)
        assert client.delete("/v1/adapters/busy").status_code == 200
        reply = running.result(60)
    assert reply.status_code == 200 and reply.json()["choices"][0] == expected
    assert client.post("/v1/chat/completions", json=body).status_code == 404
    beta = {**body, "model": "beta", "max_tokens": 4}
    assert client.post("/v1/chat/completions", json=beta).status_code == 200
