"""The worker's task operations: classify, ner, rerank and extract (routes /v1/classify, /v1/ner, /v1/rerank,
/v1/extract).

Extraction decodes the whole object from one prefill of the document, under the JSON constraint of
`hone.tasks.json_decode`, so every answer is valid JSON with exactly the requested fields. A run whose
`generate.decode` is `fanout` gets one row per field instead (`CausalEngine.fan_out`: the document read once,
through the prefix cache, then every field's key in one forward and the values decoded side by side), batched
with other requests' documents; `max_tokens` is then each value's budget. The answer's `usage` counts the
tokens read and written, and how many of the prompt tokens came from the prefix cache. A request may ask for
other fields than the run was trained on (`fields` or a JSON `schema`); the run's own are the default.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from typing import Any

import numpy as np

from hone.serve.errors import APIError
from hone.serve.generation import Params, cancelled_on_exit, raise_for_finish, start
from hone.serve.openai_ops import check_inputs, check_prompt, render_prompt, run_call, served_for
from hone.serve.pool import Served
from hone.serve.protocol import ExtractRequest, RerankRequest, TextsRequest


def _texts(body: TextsRequest, limits: Any) -> list[str]:
    texts = [body.input] if isinstance(body.input, str) else list(body.input)
    if not texts:
        raise APIError(400, "input: give a string or a non-empty list of strings", param="input")
    check_inputs(texts, limits)
    return texts


async def classify(state: Any, body: TextsRequest) -> dict[str, Any]:
    served = served_for(state, body.model, "classify", "/v1/classify")

    def run(texts: list[str]) -> list[dict[str, Any]]:
        preds, confidence = served.task.predict(served.model, served.tokenizer, texts, 64, state.pool.autocast)
        return [
            {"labels": list(p), "label": p[0] if len(p) == 1 else None, "confidence": float(c)}
            for p, c in zip(preds, confidence, strict=True)
        ]

    results = await run_call(state, served, "classify", _texts(body, state.config.limits), run)
    return {"object": "list", "model": body.model, "data": [{"index": i, **r} for i, r in enumerate(results)]}


async def ner(state: Any, body: TextsRequest) -> dict[str, Any]:
    served = served_for(state, body.model, "ner", "/v1/ner")
    texts = _texts(body, state.config.limits)

    def run(batch: list[str]) -> list[dict[str, Any]]:
        spans, confidence = served.task.predict(served.model, served.tokenizer, batch, 64, state.pool.autocast)
        return [
            {"entities": served.task.to_json(s), "confidence": float(c)} for s, c in zip(spans, confidence, strict=True)
        ]

    results = await run_call(state, served, "ner", texts, run)
    data = []
    for i, (text, r) in enumerate(zip(texts, results, strict=True)):
        entities = [{**e, "text": text[e["start"] : e["end"]]} for e in r["entities"]]
        data.append({"index": i, "entities": entities, "confidence": r["confidence"]})
    return {"object": "list", "model": body.model, "data": data}


async def rerank(state: Any, body: RerankRequest) -> dict[str, Any]:
    served = served_for(state, body.model, "rerank", "/v1/rerank")
    check_inputs(body.documents, state.config.limits)

    def run(pairs: list[tuple[str, str]]) -> list[float]:
        queries, passages = [q for q, _ in pairs], [d for _, d in pairs]
        scores = served.task.pair_scores(served.model, served.tokenizer, queries, passages, 64, state.pool.autocast)
        return [float(s) for s in scores]

    scores = await run_call(state, served, "rerank", [(body.query, d) for d in body.documents], run)
    order = np.argsort(-np.asarray(scores), kind="stable")[: body.top_n or len(scores)]
    results = [
        {
            "index": int(i),
            "relevance_score": scores[i],
            **({"document": {"text": body.documents[i]}} if body.return_documents else {}),
        }
        for i in order
    ]
    return {"object": "list", "model": body.model, "results": results}


# --- extraction ------------------------------------------------------------------------------------------


async def extract(state: Any, body: ExtractRequest) -> dict[str, Any]:
    served = served_for(state, body.model, "extract", "/v1/extract")
    texts = _texts(body, state.config.limits)
    task = _task_for(served.task, body)
    program = _program(served, task)
    budget = body.max_tokens or task.max_new_tokens
    if budget > state.config.limits.max_tokens:
        raise APIError(400, f"max_tokens: at most {state.config.limits.max_tokens}", param="max_tokens")
    fanned = task.decode == "fanout"
    try:
        if not fanned:  # fan-out: `budget` is each value's, and a value never needs more than it is given
            program.processors(budget)
    except ValueError as exc:
        raise APIError(400, str(exc).replace("generate.max_new_tokens", "max_tokens"), param="max_tokens") from None
    budget_s = state.config.limits.template_ms / 1000
    prompts = await state.off_loop(lambda: [_extract_prompt(task, served.tokenizer, t, budget_s) for t in texts])
    for prompt in prompts:
        check_prompt(prompt, state.config.limits)
    if fanned:
        results, usage = await _fanout(state, served, program, prompts, budget)
        # a value always closes within its budget: every document's finish reason is "stop"
        data = [_answer(task, served.tokenizer, i, r.ids, "stop", r.cached_tokens) for i, r in enumerate(results)]
        return {"object": "list", "model": body.model, "fields": task.fields, "data": data, "usage": usage}
    events: asyncio.Queue = asyncio.Queue()
    rows = _object_rows(state, served, program, prompts, budget, events)
    with cancelled_on_exit(rows):
        reasons = await _finished(rows, events)
    data = [_answer(task, served.tokenizer, i, row.tokens, reasons[i], row.cached_tokens) for i, row in enumerate(rows)]
    prompt = sum(len(row.prompt) for row in rows)
    completion = sum(len(row.tokens) for row in rows)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": sum(row.cached_tokens for row in rows)},
        "rows": len(rows),
    }
    return {"object": "list", "model": body.model, "fields": task.fields, "data": data, "usage": usage}


def _answer(task: Any, tokenizer: Any, index: int, ids: list[int], reason: str, cached: int) -> dict[str, Any]:
    parsed = task.read(tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False))
    return {
        "index": index,
        "object": None if parsed is None else dict(parsed),
        "valid": parsed is not None,
        "finish_reason": reason,
        "cached_tokens": cached,
    }


def _object_rows(
    state: Any, served: Served, program: Any, prompts: list[list[int]], budget: int, events: asyncio.Queue
) -> list[Any]:
    """One row per document, writing the whole object; the rows are queued as one request: all of them or, when
    the queue is full, none (429)."""
    rows = []
    for i, prompt in enumerate(prompts):
        constraint = lambda: program.processors(budget)[0]  # noqa: E731 - one state machine per row
        params = Params(budget, temperature=0.0)
        rows += start(state.scheduler, served, prompt, params, events, i, constraint, queue=False)
    assert served.engine is not None
    state.scheduler.generate(served.engine, rows)
    return rows


async def _fanout(
    state: Any, served: Served, program: Any, prompts: list[list[int]], budget: int
) -> tuple[list[Any], dict[str, Any]]:
    """Each document's fan-out extraction (`CausalEngine.fan_out`), run on the compute thread in calls that batch
    with other requests' documents for the same model, fields and budget (429 when the queue is full).

    Usage counts the tokens the model read: each document once, each field's key, each value (`rows`: one
    per field and document); `cached_tokens`, those of the documents that came from the prefix cache."""
    engine, metrics = served.engine, state.scheduler.metrics
    assert engine is not None

    def run(items: list[list[int]]) -> list[Any]:
        results, steps = engine.fan_out(program, items, budget, served.adapter, state.scheduler.max_batch)
        if metrics is not None:
            for rows in steps:
                metrics.batch_size.labels(kind="decode").observe(rows)
        return results

    # A batch runs one program (the first call's `run`), on at most `per` documents: a request of many documents
    # runs a chunk per turn of the compute thread, and the running decode batch steps between its chunks.
    per = max(1, state.scheduler.max_batch // max(1, len(program.field_rows())))
    chunks = [prompts[i : i + per] for i in range(0, len(prompts), per)]
    futures = state.scheduler.calls((served.name, "extract", f"{id(program)}/{budget}"), run, chunks, limit=per)
    try:
        results = [r for future in futures for r in await asyncio.wrap_future(future)]
    finally:  # the client went away or a chunk failed: its chunks still waiting are not run
        for future in futures:
            future.cancel()
    if any(r is None for r in results):
        raise_for_finish("unloaded")
    keys = sum(len(key) for key, _ in program.field_rows())
    fields = len(program.field_rows())
    prompt = sum(len(p) + keys for p in prompts)
    completion = sum(len(v) for r in results for v in r.values)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": sum(r.cached_tokens for r in results)},
        "rows": fields * len(prompts),
    }
    return results, usage


def _task_for(task: Any, body: ExtractRequest) -> Any:
    """The run's task, or a copy asking for the request's fields."""
    if body.schema_ is not None:
        props = body.schema_.properties
        return replace(
            task,
            fields=list(props),
            types={k: v.type for k, v in props.items()},
            values={k: v.enum for k, v in props.items()},
            descriptions={k: v.description for k, v in props.items()},
        )
    if body.fields is not None:
        known = set(task.fields)
        return replace(
            task,
            fields=list(dict.fromkeys(body.fields)),
            types={f: task.types.get(f, "string") for f in body.fields},
            values={f: task.values.get(f) if f in known else None for f in body.fields},
            descriptions={f: task.descriptions.get(f) if f in known else None for f in body.fields},
        )
    return task


def _program(served: Served, task: Any) -> Any:
    """The compiled JSON program for a field set (cached: compiling walks the vocabulary)."""
    from hone.tasks.json_decode import JsonProgram

    for name in task.fields:
        if not name or len(name) > 64 or any(c in name for c in '"\\\n'):
            raise APIError(
                400,
                f"field {name!r}: names must be 1-64 characters without quotes, backslashes or newlines",
                param="fields",
            )
    value_chars = getattr(task, "value_chars", None) or {}
    key = json.dumps([task.fields, task.values, value_chars], sort_keys=True)
    if key not in served.programs:
        if len(served.programs) >= 64:
            served.programs.pop(next(iter(served.programs)))
        served.programs[key] = JsonProgram(served.tokenizer, task.fields, task.values, value_chars=value_chars)
    return served.programs[key]


def _extract_prompt(task: Any, tokenizer: Any, text: str, budget_s: float) -> list[int]:
    return render_prompt(task.as_messages(text), tokenizer, task.chat_template, budget_s)


async def _finished(rows: list[Any], events: asyncio.Queue) -> list[str]:
    reasons = [""] * len(rows)
    left = len(rows)
    while left:
        i, token, reason = await events.get()
        if token is None:
            raise_for_finish(reason)
            reasons[i] = reason
            left -= 1
    return reasons
