"""From a request to engine rows and back, in the worker: submit generations, turn tokens into text deltas on
the worker's event loop, honour stop strings, and cancel the rows when the request ends early (its client went
away, an error, or a stop string).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from hone.serve.engine import Generation
from hone.serve.errors import APIError
from hone.serve.pool import Served
from hone.serve.scheduler import Scheduler


@dataclass
class Params:
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Delta:
    index: int
    text: str
    finish_reason: str | None = None  # set on the last delta of a choice


class Detokenizer:
    """Incremental text of one choice: holds back half-decoded characters and anything a stop string may start."""

    def __init__(self, tokenizer: Any, stops: Sequence[str]) -> None:
        self.tokenizer, self.stops = tokenizer, [s for s in stops if s]
        self.ids: list[int] = []
        self.text, self.sent, self.stopped = "", 0, False

    def push(self, token: int) -> str:
        if self.stopped:
            return ""
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            return ""
        self.text = text
        hits = [i for i in (text.find(s, max(0, self.sent - len(s))) for s in self.stops) if i >= 0]
        if hits:
            self.text, self.stopped = text[: min(hits)], True
            return self._emit(len(self.text))
        hold = max((k for s in self.stops for k in range(1, len(s)) if text.endswith(s[:k])), default=0)
        return self._emit(len(text) - hold)

    def flush(self) -> str:
        return self._emit(len(self.text))

    def _emit(self, upto: int) -> str:
        out = self.text[self.sent : upto] if upto > self.sent else ""
        self.sent = max(self.sent, upto)
        return out


def start(
    scheduler: Scheduler,
    served: Served,
    prompt: list[int],
    params: Params,
    events: asyncio.Queue,
    offset: int = 0,
    constraint: Callable[[], Any] | None = None,
    queue: bool = True,
) -> list[Generation]:
    """Queue `params.n` rows for one prompt; their events arrive on `events` as (offset + i, token, reason).
    `queue` False: only make the rows, for a caller that queues several prompts' rows as one request."""
    loop = asyncio.get_running_loop()
    counter = scheduler.metrics.tokens.labels(model=served.name) if scheduler.metrics is not None else None

    def push(item: tuple[int, int | None, str | None]) -> None:
        if counter is not None and item[1] is not None:
            counter.inc()
        loop.call_soon_threadsafe(events.put_nowait, item)

    rows = [
        Generation(
            prompt,
            params.max_tokens,
            adapter=served.adapter,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=None if params.seed is None else params.seed + i,
            constraint=constraint() if constraint else None,
            on_token=lambda t, i=offset + i: push((i, t, None)),
            on_finish=lambda r, i=offset + i: push((i, None, r)),
        )
        for i in range(params.n)
    ]
    assert served.engine is not None
    if queue:
        scheduler.generate(served.engine, rows)  # Overloaded becomes 429 in the app's error handler
    return rows


async def deltas(
    tokenizer: Any, rows: list[Generation], events: asyncio.Queue, stops: Sequence[str]
) -> AsyncIterator[Delta]:
    """Text deltas of every row (indexed as queued) until each has finished; a stop string ends its row at once."""
    texts = [Detokenizer(tokenizer, stops) for _ in rows]
    left = len(rows)
    while left:
        i, token, reason = await events.get()
        text = texts[i]
        if token is not None:
            piece = text.push(token)
            if text.stopped:
                rows[i].cancelled.set()
            if piece:
                yield Delta(i, piece)
            continue
        left -= 1
        raise_for_finish(reason)
        yield Delta(i, text.flush(), "stop" if text.stopped or reason == "cancelled" else reason)


def raise_for_finish(reason: str | None) -> None:
    """The request's error when a row ended without an answer: its adapter was unloaded, or the engine failed."""
    if reason == "unloaded":
        raise APIError(404, "the model was unloaded before this request started", code="model_not_found")
    if reason == "error":
        raise APIError(500, "generation failed on the server; the error is in the server log", code="server_error")


@contextlib.contextmanager
def cancelled_on_exit(rows: list[Generation]) -> Iterator[None]:
    """Stop the rows whenever the block ends: finished rows ignore it; the rest stop at the next decode step (the
    request's task is cancelled when its client goes away, which ends the block too)."""
    try:
        yield
    finally:
        for row in rows:
            row.cancelled.set()
