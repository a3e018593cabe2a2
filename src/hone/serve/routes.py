"""The HTTP routes. Each checks what is cheap to check in the HTTP process (the caller's role, that the model
exists and is served on this route, message counts), forwards the parsed body to the model worker
(`hone.serve.link`), and relays the worker's answer: a JSON body, an error, or a stream of server-sent events.
A client that goes away cancels its request in the worker.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from hone.serve import wire
from hone.serve.errors import APIError, wrong_route
from hone.serve.protocol import (
    AdapterRequest,
    ChatRequest,
    CompletionRequest,
    EmbeddingRequest,
    ExtractRequest,
    RerankRequest,
    TextsRequest,
)
from hone.serve.security import check_name, is_operator

router = APIRouter()
CARD_KEYS = ("id", "object", "created", "owned_by", "root", "parent", "task")


def state_of(request: Request) -> Any:
    return request.app.state.hone


# --- probes and listing -----------------------------------------------------------------------------------


@router.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.head("/health", include_in_schema=False)
async def health_head() -> Response:
    return Response(status_code=200)


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    state = state_of(request)
    reason = state.unavailable()
    body = {"ready": reason is None, "reason": reason, "models": sorted(state.models()) if reason is None else []}
    return JSONResponse(body, 200 if reason is None else 503)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    state = state_of(request)
    if state.operators and not is_operator(request.scope):
        raise APIError(403, "/metrics needs an operator key on this server", code="operator_only")
    own, content_type = state.metrics.render()
    text = own.decode("utf-8")
    if state.unavailable() is None:
        kind, payload = await state.link.open("metrics", None).next()
        if kind == wire.RESULT:
            text += payload["text"]
    return Response(text, media_type=content_type)


@router.get("/v1/models")
async def models(request: Request) -> dict[str, Any]:
    cards = state_of(request).models().values()
    return {"object": "list", "data": [{k: card[k] for k in CARD_KEYS} for card in cards]}


def _card(request: Request, model: str, route: str, serves: Any) -> dict[str, Any]:
    """The served model's card, if `serves(card)` says it is served on `route`; else the 404 or 400 now."""
    card = state_of(request).models().get(model)
    if card is None:
        raise APIError(
            404,
            f"The model `{model}` does not exist; GET /v1/models lists the served models.",
            code="model_not_found",
            param="model",
        )
    if not serves(card):
        raise wrong_route(model, card["task"], route)
    return card


def _of_task(task: str) -> Any:
    return lambda card: card["task"] == task


# --- model routes -----------------------------------------------------------------------------------------


@router.post("/v1/chat/completions", response_model=None)
async def chat_completions(body: ChatRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/chat/completions", lambda card: card["chat"])
    limit = state_of(request).config.limits.max_messages
    if len(body.messages) > limit:
        message = f"messages: at most {limit} per request on this server; this request has {len(body.messages)}"
        raise APIError(400, message, code="too_many_messages", param="messages")
    return await forward(request, "chat", body)


@router.post("/v1/completions", response_model=None)
async def completions(body: CompletionRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/completions", lambda card: card["generates"])
    return await forward(request, "completions", body)


@router.post("/v1/embeddings", response_model=None)
async def embeddings(body: EmbeddingRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/embeddings", _of_task("embed"))
    return await forward(request, "embeddings", body)


@router.post("/v1/classify", response_model=None)
async def classify(body: TextsRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/classify", _of_task("classify"))
    return await forward(request, "classify", body)


@router.post("/v1/ner", response_model=None)
async def ner(body: TextsRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/ner", _of_task("ner"))
    return await forward(request, "ner", body)


@router.post("/v1/rerank", response_model=None)
async def rerank(body: RerankRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/rerank", _of_task("rerank"))
    return await forward(request, "rerank", body)


@router.post("/v1/extract", response_model=None)
async def extract(body: ExtractRequest, request: Request) -> Response:
    _card(request, body.model, "/v1/extract", _of_task("extract"))
    return await forward(request, "extract", body)


# --- operator routes --------------------------------------------------------------------------------------


@router.post("/v1/adapters", response_model=None)
async def load_adapter(body: AdapterRequest, request: Request) -> Response:
    state = _operator(request)
    if state.config.adapter_root is None:
        raise APIError(
            403, "runtime adapter loading is off; start the server with --adapter-root DIR", "adapters_disabled"
        )
    check_name(body.name)
    response = await _change(request, "load_adapter", body)
    if response.status_code == 200:
        state.link.adapters[body.name] = body.path  # restored if the worker has to be restarted
    return response


@router.delete("/v1/adapters/{name}", response_model=None)
async def unload_adapter(name: str, request: Request) -> Response:
    state = _operator(request)
    response = await _change(request, "unload_adapter", name)
    if response.status_code == 200:
        state.link.adapters.pop(name, None)
    return response


def _operator(request: Request) -> Any:
    state = state_of(request)
    if not state.operators:
        raise APIError(
            403,
            "adapter management needs an operator key: start the server with --admin-key KEY (or HONE_ADMIN_KEY)",
            code="operator_only",
        )
    if not is_operator(request.scope):
        raise APIError(403, "this route needs an operator key; client keys can only call models", "operator_only")
    return state


async def _change(request: Request, op: str, body: Any) -> Response:
    """One adapter change at a time, at most `adapter_loads_per_minute`: a load is seconds of the worker's time."""
    state = state_of(request)
    now = time.monotonic()
    while state.adapter_changes and now - state.adapter_changes[0] > 60:
        state.adapter_changes.popleft()
    if state.changing or len(state.adapter_changes) >= state.config.adapter_loads_per_minute:
        state.metrics.rejected.labels(reason="adapter_rate").inc()
        why = "another adapter change is in progress" if state.changing else "too many adapter changes this minute"
        raise APIError(429, f"{why}; retry shortly", code="rate_limited", headers={"Retry-After": "5"})
    state.changing = True
    state.adapter_changes.append(now)
    try:
        return await forward(request, op, body)
    finally:
        state.changing = False


# --- forwarding -------------------------------------------------------------------------------------------


async def forward(request: Request, op: str, body: Any) -> Response:
    """Send `body` to the worker's `op` and relay the answer; a stream starts once its first chunk is there, so
    an error found before it (a bad prompt, a full queue) is still a plain HTTP error."""
    exchange = state_of(request).link.open(op, body)
    watcher = asyncio.create_task(_cancel_on_disconnect(request, exchange))
    try:
        kind, payload = await exchange.next()
    except BaseException:
        exchange.cancel()
        raise
    finally:
        watcher.cancel()
    if kind == wire.RESULT:
        return JSONResponse(payload)
    if kind == wire.ERROR:
        status, error, headers = payload
        return JSONResponse(error, status, headers=headers)
    return StreamingResponse(
        _events(exchange, payload), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )


async def _cancel_on_disconnect(request: Request, exchange: Any) -> None:
    # the body has been read: the next message is the disconnect, if the client leaves before the answer
    while (await request.receive())["type"] != "http.disconnect":
        pass
    exchange.cancel()


async def _events(exchange: Any, first: dict[str, Any]) -> AsyncIterator[str]:
    """Server-sent events of a stream; the worker's work stops when the client goes (the response is cancelled)."""
    try:
        yield _event(first)
        while True:
            kind, payload = await exchange.next()
            if kind == wire.CHUNK:
                yield _event(payload)
            else:
                if kind == wire.ERROR:  # the worker stopped mid-stream
                    yield _event(payload[1])
                break
        yield "data: [DONE]\n\n"
    finally:
        exchange.cancel()


def _event(chunk: dict[str, Any]) -> str:
    return f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
