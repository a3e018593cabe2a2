"""Bounds on what a client's TCP connections can hold, before any key is checked.

Sockets are the one resource a client without a key can take: uvicorn keeps a connection open until the
client closes it, never times out slow headers or a silent new connection, and once `limit_concurrency`
connections are open it answers *every* request 503, so 1,100 idle sockets stopped a server for everybody.
Here, instead:

- A connection is *idle* while no request is being answered on it: from when it opens until its request's
  headers are complete (slow headers), and between requests (keep-alive). An idle connection is closed after
  `idle_timeout_s`.
- At most `max_connections` are open: a new connection beyond that closes the connection idle the longest
  (none is serving anyone), or, if every one is answering a request, is itself closed at once.
- A half-closed connection (the client shut its writing side after sending the request) still gets its
  answer: the protocol keeps the transport open for writing.

- A response the client stops reading (its socket buffer full, the send blocked) for `send_timeout_s` is cut:
  the guard's sweep, once a second, closes the connections whose send has been blocked that long (one timer
  for the whole server, not one per message sent).

`guarded_protocol(base, guard)` makes uvicorn's HTTP protocol class report to a `ConnectionGuard`, and
`GuardMiddleware` tells the guard when a request starts and ends on a connection (ASGI's `client` is the
connection's peer address) and when a send blocks. (A body that does not arrive within `body_timeout_s` is a
408 from `hone.serve.security.BodyLimitMiddleware`.)
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ConnectionGuard:
    def __init__(
        self, max_connections: int, idle_timeout_s: float, metrics: Any = None, send_timeout_s: float = 30.0
    ) -> None:
        self.max_connections, self.idle_timeout_s, self.metrics = max_connections, idle_timeout_s, metrics
        self.send_timeout_s = send_timeout_s
        self.idle: OrderedDict[Any, Any] = OrderedDict()  # peer -> transport, longest idle first
        self.busy: dict[Any, Any] = {}  # peer -> transport
        self.timers: dict[Any, asyncio.TimerHandle] = {}
        self.sending: dict[Any, float] = {}  # peer -> when its send in progress began
        self.sweeping = False

    def __len__(self) -> int:
        return len(self.idle) + len(self.busy)

    def opened(self, peer: Any, transport: Any) -> None:
        if len(self) >= self.max_connections:
            if not self.idle:  # every connection is answering someone: this one waits for nobody
                self._count("over_limit")
                transport.close()
                return
            oldest = next(iter(self.idle))
            self._close(oldest, "evicted")
        self._set_idle(peer, transport)
        self._gauge()

    def closed(self, peer: Any) -> None:
        self._cancel(peer)
        self.idle.pop(peer, None)
        self.busy.pop(peer, None)
        self._gauge()

    def started(self, peer: Any) -> None:
        """A request's headers are complete on `peer`'s connection: it is busy until `finished`."""
        transport = self.idle.pop(peer, None)
        if transport is not None:
            self._cancel(peer)
            self.busy[peer] = transport
            if not self.sweeping:
                self.sweeping = True
                asyncio.get_running_loop().call_later(1.0, self._sweep)

    def finished(self, peer: Any) -> None:
        self.sending.pop(peer, None)
        transport = self.busy.pop(peer, None)
        if transport is not None and not transport.is_closing():
            self._set_idle(peer, transport)

    def _sweep(self) -> None:
        """Close the connections whose send has been blocked for `send_timeout_s` (the client stopped reading)."""
        now = time.monotonic()
        for peer in [p for p, since in self.sending.items() if now - since > self.send_timeout_s]:
            self.sending.pop(peer, None)
            transport = self.busy.get(peer)
            if transport is not None:
                self._count("send_timeout")
                transport.close()
        self.sweeping = bool(self.busy)
        if self.sweeping:
            asyncio.get_running_loop().call_later(1.0, self._sweep)

    def _set_idle(self, peer: Any, transport: Any) -> None:
        self.idle[peer] = transport
        self.idle.move_to_end(peer)
        self._cancel(peer)
        self.timers[peer] = asyncio.get_running_loop().call_later(self.idle_timeout_s, self._close, peer, "idle")

    def _close(self, peer: Any, reason: str) -> None:
        transport = self.idle.pop(peer, None)
        self._cancel(peer)
        if transport is not None:
            self._count(reason)
            transport.close()
        self._gauge()

    def _cancel(self, peer: Any) -> None:
        timer = self.timers.pop(peer, None)
        if timer is not None:
            timer.cancel()

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.closed.labels(reason=reason).inc()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.connections.set(len(self))


def guarded_protocol(base: type, guard: ConnectionGuard) -> type:
    """`base` (uvicorn's HTTP protocol class) reporting its connections to `guard`, and answering half-closed ones."""

    class Guarded(base):  # type: ignore[misc, valid-type]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._hone_peer = transport.get_extra_info("peername")
            guard.opened(_key(self._hone_peer), transport)

        def connection_lost(self, exc: Exception | None) -> None:
            guard.closed(_key(getattr(self, "_hone_peer", None)))
            super().connection_lost(exc)

        def eof_received(self) -> bool:
            super().eof_received()
            return True  # keep the transport open for writing: a half-closed client still gets its answer

    Guarded.__name__ = Guarded.__qualname__ = f"Guarded{base.__name__}"
    return Guarded


def _key(peer: Any) -> Any:
    """The peer address as ASGI's `client` gives it: (host, port)."""
    return tuple(peer[:2]) if isinstance(peer, (tuple, list)) else peer


class GuardMiddleware:
    """Marks connections busy while a request is answered, and notes when a send blocks (see `ConnectionGuard`)."""

    def __init__(self, app: ASGIApp, guard: ConnectionGuard | None) -> None:
        self.app, self.guard = app, guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        guard = self.guard
        if scope["type"] != "http" or guard is None:
            await self.app(scope, receive, send)
            return
        peer = _key(scope.get("client"))
        guard.started(peer)
        sending = guard.sending

        async def noted_send(message: Message) -> None:
            sending[peer] = time.monotonic()
            await send(message)
            sending.pop(peer, None)

        try:
            await self.app(scope, receive, noted_send)
        finally:
            guard.finished(peer)
