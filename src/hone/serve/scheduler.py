"""One compute thread for every model: bounded admission, micro-batches, continuous decoding.

Requests never run torch on the event loop. They become work items here: generations join their base
model's running batch between decode steps; calls (classify, embed, ...) for the same model and
operation that arrive within `batch_wait` are run as one batch; `exclusive` work (loading an adapter)
runs between steps. When more than `max_queue` items wait, `generate` and `call` raise `Overloaded` at once, so a
client gets 429 in microseconds instead of a timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from hone.serve.engine import CausalEngine, Generation

log = logging.getLogger("hone.serve")


class Overloaded(Exception):
    """The queue is full; the client should retry later."""


@dataclass
class Call:
    key: tuple[str, ...]  # (model, operation[, what else must match]): calls with the same key share a batch
    fn: Callable[[list[Any]], list[Any]]
    items: list[Any]
    limit: int | None = None  # most items in a batch of this key (None: the scheduler's max_items)
    request: object = field(default_factory=object)  # the calls one request queued together share it
    future: Future = field(default_factory=Future)
    since: float = field(default_factory=time.monotonic)


@dataclass
class _Pending:
    engine: CausalEngine
    generation: Generation
    request: object  # the rows one request queued together share it: the queue bound counts requests
    since: float = field(default_factory=time.monotonic)


class Scheduler:
    def __init__(
        self,
        max_queue: int = 64,
        max_batch: int = 16,
        batch_wait_s: float = 0.005,
        max_items: int = 256,
        metrics: Any = None,
    ) -> None:
        self.max_queue, self.max_batch, self.batch_wait_s, self.max_items = (
            max_queue,
            max_batch,
            batch_wait_s,
            max_items,
        )
        self.metrics = metrics
        self._generations: deque[_Pending] = deque()
        self._calls: deque[Call] = deque()
        self._exclusive: deque[tuple[Callable[[], Any], Future]] = deque()
        self._engines: set[CausalEngine] = set()  # engines with running rows
        self._cond = threading.Condition()
        self._stop = False
        self._thread: threading.Thread | None = None
        self.batching = max_batch > 1

    # --- submitting (any thread) ----------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Requests waiting: a request's rows (its n choices) or calls (its chunks of documents) count once."""
        return len({id(p.request) for p in self._generations} | {id(c.request) for c in self._calls})

    def generate(self, engine: CausalEngine, generations: Sequence[Generation]) -> None:
        """Queue one request's rows, all or none (Overloaded when the queue is full)."""
        request = object()
        with self._cond:
            self._admit(1)
            self._generations.extend(_Pending(engine, g, request) for g in generations)
            self._cond.notify()

    def call(self, key: tuple[str, ...], fn: Callable[[list[Any]], list[Any]], items: list[Any]) -> Future:
        return self.calls(key, fn, [items])[0]

    def calls(
        self,
        key: tuple[str, ...],
        fn: Callable[[list[Any]], list[Any]],
        chunks: list[list[Any]],
        limit: int | None = None,
    ) -> list[Future]:
        """Queue one request's chunks as calls, all or none; a batch of `key` takes at most `limit` items, so a
        long request runs a chunk per turn of the compute thread, the running decode batch stepping between."""
        request = object()
        items = [Call(key, fn, chunk, limit, request) for chunk in chunks]
        with self._cond:
            self._admit(1)
            self._calls.extend(items)
            self._cond.notify()
        return [item.future for item in items]

    def exclusive(self, fn: Callable[[], Any]) -> Future:
        """Run `fn` on the compute thread between steps (never refused: it is an operator's action)."""
        future: Future = Future()
        with self._cond:
            self._exclusive.append((fn, future))
            self._cond.notify()
        return future

    def _admit(self, n: int) -> None:
        if self.waiting + n > self.max_queue:
            if self.metrics is not None:
                self.metrics.rejected.labels(reason="queue_full").inc()
            raise Overloaded(f"{self.waiting} requests are waiting (limit {self.max_queue})")
        if self.metrics is not None:
            self.metrics.queue_depth.set(self.waiting + n)

    # --- the compute thread ---------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="hone-compute", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._stop and not self._ready():
                    self._cond.wait(self._wait_for())
                if self._stop:
                    self._cancel_everything()
                    return
                exclusive, self._exclusive = list(self._exclusive), deque()
                calls = self._take_calls()
                joins = self._take_generations()
            for fn, future in exclusive:
                _run_into(future, fn)
            self._run_calls(calls)
            self._step(joins)

    def _ready(self) -> bool:
        if self._exclusive or self._engines:
            return True
        oldest = min([p.since for p in self._generations] + [c.since for c in self._calls], default=None)
        if oldest is None:
            return False
        full = len(self._generations) >= self.max_batch or len(self._calls) >= self.max_batch
        return full or time.monotonic() - oldest >= self.batch_wait_s or not self.batching

    def _wait_for(self) -> float | None:
        if not (self._generations or self._calls):
            return None
        return max(self.batch_wait_s / 2, 0.0005)

    def _take_calls(self) -> list[list[Call]]:
        """Whole calls grouped by key, each group at most `max_items` items (a larger single call runs alone)."""
        groups: dict[tuple[str, ...], list[Call]] = defaultdict(list)
        left: deque[Call] = deque()
        for call in self._calls:
            group = groups[call.key]
            size = sum(len(c.items) for c in group)
            fits = not group or (self.batching and size + len(call.items) <= (call.limit or self.max_items))
            (group.append(call) if fits else left.append(call))
        # Round robin: a request that had a chunk taken waits behind the other requests' calls for its next one.
        taken = {id(call.request) for group in groups.values() for call in group}
        later = [call for call in left if id(call.request) in taken]
        self._calls = deque([call for call in left if id(call.request) not in taken] + later)
        return list(groups.values())

    def _take_generations(self) -> dict[CausalEngine, list[Generation]]:
        joins: dict[CausalEngine, list[Generation]] = defaultdict(list)
        left: deque[_Pending] = deque()
        for p in self._generations:
            room = self.max_batch - p.engine.active - len(joins[p.engine])
            (joins[p.engine].append(p.generation) if room > 0 else left.append(p))
        self._generations = left
        return joins

    def _run_calls(self, groups: list[list[Call]]) -> None:
        for taken in groups:
            # a call whose client went away (its future cancelled) is dropped; the others can no longer be cancelled
            group = [call for call in taken if call.future.set_running_or_notify_cancel()]
            if not group:
                continue
            items = [item for call in group for item in call.items]
            if self.metrics is not None:
                self.metrics.batch_size.labels(kind=group[0].key[1]).observe(len(items))
            try:
                results = group[0].fn(items)
            except Exception as exc:  # noqa: BLE001 - one bad batch must not fail the thread
                self._isolate(group, exc)
                continue
            start = 0
            for call in group:
                call.future.set_result(results[start : start + len(call.items)])
                start += len(call.items)

    def _isolate(self, group: list[Call], exc: Exception) -> None:
        """A batch failed: run each of its calls alone, so only the call that fails gets the error."""
        if len(group) == 1:
            log.warning("%s on %s failed: %s", group[0].key[1], group[0].key[0], exc)
            group[0].future.set_exception(exc)
            return
        for call in group:
            try:
                call.future.set_result(call.fn(call.items))
            except Exception as own:  # noqa: BLE001
                log.warning("%s on %s failed: %s", call.key[1], call.key[0], own)
                call.future.set_exception(own)

    def _step(self, joins: dict[CausalEngine, list[Generation]]) -> None:
        for engine, new in joins.items():
            self._guard(engine, lambda e=engine, n=new: e.admit(n), new)  # a row that fails to join fails alone
        for engine in list(self._engines | set(joins)):
            started = time.perf_counter()
            produced = self._guard(engine, engine.step, [])
            if self.metrics is not None and produced:
                self.metrics.batch_size.labels(kind="decode").observe(produced)
                self.metrics.tokens_per_second.set(produced / max(time.perf_counter() - started, 1e-9))
        with self._cond:
            self._engines = {e for e in self._engines | set(joins) if e.active}

    def _guard(self, engine: CausalEngine, fn: Callable[[], Any], new: list[Generation]) -> Any:
        try:
            return fn()
        except Exception:  # the batch state is unknown: end its rows with an error, keep serving the rest
            log.exception("decoding failed; %d running row(s) end with an error", engine.active + len(new))
            engine.fail_all("error")
            for g in new:
                if g.finish_reason is None:
                    g.finish_reason = "error"
                    g.on_finish("error")
            return 0

    def _cancel_everything(self) -> None:
        for engine in self._engines:
            engine.fail_all("cancelled")
        for p in self._generations:
            p.generation.on_finish("cancelled")
        for call in self._calls:
            call.future.cancel()


def _run_into(future: Future, fn: Callable[[], Any]) -> None:
    if not future.set_running_or_notify_cancel():  # cancelled while it waited: nobody wants the result
        return
    try:
        future.set_result(fn())
    except BaseException as exc:
        future.set_exception(exc)
