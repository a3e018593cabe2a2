"""The HTTP process's end of the channel to the model worker (`hone.serve.worker`), and the worker's keeper.

`WorkerLink.open(op, body)` sends a request and returns its `Exchange`: the replies (`hone.serve.wire`)
arrive on it in order, the last one RESULT, ERROR or END. A task on the server's event loop reads the channel
and hands each message to the loop the request was opened on (an app driven from several loops, as a test
client may, gets each answer on the right one); nothing blocks, and no thread shares the loop's GIL.
`Exchange.cancel()` tells the worker to stop the request's work (the client went away).

If the worker dies (killed, out of memory), every request in flight is answered 503 at once, the server
reports itself not ready, and a new worker is started with the same runs and the adapters loaded at runtime
since; after `MAX_RESTARTS` deaths within `RESTART_WINDOW_S` it is left down and `/ready` says why.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from hone.serve import wire
from hone.serve.config import ServeConfig
from hone.serve.errors import error_body

log = logging.getLogger("hone.serve")
MAX_RESTARTS, RESTART_WINDOW_S = 3, 60.0
STOP_TIMEOUT_S = 10.0


class Exchange:
    """One request's replies, in order; `next()` waits for the following one."""

    def __init__(self, link: WorkerLink, rid: int) -> None:
        self.link, self.rid = link, rid
        self.loop = asyncio.get_running_loop()
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.done = False

    def put(self, message: tuple[str, Any], on: asyncio.AbstractEventLoop) -> None:
        """Deliver `message`, called on loop `on`."""
        if on is self.loop:
            self.queue.put_nowait(message)
            return
        try:
            self.loop.call_soon_threadsafe(self.queue.put_nowait, message)
        except RuntimeError:  # its loop has closed: nobody waits for it
            pass

    async def next(self) -> tuple[str, Any]:
        kind, payload = await self.queue.get()
        if kind in wire.FINAL:
            self.done = True
        return kind, payload

    def cancel(self) -> None:
        """Tell the worker to stop this request (no reply will follow); nothing happens once it is over."""
        if not self.done:
            self.done = True
            self.link.forget(self.rid)


class WorkerLink:
    """Start, talk to, restart and stop one model worker. `on_status(status)` sees each STATUS the worker sends
    (and a not-ready one while it restarts)."""

    def __init__(self, config: ServeConfig, on_status: Callable[[dict[str, Any]], None]) -> None:
        self.config, self.on_status = config, on_status
        self.pending: dict[int, Exchange] = {}
        self.adapters: dict[str, str] = {}  # runtime loads (name -> path) to restore after a restart
        self.ids = itertools.count(1)
        self.deaths: list[float] = []
        self.channel: wire.Channel | None = None
        self.runner: Any = None  # the worker's Process, or its Thread
        self.in_process: Any = None  # with `worker: thread`, the Worker itself (tests look inside)
        self.reading: asyncio.Task | None = None
        self.stopping = False

    # --- lifecycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the worker (again, after it died), on the event loop that serves the app."""
        ours, theirs = socket.socketpair()
        args = (self.config, theirs, sorted(self.adapters.items()))
        if self.config.worker == "process":
            from hone.serve.worker import run_worker

            # spawn, not fork: a forked copy of a process that has started threads (or torch) can deadlock
            context = multiprocessing.get_context("spawn")
            self.runner = context.Process(target=run_worker, args=args, name="hone-worker", daemon=True)
            self.runner.start()
            theirs.close()
        else:
            from hone.serve.worker import Worker

            self.in_process = Worker(*args, freeze_heap=False)
            self.runner = threading.Thread(target=self.in_process.run, name="hone-worker", daemon=True)
            self.runner.start()
        self.channel = await wire.Channel.over(ours)
        self.reading = asyncio.get_running_loop().create_task(self._read(self.channel, self.runner))

    async def stop(self) -> None:
        """Ask the worker to finish, wait for it (`STOP_TIMEOUT_S`), then end it if it has not."""
        self.stopping = True
        self._send((wire.STOP, 0, None))
        runner = self.runner
        if runner is not None:
            await asyncio.get_running_loop().run_in_executor(None, _join, runner)
        if self.channel is not None:
            self.channel.close()

    # --- requests -------------------------------------------------------------------------------------------

    def open(self, op: str, body: Any) -> Exchange:
        rid = next(self.ids)
        exchange = self.pending[rid] = Exchange(self, rid)
        if not self._send((wire.RUN, rid, (op, body))):
            self.pending.pop(rid, None)
            exchange.put(_gone_error(), asyncio.get_running_loop())
        return exchange

    def forget(self, rid: int) -> None:
        if self.pending.pop(rid, None) is not None:
            self._send((wire.CANCEL, rid, None))

    def _send(self, message: tuple[str, int, Any]) -> bool:
        return self.channel is not None and self.channel.send(message)

    # --- replies --------------------------------------------------------------------------------------------

    async def _read(self, channel: wire.Channel, runner: Any) -> None:
        """Each message to its request; when the channel ends, the worker is gone."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                kind, rid, payload = await channel.receive()
            except EOFError:
                break
            if kind == wire.STATUS:
                self.on_status(payload)
                continue
            exchange = self.pending.pop(rid, None) if kind in wire.FINAL else self.pending.get(rid)
            if exchange is not None:  # None: cancelled, the client went away
                exchange.put((kind, payload), loop)
        await loop.run_in_executor(None, _join, runner)
        await self._lost(runner)

    async def _lost(self, runner: Any) -> None:
        if runner is not self.runner:
            return
        loop = asyncio.get_running_loop()
        while self.pending:
            self.pending.popitem()[1].put(_gone_error(), loop)
        if self.stopping:
            return
        code = getattr(runner, "exitcode", None)
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW_S] + [now]
        if len(self.deaths) > MAX_RESTARTS:
            why = f"the model worker stopped {len(self.deaths)} times within {RESTART_WINDOW_S:.0f} s (exit {code})"
            log.error("%s; it is left down: see the log above", why)
            self.on_status({"loaded": True, "failure": why, "models": [], "engines": 0})
            return
        log.error("the model worker stopped (exit %s); starting a new one", code)
        self.on_status({"loaded": False, "failure": None, "models": [], "engines": 0, "restarting": True})
        await self.start()


def _join(runner: Any) -> None:
    """Wait for the worker to end (`STOP_TIMEOUT_S`); a process that does not is terminated."""
    runner.join(STOP_TIMEOUT_S)
    if isinstance(runner, multiprocessing.process.BaseProcess) and runner.is_alive():
        log.warning("the model worker did not stop within %.0f s; terminating it", STOP_TIMEOUT_S)
        runner.terminate()
        runner.join(STOP_TIMEOUT_S)


def _gone_error() -> tuple[str, Any]:
    message = "the model worker stopped while answering; retry shortly"
    return wire.ERROR, (503, error_body(503, message, code="unavailable"), {"Retry-After": "5"})
