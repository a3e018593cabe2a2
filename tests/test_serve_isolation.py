"""One client cannot hurt another: what an adapter may hold, who may manage adapters, one bad input or one bad
row failing alone, templates on a budget, and the HTTP process never running a model (in-process, worker on a
thread; the socket-level findings are in test_serve_socket.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file, save_file
from starlette.testclient import TestClient

from hone.serve.app import create_app
from hone.serve.config import ServeConfig
from scorecard import record

KEY, ADMIN = "client-key", "operator-key"
CLIENT, OPERATOR = {"Authorization": f"Bearer {KEY}"}, {"Authorization": f"Bearer {ADMIN}"}
SLOW_TEMPLATE = "{% for i in range(6000) %}{% for j in range(6000) %}{% endfor %}{% endfor %}{{ messages[0].content }}"


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _variant(root: Path, source: Path, name: str, edit: Any = None, files: Any = None) -> Path:
    """A copy of run `source` under root/name whose adapter tensors `edit(tensors)` changed in place."""
    target = root / name
    shutil.copytree(source, target)
    weights = target / "model" / "adapter_model.safetensors"
    if edit is not None:
        tensors = load_file(str(weights))
        edit(tensors)
        save_file(tensors, str(weights))
    if files is not None:
        files(target / "model")
    return target


def _first(tensors: dict[str, torch.Tensor], part: str) -> str:
    return next(k for k in sorted(tensors) if k.endswith(f"{part}.weight"))


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory, serve_runs: dict[str, Path]) -> Path:
    """Adapter variants of the `alpha` run, each breaking one rule of `hone.serve.adapter_check`."""
    root = tmp_path_factory.mktemp("isolation")
    alpha = serve_runs["alpha"]

    def base_weight(t: dict[str, torch.Tensor]) -> None:
        t["base_model.model.model.embed_tokens.weight"] = torch.zeros(600, 32)

    def nan(t: dict[str, torch.Tensor]) -> None:
        t[_first(t, "lora_B")][0, 0] = float("nan")

    def wrong_shape(t: dict[str, torch.Tensor]) -> None:
        key = _first(t, "lora_A")
        t[key] = torch.zeros(t[key].shape[0], t[key].shape[1] + 1)

    def lonely(t: dict[str, torch.Tensor]) -> None:
        del t[_first(t, "lora_B")]

    def untargeted(t: dict[str, torch.Tensor]) -> None:
        key = _first(t, "lora_A")
        module = key.rsplit(".", 3)[0]
        head = "base_model.model.lm_head"
        t[f"{head}.lora_A.weight"] = t[key].clone()
        t[f"{head}.lora_B.weight"] = torch.zeros(600, t[key].shape[0])
        assert module != head

    def no_tokenizer(model: Path) -> None:
        for path in model.iterdir():
            if path.name.startswith(("tokenizer", "special_tokens", "chat_template", "vocab", "merges")):
                path.unlink()

    def upper_pickle(model: Path) -> None:
        (model / "extra.BIN").write_bytes(b"\x80\x04not really a pickle")

    for name, edit in [
        ("base-weight", base_weight),
        ("nan", nan),
        ("wrong-shape", wrong_shape),
        ("lonely", lonely),
        ("untargeted", untargeted),
    ]:
        _variant(root, alpha, name, edit)
    _variant(root, alpha, "no-tokenizer", files=no_tokenizer)
    _variant(root, alpha, "upper-pickle", files=upper_pickle)
    _variant(root, alpha, "good")
    _variant(root, alpha, "slow-template", files=lambda m: (m / "chat_template.jinja").write_text(SLOW_TEMPLATE))
    return root


def _config(serve_runs: dict[str, Path], root: Path, **settings: Any) -> ServeConfig:
    runs = [str(serve_runs[n]) for n in ("alpha", "topics")]
    defaults = {"worker": "thread", "adapter_root": root, "adapter_loads_per_minute": 10_000}
    return ServeConfig(runs=runs, **{**defaults, **settings})


@contextmanager
def _serving(config: ServeConfig, admin: bool = True) -> Iterator[TestClient]:
    app = create_app(config, keys=[KEY], admin_keys=[ADMIN] if admin else None)
    with TestClient(app, headers=CLIENT) as client:
        assert app.state.hone.loaded.wait(120) and app.state.hone.failure is None, app.state.hone.failure
        yield client


@pytest.fixture(scope="module")
def client(serve_runs: dict[str, Path], root: Path) -> Iterator[TestClient]:
    with _serving(_config(serve_runs, root)) as c:
        yield c


def _answers(client: TestClient, model: str = "base") -> list[str]:
    out = []
    for i in range(6):
        body = {"model": model, "messages": [{"role": "user", "content": f"say sun {i}"}], "max_tokens": 6}
        r = client.post("/v1/chat/completions", json={**body, "temperature": 0})
        assert r.status_code == 200, r.text
        out.append(r.json()["choices"][0]["message"]["content"])
    return out


def _load(client: TestClient, name: str, path: str, key: dict[str, str] = OPERATOR) -> Any:
    return client.post("/v1/adapters", json={"name": name, "path": path}, headers=key)


# --- 1. what an adapter may hold -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variant", "names"),
    [
        ("base-weight", "embed_tokens.weight`: is not a LoRA factor"),
        ("nan", "holds NaN"),
        ("wrong-shape", "has shape"),
        ("lonely", "is missing"),
        ("untargeted", "not among the adapter's target_modules"),
    ],
)
def test_an_adapter_holding_more_than_lora_factors_is_refused_and_the_base_is_untouched(
    client: TestClient, root: Path, variant: str, names: str
) -> None:
    before = _answers(client)
    r = _load(client, variant, variant)
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "bad_adapter" and "adapter tensor `base_model.model." in error["message"], error
    assert names in error["message"]
    assert str(root) not in error["message"] and "/tmp" not in error["message"]
    assert variant not in {m["id"] for m in client.get("/v1/models").json()["data"]}
    assert _answers(client) == before


# --- 2. the operator role ------------------------------------------------------------------------------------


def test_client_keys_only_call_models_operators_manage_adapters(client: TestClient) -> None:
    assert _load(client, "by-client", "good", CLIENT).status_code == 403
    assert client.delete("/v1/adapters/alpha").status_code == 403
    assert client.get("/metrics").status_code == 403
    assert client.get("/metrics", headers=OPERATOR).status_code == 200
    assert _load(client, "by-operator", "good").status_code == 200
    assert _answers(client, "by-operator") == _answers(client, "alpha")  # operators call models too
    assert client.delete("/v1/adapters/by-operator", headers=OPERATOR).status_code == 200


def test_runs_served_from_the_command_line_cannot_be_unloaded(client: TestClient) -> None:
    for name in ("alpha", "topics"):
        r = client.delete(f"/v1/adapters/{name}", headers=OPERATOR)
        assert r.status_code == 403 and r.json()["error"]["code"] == "cannot_unload", r.text
    assert {"alpha", "topics"} <= {m["id"] for m in client.get("/v1/models").json()["data"]}


def test_without_an_operator_key_adapter_routes_are_403(serve_runs: dict[str, Path], root: Path) -> None:
    with _serving(_config(serve_runs, root), admin=False) as c:
        r = _load(c, "good", "good", CLIENT)
        assert r.status_code == 403 and "--admin-key" in r.json()["error"]["message"]
        assert c.delete("/v1/adapters/alpha").status_code == 403
        assert c.get("/metrics").status_code == 200  # no operators: metrics stay readable with a client key


# --- 4, 5. a bad input or a bad row fails alone ------------------------------------------------------------------

SURROGATE = '"x\\ud800"'  # JSON text whose string decodes to a lone surrogate
ROUTES = [
    ("/v1/chat/completions", '{"model": "alpha", "messages": [{"role": "user", "content": %s}], "max_tokens": 2}'),
    ("/v1/completions", '{"model": "alpha", "prompt": %s, "max_tokens": 2}'),
    ("/v1/classify", '{"model": "topics", "input": [%s]}'),
    ("/v1/classify", '{"model": %s, "input": ["a"]}'),
]


@pytest.mark.parametrize(("route", "template"), ROUTES)
def test_a_lone_surrogate_is_a_400_naming_the_field(client: TestClient, route: str, template: str) -> None:
    r = client.post(route, content=(template % SURROGATE).encode(), headers={"content-type": "application/json"})
    assert r.status_code == 400, r.text
    assert "lone surrogate" in r.json()["error"]["message"]


def test_one_bad_input_among_concurrent_requests_fails_only_its_own(client: TestClient) -> None:
    good = {"model": "topics", "input": ["invoice card money", "password reset"]}
    bad = (ROUTES[2][1] % SURROGATE).encode()

    def one(i: int) -> int:
        if i == 30:
            return client.post("/v1/classify", content=bad, headers={"content-type": "application/json"}).status_code
        return client.post("/v1/classify", json=good).status_code

    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(one, range(60)))
    assert codes[30] == 400 and codes[:30] + codes[31:] == [200] * 59


def test_a_failing_call_in_a_batch_fails_alone() -> None:
    from hone.serve.scheduler import Scheduler

    scheduler = Scheduler(max_queue=16, max_batch=16, batch_wait_s=0.05)

    def double(items: list[Any]) -> list[Any]:
        if any(x == "boom" for x in items):
            raise ValueError("boom")
        return [x * 2 for x in items]

    scheduler.start()
    try:
        futures = [scheduler.call(("m", "op"), double, items) for items in ([1], ["boom"], [2, 3])]
        assert futures[0].result(10) == [2] and futures[2].result(10) == [4, 6]
        with pytest.raises(ValueError, match="boom"):
            futures[1].result(10)
    finally:
        scheduler.stop()


def test_a_row_whose_sampling_fails_ends_alone_and_its_neighbours_finish(client: TestClient) -> None:
    from hone.serve.engine import CausalEngine, Generation

    served = client.app.state.hone.link.in_process.state.pool.get("alpha").engine
    engine = CausalEngine(served.model, served.eos)  # an engine of its own on the served model: its rows only
    finished: dict[int, str] = {}
    calls = 0

    def failing(_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        nonlocal calls
        calls += 1
        if calls > 1:  # its first token is fine; the failure comes at a decode step shared with the others
            raise RuntimeError("probability tensor contains either inf, nan or element < 0")
        return scores

    rows = [
        Generation([5, 6, 7], 5, on_finish=lambda r, i=i: finished.__setitem__(i, r), constraint=c)
        for i, c in enumerate([None, failing, None])
    ]
    engine.admit(rows)
    while engine.active:
        engine.step()
    assert finished == {0: "length", 1: "error", 2: "length"}
    assert len(rows[0].tokens) == len(rows[2].tokens) == 5


def test_a_nan_adapter_leaves_every_other_row_exact() -> None:
    """Rows of other adapters and of the base, decoded in one batch beside an adapter gone NaN, are unchanged."""
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from hone.serve.multi_lora import shared

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    base = LlamaForCausalLM(config)
    lora = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    model = get_peft_model(base, lora, adapter_name="good").eval()
    model.add_adapter("bad", lora)
    ids = torch.randint(0, 64, (3, 5))
    names = ["good", "__base__", "good"]
    with torch.no_grad(), shared(model).rows(names):
        before = model(input_ids=ids).logits
    for module in model.modules():
        if hasattr(module, "lora_B") and "bad" in module.lora_B:
            module.lora_B["bad"].weight.data.fill_(float("nan"))
    shared(model).refresh()  # the stacks hold copies of the weights
    with torch.no_grad(), shared(model).rows([*names, "bad"]):
        after = model(input_ids=torch.cat([ids, ids[:1]])).logits
    assert after[3].isnan().all()
    assert not after[:3].isnan().any()
    torch.testing.assert_close(after[:3], before, rtol=1e-6, atol=1e-6)


# --- 6, 7. heavy work stays off the HTTP loop; templates on a budget ----------------------------------------------


def test_the_http_side_never_imports_a_model_a_tokenizer_or_a_template_engine() -> None:
    code = (
        "import sys, hone.serve.app, hone.serve.server, hone.serve.routes\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'tokenizers', 'jinja2', 'peft') if m in sys.modules)\n"
        "print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_a_chat_with_thousands_of_messages_is_refused_before_templating(client: TestClient) -> None:
    body = {"model": "alpha", "messages": [{"role": "user", "content": ""}] * 30_000, "max_tokens": 2}
    r = client.post("/v1/chat/completions", json=body)
    assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_messages"


def test_a_template_that_loops_is_stopped_by_its_budget(client: TestClient) -> None:
    assert _load(client, "slow", "slow-template").status_code == 200
    try:
        start = time.perf_counter()
        body = {"model": "slow", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        r = client.post("/v1/chat/completions", json=body)
        took = time.perf_counter() - start
        assert r.status_code == 400 and r.json()["error"]["code"] == "template_budget", r.text
        assert took < 5, f"the template ran {took:.1f} s past a 0.25 s budget"  # unbounded it renders for minutes
        record(25, f"a template of two nested range(6000) loops refused after {took * 1000:.0f} ms (budget 250 ms)")
        assert _answers(client, "alpha")  # the others are served as before
    finally:
        client.delete("/v1/adapters/slow", headers=OPERATOR)


# --- 8. adapter loads are not a lever --------------------------------------------------------------------------


def test_refused_loads_never_reach_the_compute_thread(client: TestClient) -> None:
    worker = client.app.state.hone.link.in_process
    changes: list[Any] = []
    original = worker.state.scheduler.exclusive
    worker.state.scheduler.exclusive = lambda fn: changes.append(fn) or original(fn)
    try:
        for name, path in [("../x", "good"), ("ok", "../etc"), ("ok", "missing"), ("ok", "nan"), ("alpha", "good")]:
            assert 400 <= _load(client, name, path).status_code < 500
    finally:
        worker.state.scheduler.exclusive = original
    assert changes == []


def test_adapter_changes_are_rate_limited(serve_runs: dict[str, Path], root: Path) -> None:
    with _serving(_config(serve_runs, root, adapter_loads_per_minute=3)) as c:
        codes = [_load(c, f"x{i}", "missing").status_code for i in range(5)]
        assert codes[:3] == [404] * 3 and codes[3:] == [429, 429]
        assert c.post("/v1/classify", json={"model": "topics", "input": "x"}).status_code == 200


# --- 11. smaller ------------------------------------------------------------------------------------------------


def test_an_adapter_without_tokenizer_files_uses_its_base_tokenizer(client: TestClient) -> None:
    assert _load(client, "bare", "no-tokenizer").status_code == 200
    try:
        assert _answers(client, "bare") == _answers(client, "alpha")
    finally:
        client.delete("/v1/adapters/bare", headers=OPERATOR)


def test_a_pickle_named_in_capitals_is_refused_by_name(client: TestClient) -> None:
    r = _load(client, "upper", "upper-pickle")
    assert r.status_code == 400 and r.json()["error"]["code"] == "pickle_refused"
    assert "extra.BIN" in r.json()["error"]["message"] and "never unpickles" in r.json()["error"]["message"]


def test_head_health_is_200_without_a_key(client: TestClient) -> None:
    assert TestClient(client.app).head("/health").status_code == 200


def test_a_killed_worker_is_replaced_and_requests_in_flight_get_503(serve_runs: dict[str, Path], root: Path) -> None:
    """With the worker in a process of its own: SIGKILL it; the server answers 503, restarts it, serves again."""
    import os
    import signal

    from waiting import wait_until

    with _serving(_config(serve_runs, root, worker="process")) as c:
        state = c.app.state.hone
        assert _load(c, "runtime", "good").status_code == 200
        os.kill(state.link.runner.pid, signal.SIGKILL)
        wait_until(lambda: c.get("/ready").status_code == 503, 30, "not ready after the kill")
        assert c.post("/v1/classify", json={"model": "topics", "input": "x"}).status_code == 503
        wait_until(lambda: c.get("/ready").status_code == 200, 120, "ready again with a new worker", interval=0.2)
        assert c.post("/v1/classify", json={"model": "topics", "input": "x"}).status_code == 200
        assert "runtime" in {m["id"] for m in c.get("/v1/models").json()["data"]}  # runtime loads are restored
        assert "hone_worker_restarts_total 1.0" in c.get("/metrics", headers=OPERATOR).text
