"""The model worker: it owns every model, the compute thread and the prefix cache; the HTTP process sends it
parsed requests over a pipe (`hone.serve.wire`) and gets back answers, stream chunks and status.

Inside, an event loop and the compute thread. The loop reads the socket (`hone.serve.wire.Channel`) and runs
one task per request (an operation of `OPS`), which renders and tokenises its prompt in a small thread pool (so
a long prompt never holds up another request's stream), queues rows and calls on the compute thread
(`Scheduler`), and sends the replies. Under `hone serve` the worker is a process of its own, so the HTTP
event loop and model compute never share a GIL; `worker: thread` runs the same code on a thread of the
caller's process (tests, embedding).

The worker ignores SIGINT and SIGTERM: the HTTP process drains first and then says STOP. It stops by itself
when the socket closes (the HTTP process died).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hone.serve import wire
from hone.serve.config import ServeConfig
from hone.serve.errors import APIError, error_body

log = logging.getLogger("hone.serve")
# Compute yields the CPU to the HTTP process when both want it: a refusal or a probe is answered at once
# under overload, and the HTTP process needs little (it never runs a model).
WORKER_NICENESS = 5


@dataclass
class WorkerState:
    """What operations get: the served models, the compute thread, limits and metrics."""

    config: ServeConfig
    pool: Any  # hone.serve.pool.ModelPool
    scheduler: Any  # hone.serve.scheduler.Scheduler
    metrics: Any  # hone.serve.metrics.WorkerMetrics
    prompts: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="hone-prompt"))
    loaded: bool = False
    failure: str | None = None
    freeze_heap: bool = False

    async def off_loop(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on the prompt threads (templating, tokenising), awaited without blocking the loop."""
        return await asyncio.get_running_loop().run_in_executor(self.prompts, fn, *args)

    def run(self, fn: Callable[[], Any]) -> Any:
        """Await `fn()`, a change to the served models, on the compute thread between decode steps; the heap is
        settled after a change that went through (a refused one changed nothing, and costs nothing more)."""

        def change() -> Any:
            result = fn()
            self.settle_heap()
            return result

        return asyncio.wrap_future(self.scheduler.exclusive(change))

    def settle_heap(self) -> None:
        """With `freeze_heap`: collect garbage once, then freeze the survivors (`gc.freeze`).

        The models, tokenizers and libraries are ~450k long-lived objects that every full collection would walk
        again: measured on a tiny encoder, 250 ms pauses every few seconds under load, and 40% of the throughput.
        Frozen, later collections skip them; a model unloaded since is freed by reference counting, its cycles
        at the next settling. Only in a worker process of its own: freezing would keep a host's cycles forever.
        """
        if self.freeze_heap:
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def status(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "failure": self.failure,
            "models": self.pool.cards() if self.loaded else [],
            "engines": len(self.pool.engines),
        }


def build_state(config: ServeConfig, freeze_heap: bool) -> WorkerState:
    from hone.serve.cache import PrefixCache
    from hone.serve.metrics import WorkerMetrics
    from hone.serve.pool import ModelPool
    from hone.serve.scheduler import Scheduler
    from hone.train.setup import autocast_for_inference

    metrics = WorkerMetrics()
    cache = PrefixCache(int(config.prefix_cache_mb * 2**20), metrics=metrics) if config.prefix_cache_mb > 0 else None
    scheduler = Scheduler(
        config.max_queue, config.max_batch, config.batch_wait_ms / 1000, config.limits.max_inputs, metrics
    )
    return WorkerState(config, ModelPool(cache, autocast_for_inference()), scheduler, metrics, freeze_heap=freeze_heap)


class Worker:
    def __init__(
        self, config: ServeConfig, sock: socket.socket, adapters: list[tuple[str, str]], freeze_heap: bool
    ) -> None:
        self.sock, self.adapters = sock, adapters  # adapters: runtime loads to restore after a restart
        self.state = build_state(config, freeze_heap)
        self.tasks: dict[int, asyncio.Task] = {}
        self.channel: wire.Channel | None = None

    def run(self) -> None:
        """Serve until STOP or the socket closes (on the calling thread, with an event loop of its own)."""
        try:
            asyncio.run(self.main())
        finally:
            self.sock.close()

    async def main(self) -> None:
        self.channel = await wire.Channel.over(self.sock)
        self.state.scheduler.start()
        try:
            await self._load_all()
            self._send(wire.STATUS, 0, self.state.status())
            while True:
                try:
                    kind, rid, payload = await self.channel.receive()
                except EOFError:  # the HTTP process is gone: nobody is left to answer
                    break
                if kind == wire.STOP:
                    break
                self._dispatch(kind, rid, payload)
        finally:
            for task in list(self.tasks.values()):
                task.cancel()
            await asyncio.gather(*self.tasks.values(), return_exceptions=True)
            self.state.scheduler.stop()
            self.state.prompts.shutdown(wait=False, cancel_futures=True)
            self.channel.close()

    async def _load_all(self) -> None:
        state = self.state
        try:
            for run in state.config.runs:
                await state.run(lambda r=run: state.pool.load_run(r.path, r.name))
                log.info("serving %s", run.name or run.path)
            for name, relative in self.adapters:
                await _restore(state, name, relative)
            state.metrics.adapters.set(len(state.pool.models))
        except Exception as exc:
            state.failure = f"{type(exc).__name__}: {getattr(exc, 'message', exc)}"
            log.error("loading failed: %s", state.failure)
        state.loaded = True

    def _send(self, kind: str, rid: int, payload: Any) -> None:
        assert self.channel is not None
        self.channel.send((kind, rid, payload))

    def _dispatch(self, kind: str, rid: int, payload: Any) -> None:
        if kind == wire.RUN:
            op, body = payload
            self.tasks[rid] = asyncio.get_running_loop().create_task(self._run(rid, op, body))
        elif kind == wire.CANCEL:
            task = self.tasks.get(rid)
            if task is not None:
                task.cancel()

    async def _run(self, rid: int, op: str, body: Any) -> None:
        try:
            answer = await OPS[op](self, body)
            if isinstance(answer, AsyncIterator):
                await self._stream(rid, answer)
            else:
                self._send(wire.RESULT, rid, answer)
        except asyncio.CancelledError:
            pass  # the client went away (or the worker stops): nobody waits for an answer
        except Exception as exc:  # noqa: BLE001 - every failure becomes this request's answer, never the worker's end
            status, body, headers = _error_of(exc, op)
            self._send(wire.ERROR, rid, (status, body, headers))
        finally:
            self.tasks.pop(rid, None)

    async def _stream(self, rid: int, chunks: AsyncIterator[dict[str, Any]]) -> None:
        try:
            async for chunk in chunks:
                self._send(wire.CHUNK, rid, chunk)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream has begun: the error travels as its last chunk
            self._send(wire.CHUNK, rid, _error_of(exc, "stream")[1])
        self._send(wire.END, rid, None)


def _error_of(exc: Exception, op: str) -> tuple[int, dict[str, Any], dict[str, str]]:
    from hone.serve.scheduler import Overloaded

    if isinstance(exc, APIError):
        return exc.status, exc.body(), exc.headers
    if isinstance(exc, Overloaded):
        return (
            429,
            error_body(429, f"The server is busy ({exc}); retry shortly.", code="overloaded"),
            {"Retry-After": "1"},
        )
    log.exception("%s failed", op, exc_info=exc)
    return 500, error_body(500, "internal error; see the server log", code="server_error"), {}


# --- operations that are not a model call ---------------------------------------------------------------------


async def _load_adapter(state: WorkerState, name: str, relative: str) -> dict[str, Any]:
    root = state.config.adapter_root
    if root is None:
        raise APIError(
            403, "runtime adapter loading is off; start the server with --adapter-root DIR", "adapters_disabled"
        )
    model_dir = await state.off_loop(state.pool.check_adapter_load, Path(root), name, relative)
    served = await state.run(lambda: state.pool.load_adapter(model_dir, name))
    state.metrics.adapters.set(len(state.pool.models))
    return {"id": served.name, "object": "model", "loaded": True, "parent": state.pool.parent(served)}


async def _restore(state: WorkerState, name: str, relative: str) -> None:
    """Load again, after a restart, an adapter a client loaded at runtime (a failure is logged, not fatal)."""
    try:
        await _load_adapter(state, name, relative)
    except APIError as exc:
        log.warning("the runtime adapter %s (%s) could not be restored: %s", name, relative, exc.message)


async def load_adapter(worker: Worker, body: Any) -> dict[str, Any]:
    answer = await _load_adapter(worker.state, body.name, body.path)
    worker._send(wire.STATUS, 0, worker.state.status())
    return answer


async def unload_adapter(worker: Worker, name: str) -> dict[str, Any]:
    state = worker.state
    await state.run(lambda: state.pool.unload(name))
    state.metrics.adapters.set(len(state.pool.models))
    worker._send(wire.STATUS, 0, state.status())
    return {"id": name, "object": "model", "deleted": True}


async def metrics(worker: Worker, _: Any) -> dict[str, Any]:
    state = worker.state
    state.metrics.queue_depth.set(state.scheduler.waiting)
    if state.pool.cache is not None:
        state.metrics.prefix_bytes.set(state.pool.cache.bytes)
    return {"text": state.metrics.render()[0].decode("utf-8")}


def _model_op(fn: Callable[[WorkerState, Any], Any]) -> Callable[[Worker, Any], Any]:
    async def op(worker: Worker, body: Any) -> Any:
        return await fn(worker.state, body)

    return op


def _operations() -> dict[str, Callable[[Worker, Any], Any]]:
    from hone.serve import openai_ops, task_ops

    model_ops = {
        "chat": openai_ops.chat,
        "completions": openai_ops.completions,
        "embeddings": openai_ops.embeddings,
        "classify": task_ops.classify,
        "ner": task_ops.ner,
        "rerank": task_ops.rerank,
        "extract": task_ops.extract,
    }
    admin = {"load_adapter": load_adapter, "unload_adapter": unload_adapter, "metrics": metrics}
    return {**{name: _model_op(fn) for name, fn in model_ops.items()}, **admin}


OPS = _operations()


def run_worker(config: ServeConfig, sock: socket.socket, adapters: list[tuple[str, str]]) -> None:
    """The entry point of a worker process (started by `hone.serve.link`): serve requests from `sock` until STOP
    or the socket closes, ignoring the terminal's and the service manager's signals (the HTTP process drains, then
    says STOP), logging to stderr, with the heap frozen after each change of models."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     hone worker: %(message)s")
    import torch

    torch.set_num_threads(config.threads or max(1, len(os.sched_getaffinity(0)) - 1))
    os.nice(WORKER_NICENESS)
    Worker(config, sock, adapters, freeze_heap=True).run()
