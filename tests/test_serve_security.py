"""Names, confined paths, API-key auth and the body limit of `hone.serve.security`, all in-process."""

from __future__ import annotations

import asyncio
import hmac
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Message

from hone.serve import security
from hone.serve.errors import APIError
from hone.serve.security import AuthMiddleware, BodyLimitMiddleware, api_keys_from, check_name, confine

KEYS = ["key-one", "key-two", "key-three"]
LIMIT = 16


def build_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/health", methods=["GET", "HEAD"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": []}

    @app.post("/v1/echo")
    async def echo(request: Request) -> Response:
        return Response(await request.body(), media_type="application/octet-stream")

    return app


def call(
    app: ASGIApp,
    method: str,
    raw_path: bytes,
    headers: Sequence[tuple[bytes, bytes]] = (),
    chunks: Sequence[bytes] = (),
) -> tuple[int, dict[bytes, bytes], bytes]:
    """Drive `app` with a hand-made scope, so raw paths reach it exactly as a server would pass them."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path.decode("latin-1")),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("testserver", 80),
    }
    messages: list[Message] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks or [b""])
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], dict(start["headers"]), body


def bearer(key: str) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {key}".encode())]


# --- check_name -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "my-adapter", "run_1.v2", "A" * 64, "0abc"])
def test_check_name_accepts_safe_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize("name", ["", ".hidden", "-x", "a/b", "a..b", "A" * 65, "abc\n", "a b", "é", "a\\b", "a%2e"])
def test_check_name_refuses_unsafe_names(name: str) -> None:
    with pytest.raises(APIError) as caught:
        check_name(name)
    assert (caught.value.status, caught.value.code, caught.value.param) == (400, "invalid_name", "name")


# --- confine --------------------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """A root holding one adapter and a symlink to a directory outside the root that holds a secret."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (root / "good").mkdir(parents=True)
    (root / "good" / "adapter_config.json").write_text("{}")
    outside.mkdir()
    (outside / "secret").write_text("do not read")
    (root / "leak").symlink_to(outside, target_is_directory=True)
    (root / "leakfile").symlink_to(outside / "secret")
    return root, outside


def test_confine_returns_resolved_path_inside_root(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    assert confine(root, "good") == (root / "good").resolve()
    assert confine(root, "good/adapter_config.json") == (root / "good" / "adapter_config.json").resolve()


BAD_PATHS = [
    "",
    "..",
    "../outside/secret",
    "good/../../outside",
    "good/..",
    "/etc/passwd",
    "%2e%2e",
    "%2e%2e%2foutside",
    "good%2fadapter_config.json",
    "good%5c..",
    "100%",
    "..\\outside",
    "good\\adapter_config.json",
    "good\x00",
]


@pytest.mark.parametrize("relative", BAD_PATHS)
def test_confine_refuses_malformed_paths(tree: tuple[Path, Path], relative: str) -> None:
    with pytest.raises(APIError) as caught:
        confine(tree[0], relative)
    assert caught.value.status == 400


@pytest.mark.parametrize("relative", ["leak", "leak/secret", "leakfile", "."])
def test_confine_refuses_paths_resolving_outside_root(tree: tuple[Path, Path], relative: str) -> None:
    with pytest.raises(APIError) as caught:
        confine(tree[0], relative)
    assert caught.value.status == 403


def test_confine_missing_is_404_unless_allowed(tree: tuple[Path, Path]) -> None:
    root, _ = tree
    with pytest.raises(APIError) as caught:
        confine(root, "absent")
    assert (caught.value.status, caught.value.code) == (404, "adapter_not_found")
    assert confine(root, "absent", must_exist=False) == root.resolve() / "absent"


# Audit hooks cannot be removed, so the hook stays installed and only records while this flag is set.
AUDIT: dict[str, Any] = {"on": False, "touched": []}
AUDITED = {"open", "os.listdir", "os.scandir", "os.chdir"}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if AUDIT["on"] and event in AUDITED and args and isinstance(args[0], (str, bytes, os.PathLike)):
        AUDIT["touched"].append(os.fsdecode(args[0]))


@pytest.fixture
def audited() -> Iterator[list[str]]:
    if not AUDIT.get("installed"):
        sys.addaudithook(_audit)
        AUDIT["installed"] = True
    AUDIT["touched"] = []
    AUDIT["on"] = True
    try:
        yield AUDIT["touched"]
    finally:
        AUDIT["on"] = False


def test_rejected_confine_opens_nothing_outside_root(tree: tuple[Path, Path], audited: list[str]) -> None:
    root, outside = tree
    open(outside / "secret").close()  # the hook works: this open is seen
    assert audited == [str(outside / "secret")]
    audited.clear()
    for relative in [*BAD_PATHS, "leak", "leak/secret", "leakfile", "leak/absent"]:
        with pytest.raises(APIError):
            confine(root, relative)
    escaped = [p for p in audited if not Path(p).resolve().is_relative_to(root.resolve())]
    assert escaped == []


# --- api_keys_from --------------------------------------------------------------------------------


def test_api_keys_from_merges_cli_and_env() -> None:
    env = {"HONE_API_KEYS": " b, ,c,a ", "HONE_API_KEY": "d"}
    assert api_keys_from(["a", ""], env) == ["a", "b", "c", "d"]
    assert api_keys_from([], {}) == []
    assert api_keys_from([], {"HONE_API_KEY": "  "}) == []


# --- AuthMiddleware -------------------------------------------------------------------------------


@pytest.fixture
def authed() -> AuthMiddleware:
    return AuthMiddleware(build_app(), keys=KEYS)


def test_open_path_passes_without_key(authed: AuthMiddleware) -> None:
    client = TestClient(authed)
    assert client.get("/health").json() == {"status": "ok"}
    assert client.head("/health").status_code == 200
    assert client.get("/health?verbose=1").status_code == 200


TRICKS = [
    b"/v1/models",
    b"//v1/models",
    b"/v1/models/",
    b"/%2Fv1/models",
    b"/%2fv1/models",
    b"/health/",
    b"//health",
    b"/health/../v1/models",
    b"/health/./",
    b"/HEALTH",
    b"/%68ealth",
    b"/health%00",
    b"/health;x",
    b"/v1/echo",
    b"/nope",
]


@pytest.mark.parametrize("raw_path", TRICKS)
def test_path_tricks_need_a_key(authed: AuthMiddleware, raw_path: bytes) -> None:
    status, headers, body = call(authed, "GET", raw_path)
    assert status == 401
    assert headers[b"www-authenticate"] == b"Bearer"
    assert b'"code":"invalid_api_key"' in body
    assert b'"type":"authentication_error"' in body
    status, _, _ = call(authed, "GET", raw_path, bearer("key-two"))
    assert status != 401


@pytest.mark.parametrize(("method", "path"), [("POST", b"/health"), ("OPTIONS", b"/health"), ("PUT", b"/health")])
def test_open_path_only_for_get_and_head(authed: AuthMiddleware, method: str, path: bytes) -> None:
    assert call(authed, method, path)[0] == 401


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "POST", "DELETE"])
def test_protected_route_refuses_every_method_without_key(authed: AuthMiddleware, method: str) -> None:
    assert call(authed, method, b"/v1/models")[0] == 401


def test_keys_and_headers(authed: AuthMiddleware) -> None:
    client = TestClient(authed)
    assert client.get("/v1/models").status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer key-one-x"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Basic key-one"}).status_code == 401
    assert client.get("/v1/models", headers={"Authorization": "Bearer "}).status_code == 401
    for key in KEYS:
        assert client.get("/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "bearer key-one"}).status_code == 200
    assert client.get("/v1/models", headers={"api-key": "key-three"}).status_code == 200
    assert client.get("/v1/models", headers={"api-key": "nope"}).status_code == 401
    answer = client.post("/v1/echo", content=b"hi", headers={"Authorization": "Bearer key-one"})
    assert answer.content == b"hi"


def test_failure_is_openai_json(authed: AuthMiddleware) -> None:
    answer = TestClient(authed).get("/v1/models", headers={"Authorization": "Bearer wrong"})
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"
    assert answer.json()["error"]["code"] == "invalid_api_key"
    assert set(answer.json()["error"]) == {"message", "type", "param", "code"}


@pytest.mark.parametrize("presented", ["key-one", "key-three", "wrong", "k"])
def test_every_key_is_compared(monkeypatch: pytest.MonkeyPatch, authed: AuthMiddleware, presented: str) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(security.hmac, "compare_digest", counting)
    status, _, _ = call(authed, "GET", b"/v1/models", bearer(presented))
    assert status == (200 if presented in KEYS else 401)
    assert len(calls) == len(KEYS)
    assert all(isinstance(a, bytes) and isinstance(b, bytes) and len(a) == len(b) for a, b in calls)


def test_no_keys_means_unauthenticated() -> None:
    client = TestClient(AuthMiddleware(build_app(), keys=None))
    assert client.get("/v1/models").status_code == 200
    assert client.post("/v1/echo", content=b"x").content == b"x"


@pytest.mark.parametrize("keys", [[], [""], ["ok", ""]])
def test_empty_keys_are_a_config_error(keys: list[str]) -> None:
    with pytest.raises(ValueError, match="keys=None"):
        AuthMiddleware(build_app(), keys=keys)


def test_lifespan_passes_and_websocket_without_key_is_closed(authed: AuthMiddleware) -> None:
    with TestClient(authed) as client:  # runs the lifespan through the middleware
        assert client.get("/health").status_code == 200
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "websocket.connect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "raw_path": b"/ws", "headers": [], "query_string": b""}
    asyncio.run(authed(scope, receive, send))
    assert sent[0]["type"] == "websocket.close"


# --- BodyLimitMiddleware --------------------------------------------------------------------------


@pytest.fixture
def limited() -> BodyLimitMiddleware:
    return BodyLimitMiddleware(build_app(), max_bytes=LIMIT)


def assert_too_large(status: int, body: dict[str, Any]) -> None:
    assert status == 413
    assert body["error"]["code"] == "request_too_large"
    assert body["error"]["type"] == "invalid_request_error"


def test_declared_length_over_limit_is_413(limited: BodyLimitMiddleware) -> None:
    answer = TestClient(limited).post("/v1/echo", content=b"x" * (LIMIT + 1))
    assert_too_large(answer.status_code, answer.json())


def test_declared_length_over_limit_is_refused_before_reading(limited: BodyLimitMiddleware) -> None:
    scope = {"type": "http", "method": "POST", "path": "/v1/echo", "headers": [(b"content-length", b"1000000")]}
    sent: list[Message] = []

    async def receive() -> Message:
        raise AssertionError("the body was read")

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(limited(scope, receive, send))
    assert sent[0]["status"] == 413


def test_chunked_body_over_limit_is_413(limited: BodyLimitMiddleware) -> None:
    def stream() -> Iterator[bytes]:
        yield from [b"x" * 10, b"y" * 10, b"z" * 10]

    answer = TestClient(limited).post("/v1/echo", content=stream())
    assert "content-length" not in answer.request.headers
    assert_too_large(answer.status_code, answer.json())


def test_chunked_body_over_limit_without_length_via_asgi(limited: BodyLimitMiddleware) -> None:
    status, _, body = call(limited, "POST", b"/v1/echo", chunks=[b"a" * 10, b"b" * 10])
    assert status == 413
    assert b"request_too_large" in body


@pytest.mark.parametrize("size", [0, 1, LIMIT])
def test_body_within_limit_passes_unchanged(limited: BodyLimitMiddleware, size: int) -> None:
    client = TestClient(limited)
    payload = bytes(range(size))
    assert client.post("/v1/echo", content=payload).content == payload

    def stream() -> Iterator[bytes]:
        yield from [payload[: size // 2], payload[size // 2 :]]

    assert client.post("/v1/echo", content=stream()).content == payload
    assert client.get("/health").status_code == 200


@pytest.mark.parametrize("value", [b"abc", b"-1", b"+5", b"1_0", b"", b"1.5"])
def test_malformed_content_length_is_400(limited: BodyLimitMiddleware, value: bytes) -> None:
    status, _, body = call(limited, "POST", b"/v1/echo", [(b"content-length", value)], [b"x"])
    assert status == 400
    assert b"invalid_content_length" in body


def test_conflicting_content_lengths_are_400(limited: BodyLimitMiddleware) -> None:
    headers = [(b"content-length", b"1"), (b"content-length", b"2")]
    assert call(limited, "POST", b"/v1/echo", headers, [b"x"])[0] == 400


def test_disconnect_while_reading_sends_nothing(limited: BodyLimitMiddleware) -> None:
    sent: list[Message] = []
    messages = [{"type": "http.request", "body": b"ab", "more_body": True}, {"type": "http.disconnect"}]

    async def receive() -> Message:
        return messages.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(limited({"type": "http", "method": "POST", "path": "/v1/echo", "headers": []}, receive, send))
    assert sent == []


def test_negative_limit_is_a_config_error() -> None:
    with pytest.raises(ValueError):
        BodyLimitMiddleware(build_app(), max_bytes=-1)
