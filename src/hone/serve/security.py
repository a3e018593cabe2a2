"""The server's guards: safe names and paths, API-key authentication, and a request-body size limit.

Contracts:

- `check_name(name)` returns `name` only if it matches `NAME_PATTERN` (and holds no ".."); otherwise it
  raises `APIError(400, code="invalid_name", param="name")`.
- `confine(root, relative)` returns the resolved path of `relative` strictly inside `root`. Malformed
  input (empty, absolute, "..", backslash, NUL, any "%") is a 400 and touches no file; a path whose
  symlinks resolve outside `root` is a 403 and no file outside `root` is opened or stat-ed (only
  `Path.resolve()` walks it). A confined path that does not exist is a 404 `adapter_not_found` unless
  `must_exist=False`.
- `AuthMiddleware` lets a request through without a key only when its raw path is exactly one of
  `open_paths` and its method is GET or HEAD; everything else needs `Authorization: Bearer <key>` or
  `api-key: <key>`, compared in constant time against every key. `keys=None` turns client authentication off.
  It records the caller's role in `scope["hone.role"]`: "operator" for an operator key (`admin_keys`),
  "client" for a client key (or anyone, without authentication), None on an open path without a key.
  Operator keys are accepted wherever client keys are; `is_operator(scope)` says whether the caller has one.
- `BodyLimitMiddleware` answers 413 to a body over `max_bytes` (declared or streamed) before the app
  runs, reading and discarding up to `drain_bytes` more so the client reads the 413 instead of a reset
  connection; 408 to a body that has not fully arrived within `timeout_s`; 400 to a malformed
  `content-length`. The app receives the body already read, in one message.
- `api_keys_from(cli_keys, env)` merges `--api-key` values with `HONE_API_KEYS` (comma-separated) and
  `HONE_API_KEY`; `api_keys_from(cli, env, "HONE_ADMIN_KEYS", "HONE_ADMIN_KEY")` the operator keys.

The middlewares are plain ASGI, so they sit outside FastAPI's routing and its exception handlers.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hone.serve.errors import APIError, error_body

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
OPEN_METHODS = frozenset({"GET", "HEAD"})
POLICY_VIOLATION = 1008  # websocket close code; servers answer a close before accept with HTTP 403
DIGITS = re.compile(rb"[0-9]+")


def check_name(name: str) -> str:
    """`name` if it is a safe model/adapter name (letters, digits, `._-`, at most 64), else a 400."""
    # fullmatch, because `$` alone would also accept a trailing newline
    if not NAME_PATTERN.fullmatch(name) or ".." in name:
        raise APIError(
            400,
            f"invalid name {name!r}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or "
            "digit, and no '..'",
            code="invalid_name",
            param="name",
        )
    return name


def _refuse_path(relative: str, why: str) -> APIError:
    return APIError(400, f"invalid path {relative!r}: {why}", code="invalid_path", param="path")


def _check_relative(relative: str) -> None:
    """Raise for any spelling of a path that could leave its root; reads no file."""
    if not relative:
        raise _refuse_path(relative, "it is empty")
    for bad, why in (("\x00", "it holds a NUL byte"), ("\\", "it holds a backslash"), ("%", "it holds '%'")):
        if bad in relative:
            raise _refuse_path(relative, f"{why}; give a plain relative path")
    if PurePosixPath(relative).is_absolute():
        raise _refuse_path(relative, "it is absolute; give a path relative to the server's root")
    if ".." in relative.split("/"):
        raise _refuse_path(relative, "it holds a '..' component")


def confine(root: Path, relative: str, *, must_exist: bool = True) -> Path:
    """The resolved path of `relative` strictly inside `root`, or an `APIError` (400, 403 or 404)."""
    _check_relative(relative)
    base = Path(root).resolve()
    # resolve() follows symlinks by name only (lstat/readlink); nothing outside root is opened
    target = (base / relative).resolve()
    if target == base or not target.is_relative_to(base):
        message = f"path {relative!r} points outside the server's root"
        raise APIError(403, message, code="path_outside_root", param="path")
    if must_exist and not target.exists():
        raise APIError(404, f"no adapter at {relative!r}", code="adapter_not_found", param="path")
    return target


def api_keys_from(
    cli_keys: Sequence[str], env: Mapping[str, str], many: str = "HONE_API_KEYS", one: str = "HONE_API_KEY"
) -> list[str]:
    """`cli_keys`, then `env[many]` (comma-separated), then `env[one]`; no empties, no repeats."""
    found = [*cli_keys, *env.get(many, "").split(","), env.get(one, "")]
    keys: list[str] = []
    for key in (k.strip() for k in found):
        if key and key not in keys:
            keys.append(key)
    return keys


def _digest(value: bytes) -> bytes:
    # comparing fixed-size digests keeps a key's length from leaking through timing
    return hashlib.sha256(value).digest()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value)
    return None


def presented_key(scope: Scope) -> bytes | None:
    """The key a request carries: `Authorization: Bearer <key>`, else `api-key: <key>`, else None."""
    auth = _header(scope, b"authorization")
    if auth is not None:
        scheme, _, token = auth.strip().partition(b" ")
        if scheme.lower() == b"bearer" and token.strip():
            return token.strip()
    key = _header(scope, b"api-key")
    return key.strip() if key and key.strip() else None


class AuthMiddleware:
    """Require an API key on every request except GET/HEAD of an exact open path (see module docstring)."""

    def __init__(
        self,
        app: ASGIApp,
        keys: Sequence[str] | None,
        open_paths: Collection[str] = ("/health",),
        admin_keys: Sequence[str] = (),
    ) -> None:
        if keys is not None and (not keys or any(not k for k in keys)):
            raise ValueError("api keys must be non-empty strings; pass keys=None to run without authentication")
        if any(not k for k in admin_keys) or (keys is not None and set(admin_keys) & set(keys)):
            raise ValueError("operator keys must be non-empty and differ from every client key")
        self.app = app
        self.digests = None if keys is None else [_digest(k.encode("utf-8")) for k in keys]
        self.admin_digests = [_digest(k.encode("utf-8")) for k in admin_keys]
        self.open_paths = frozenset(p.encode("utf-8") for p in open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        role = self.role(scope)
        if role is not None or (scope["type"] == "http" and self.is_open(scope)):
            scope["hone.role"] = role
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": POLICY_VIOLATION, "reason": "invalid api key"})
        else:
            await _reject(scope, receive, send)

    def is_open(self, scope: Scope) -> bool:
        """Exact raw path (no normalisation: `/health/`, `//health`, `/HEALTH` are not open) and GET/HEAD."""
        raw = scope.get("raw_path") or scope["path"].encode("utf-8")
        raw = bytes(raw).partition(b"?")[0]  # some servers leave the query on raw_path
        decoded = scope["path"].encode("utf-8")
        return scope.get("method") in OPEN_METHODS and raw in self.open_paths and decoded == raw

    def role(self, scope: Scope) -> str | None:
        """ "operator", "client" or None (no valid key, with authentication on)."""
        key = presented_key(scope)
        presented = _digest(key) if key is not None else None
        if presented is not None and _matches(presented, self.admin_digests):
            return "operator"
        if self.digests is None:
            return "client"
        return "client" if presented is not None and _matches(presented, self.digests) else None

    def authorized(self, scope: Scope) -> bool:
        return self.role(scope) is not None


def _matches(presented: bytes, digests: Sequence[bytes]) -> bool:
    matched = False
    for digest in digests:  # no early exit: the time taken does not depend on which key matched
        matched |= hmac.compare_digest(presented, digest)
    return matched


def is_operator(scope: Scope) -> bool:
    return scope.get("hone.role") == "operator"


async def _reject(scope: Scope, receive: Receive, send: Send) -> None:
    message = "missing or invalid API key: send 'Authorization: Bearer <key>' or 'api-key: <key>'"
    response = JSONResponse(
        error_body(401, message, code="invalid_api_key"), status_code=401, headers={"WWW-Authenticate": "Bearer"}
    )
    await response(scope, receive, send)


class BodyLimitMiddleware:
    """Refuse request bodies over `max_bytes` with 413, and bodies that do not arrive within `timeout_s` with 408."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0, drain_bytes: int | None = None) -> None:
        if max_bytes < 0:
            raise ValueError(f"max_bytes must be >= 0, got {max_bytes}")
        self.app = app
        self.max_bytes, self.timeout_s = max_bytes, timeout_s
        self.drain_bytes = 4 * max_bytes if drain_bytes is None else drain_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            declared = self._declared(scope)
        except APIError as error:
            await _send_error(error, scope, receive, send)
            return
        if declared is not None and declared > self.max_bytes:
            if declared <= self.max_bytes + self.drain_bytes:
                await self._discard(receive, declared)
            await _send_error(self._too_large(), scope, receive, send)
            return
        try:
            body = await within(self.timeout_s, self._read(receive))
        except TimeoutError:
            message = f"the request body did not arrive within {self.timeout_s:g} s"
            await _send_error(APIError(408, message, code="request_timeout"), scope, receive, send)
            return
        if body is None:  # the client went away while sending
            return
        if len(body) > self.max_bytes:
            await self._discard(receive, self.max_bytes + self.drain_bytes - len(body))
            await _send_error(self._too_large(), scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _declared(self, scope: Scope) -> int | None:
        values = {bytes(v).strip() for k, v in scope.get("headers", ()) if k.lower() == b"content-length"}
        if not values:
            return None
        if len(values) > 1 or not DIGITS.fullmatch(next(iter(values))):
            raise APIError(400, "content-length must be one non-negative integer", code="invalid_content_length")
        return int(next(iter(values)))

    async def _read(self, receive: Receive) -> bytes | None:
        """The whole body, or as soon as it passes `max_bytes` what was read so far; None on disconnect."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if size > self.max_bytes or not message.get("more_body", False):
                return b"".join(chunks)

    async def _discard(self, receive: Receive, budget: int) -> None:
        """Read and drop up to `budget` more bytes of the body (within the body timeout): answering while the client
        is still sending makes the kernel reset the connection, and the client never sees the 413."""
        try:
            await within(self.timeout_s, _drop(receive, budget))
        except TimeoutError:
            pass

    def _too_large(self) -> APIError:
        return APIError(
            413, f"request body is larger than the server's limit of {self.max_bytes} bytes", code="request_too_large"
        )


async def within(seconds: float, awaitable: Any) -> Any:
    """`await awaitable`, or `TimeoutError` after `seconds` (`asyncio.timeout` where there is one: unlike `wait_for`
    before Python 3.12 it starts no task, and this runs once per request)."""
    if not hasattr(asyncio, "timeout"):  # Python 3.10
        return await asyncio.wait_for(awaitable, seconds)
    async with asyncio.timeout(seconds):
        return await awaitable


async def _drop(receive: Receive, budget: int) -> None:
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that yields `body` once, then defers to the real one (so disconnects still arrive)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _send_error(error: APIError, scope: Scope, receive: Receive, send: Send) -> None:
    # the body is left (partly) unread, so this connection cannot carry another request
    headers = {**error.headers, "Connection": "close"}
    await JSONResponse(error.body(), status_code=error.status, headers=headers)(scope, receive, send)
