"""The worker's OpenAI-compatible operations: chat completions (streaming too), completions, embeddings.

Each operation takes the worker's state and a parsed request body and returns the answer's JSON body, or an
async iterator of stream chunks (`hone.serve.worker` sends them to the HTTP process). A chat prompt is
rendered by the run's own template (`Template.prompt`, the same rendering training used), so an adapter sees
at inference exactly the text it was trained on; rendering and tokenising run off the worker's event loop,
rendering under a time budget (`hone.serve.budget`).
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import numpy as np

from hone.serve.engine import Generation
from hone.serve.errors import APIError, wrong_route
from hone.serve.generation import Params, cancelled_on_exit, deltas, start
from hone.serve.pool import Served
from hone.serve.protocol import ChatRequest, CompletionRequest, EmbeddingRequest, Sampling


def served_for(state: Any, model: str, kind: str, route: str) -> Served:
    """The model named `model`, which must be a `kind` model to be served on `route`."""
    served = state.pool.get(model)
    if served.kind != kind:
        raise wrong_route(served.name, served.kind, route)
    return served


# --- chat ------------------------------------------------------------------------------------------------


async def chat(state: Any, body: ChatRequest) -> Any:
    served = state.pool.get(body.model)
    if not served.chat:
        raise wrong_route(served.name, served.kind, "/v1/chat/completions")
    _refuse(body.logprobs, "logprobs")
    _refuse(body.tools, "tools")
    params = params_of(body, state.config.limits, body.max_completion_tokens or body.max_tokens)
    try:
        messages = [{"role": "system" if m.role == "developer" else m.role, "content": m.text()} for m in body.messages]
    except ValueError as exc:
        raise APIError(400, f"messages: {exc}", code="invalid_messages", param="messages") from None
    prompt = await state.off_loop(chat_prompt, served, messages, state.config.limits.template_ms / 1000)
    check_prompt(prompt, state.config.limits)
    events: asyncio.Queue = asyncio.Queue()
    rows = start(state.scheduler, served, prompt, params, events)
    reply = _Reply("chatcmpl", body.model, rows, params.n)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return _guarded(rows, _chat_chunks(reply, served, rows, events, params, usage))
    with cancelled_on_exit(rows):
        texts, reasons = await _collect(served, rows, events, params)
    choices = [
        {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": r, "logprobs": None}
        for i, (t, r) in enumerate(zip(texts, reasons, strict=True))
    ]
    return reply.body("chat.completion", choices)


def chat_prompt(served: Served, messages: list[dict[str, str]], budget_s: float) -> list[int]:
    """The prompt tokens for `messages` under the model's own template (see `render_prompt`)."""
    from hone.tasks.chat import Template

    template = served.task.chat_template if served.task is not None else Template()
    return render_prompt(messages, served.tokenizer, template, budget_s)


def render_prompt(messages: list[dict[str, str]], tokenizer: Any, template: Any, budget_s: float) -> list[int]:
    """`prompt_ids` rendered within `budget_s` seconds; a template too slow for, or refusing, the messages is a 400."""
    from hone.serve.budget import TemplateTooSlow, within
    from hone.tasks.chat import TemplateError, prompt_ids

    try:
        template.check(tokenizer)
        return within(budget_s, prompt_ids, messages, tokenizer, template, 1 << 30)
    except TemplateTooSlow:
        raise APIError(
            400,
            f"the model's chat template took longer than {budget_s * 1000:.0f} ms to render these messages",
            code="template_budget",
            param="messages",
        ) from None
    except (TemplateError, ValueError, TypeError) as exc:  # the template's own raise_exception, a bad role order
        raise APIError(400, f"messages: {exc}", code="invalid_messages", param="messages") from None


async def _chat_chunks(
    reply: _Reply, served: Served, rows: list[Generation], events: asyncio.Queue, params: Params, usage: bool
) -> AsyncIterator[dict[str, Any]]:
    for i in range(len(rows)):
        yield reply.body("chat.completion.chunk", [_chunk(i, {"role": "assistant", "content": ""}, None)], False)
    async for d in deltas(served.tokenizer, rows, events, params.stop):
        delta = {"content": d.text} if d.text else {}
        if d.text or d.finish_reason is None:
            yield reply.body("chat.completion.chunk", [_chunk(d.index, delta, None)], False)
        if d.finish_reason is not None:
            yield reply.body("chat.completion.chunk", [_chunk(d.index, {}, d.finish_reason)], False)
    if usage:
        yield reply.body("chat.completion.chunk", [], True)


def _chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}


# --- completions -----------------------------------------------------------------------------------------


async def completions(state: Any, body: CompletionRequest) -> Any:
    served = state.pool.get(body.model)
    if served.engine is None:
        raise wrong_route(served.name, served.kind, "/v1/completions")
    _refuse(body.logprobs, "logprobs")
    _refuse(body.echo, "echo")
    _refuse(body.suffix, "suffix")
    params = params_of(body, state.config.limits, body.max_tokens)
    prompts = await state.off_loop(_completion_prompts, body.prompt, served.tokenizer)
    if len(prompts) * params.n > state.config.limits.max_n * 4:
        raise APIError(400, f"{len(prompts)} prompts x n={params.n} is too many for one request", param="prompt")
    for prompt in prompts:
        check_prompt(prompt, state.config.limits, len(served.tokenizer))
    events: asyncio.Queue = asyncio.Queue()
    rows: list[Generation] = []
    try:
        for k, prompt in enumerate(prompts):
            rows += start(state.scheduler, served, prompt, params, events, offset=k * params.n)
    except Exception:  # a later prompt refused (queue full): the earlier ones' rows would run for no one
        for row in rows:
            row.cancelled.set()
        raise
    reply = _Reply("cmpl", body.model, rows, params.n)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        return _guarded(rows, _completion_chunks(reply, served, rows, events, params, usage))
    with cancelled_on_exit(rows):
        texts, reasons = await _collect(served, rows, events, params)
    choices = [
        {"index": i, "text": t, "finish_reason": r, "logprobs": None}
        for i, (t, r) in enumerate(zip(texts, reasons, strict=True))
    ]
    return reply.body("text_completion", choices)


def _completion_prompts(prompt: Any, tokenizer: Any) -> list[list[int]]:
    if isinstance(prompt, str):
        return [tokenizer(prompt)["input_ids"]]
    if prompt and all(isinstance(p, int) for p in prompt):
        return [list(prompt)]
    if prompt and all(isinstance(p, str) for p in prompt):
        return [tokenizer(p)["input_ids"] for p in prompt]
    if prompt and all(isinstance(p, list) for p in prompt):
        return [list(p) for p in prompt]
    raise APIError(400, "prompt: give a string, a list of strings, or token ids", param="prompt")


async def _completion_chunks(
    reply: _Reply, served: Served, rows: list[Generation], events: asyncio.Queue, params: Params, usage: bool
) -> AsyncIterator[dict[str, Any]]:
    async for d in deltas(served.tokenizer, rows, events, params.stop):
        choice = {"index": d.index, "text": d.text, "finish_reason": d.finish_reason, "logprobs": None}
        yield reply.body("text_completion", [choice], False)
    if usage:
        yield reply.body("text_completion", [], True)


# --- embeddings ------------------------------------------------------------------------------------------


async def embeddings(state: Any, body: EmbeddingRequest) -> dict[str, Any]:
    served = served_for(state, body.model, "embed", "/v1/embeddings")
    if body.dimensions is not None:
        raise APIError(400, "dimensions: this model's vectors have a fixed size; leave it out", param="dimensions")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or not all(isinstance(t, str) for t in texts):
        raise APIError(
            400, "input: give a non-empty string or list of strings (token ids are not accepted)", param="input"
        )
    check_inputs(texts, state.config.limits)
    vectors = await run_call(state, served, "embed", texts, _embed_fn(state, served))
    tokens = await state.off_loop(lambda: sum(len(ids) for ids in served.tokenizer(texts)["input_ids"]))
    data = [
        {"object": "embedding", "index": i, "embedding": _encode_vector(v, body.encoding_format)}
        for i, v in enumerate(vectors)
    ]
    return {
        "object": "list",
        "data": data,
        "model": body.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _embed_fn(state: Any, served: Served) -> Any:
    def run(texts: list[str]) -> list[np.ndarray]:
        return list(served.task.vectors(served.model, served.tokenizer, texts, 64, state.pool.autocast))

    return run


def _encode_vector(vector: np.ndarray, encoding: str) -> Any:
    if encoding == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
    return [float(x) for x in vector]


# --- shared ----------------------------------------------------------------------------------------------


async def run_call(state: Any, served: Served, operation: str, items: list[Any], fn: Any) -> list[Any]:
    """Run `fn` over `items` on the compute thread, batched with other requests' items for the same model."""
    future = state.scheduler.call((served.name, operation), fn, items)  # Overloaded: 429 in the error handler
    return await asyncio.wrap_future(future)


def params_of(body: Sampling, limits: Any, max_tokens: int | None) -> Params:
    if body.n > limits.max_n:
        raise APIError(400, f"n: at most {limits.max_n} choices per request", code="n_too_large", param="n")
    wanted = max_tokens if max_tokens is not None else limits.max_tokens
    if wanted > limits.max_tokens:
        raise APIError(
            400,
            f"max_tokens: at most {limits.max_tokens} on this server",
            code="max_tokens_too_large",
            param="max_tokens",
        )
    stops = body.stops()
    if len(stops) > 4 or any(len(s) > 64 for s in stops):
        raise APIError(400, "stop: at most 4 strings of up to 64 characters", param="stop")
    return Params(wanted, body.temperature, body.top_p, body.n, stops, body.seed)


def check_prompt(prompt: list[int], limits: Any, vocab: int | None = None) -> None:
    if not prompt:
        raise APIError(400, "the prompt is empty", param="prompt")
    if len(prompt) > limits.max_prompt_tokens:
        raise APIError(
            400,
            f"the prompt has {len(prompt)} tokens; this server accepts at most {limits.max_prompt_tokens}",
            code="context_length_exceeded",
            param="messages",
        )
    if vocab is not None and any(not 0 <= t < vocab for t in prompt):
        raise APIError(400, f"prompt: token ids must be in [0, {vocab})", param="prompt")


def check_inputs(items: list[Any], limits: Any) -> None:
    if len(items) > limits.max_inputs:
        raise APIError(
            400, f"input: at most {limits.max_inputs} items per request", code="too_many_inputs", param="input"
        )


def _refuse(value: Any, name: str) -> None:
    if value:
        raise APIError(400, f"{name} is not supported by this server; leave it out", code="unsupported", param=name)


async def _collect(
    served: Served, rows: list[Generation], events: asyncio.Queue, params: Params
) -> tuple[list[str], list[str]]:
    texts, reasons = [""] * len(rows), [""] * len(rows)
    async for d in deltas(served.tokenizer, rows, events, params.stop):
        texts[d.index] += d.text
        if d.finish_reason is not None:
            reasons[d.index] = d.finish_reason
    return texts, reasons


class _Reply:
    """Ids, timestamps and usage shared by every body of one response."""

    def __init__(self, prefix: str, model: str, rows: list[Generation], n: int) -> None:
        self.id, self.model, self.created = f"{prefix}-{uuid.uuid4().hex[:24]}", model, int(time.time())
        self.rows, self.n = rows, n  # each prompt's `n` choices are consecutive rows

    def usage(self) -> dict[str, Any]:
        firsts = self.rows[:: self.n]
        prompt = sum(len(r.prompt) for r in firsts)
        cached = sum(r.cached_tokens for r in firsts)
        completion = sum(len(r.tokens) for r in self.rows)
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
        }

    def body(self, kind: str, choices: list[dict[str, Any]], usage: bool = True) -> dict[str, Any]:
        out = {"id": self.id, "object": kind, "created": self.created, "model": self.model, "choices": choices}
        if usage:
            out["usage"] = self.usage()
        return out


async def _guarded(rows: list[Generation], chunks: AsyncIterator[dict[str, Any]]) -> AsyncIterator[dict[str, Any]]:
    """`chunks`, with the rows cancelled however the stream ends (finished, failed, or the client gone)."""
    with cancelled_on_exit(rows):
        async for chunk in chunks:
            yield chunk
