"""Batched generation on one causal base model, with any mix of its adapters in one batch.

The engine keeps a running batch: each row is one `Generation`, its KV states left-padded into one
cache. New rows join between decode steps (prefilled one by one, reusing the prefix cache), finished
or cancelled rows leave at once, so a long answer never holds a short one back. Rows of different
LoRA adapters share every step: through `hone.serve.multi_lora` (every adapter's LoRA weights stacked, two
matmuls per layer whatever the number of adapters), or, for a model it does not cover (DoRA, LoRA on
embeddings...), through PEFT's own mixed-adapter forward (`adapter_names`).

The engine runs on one thread (the scheduler's); callbacks run there too and must be quick.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from hone.serve import multi_lora
from hone.serve.cache import KV, PrefixCache
from hone.serve.multi_lora import BASE
from hone.tasks import fanout
from hone.tasks.causal import cache_argument, keeps_logits

log = logging.getLogger("hone.serve")
# Below this a temperature is 0 once cast to float32 (and dividing by it gives inf/nan): decode greedily.
GREEDY_BELOW = torch.finfo(torch.float32).tiny
SEEDS = 2**64  # torch.Generator takes seeds in [0, 2**64); any int a client sends is folded into that range


def _noop(*_: Any) -> None:
    return None


@dataclass
class FanOut:
    """One document's fan-out extraction: the object's tokens, each field's value piece, and how many of the
    document's prompt tokens came from the prefix cache."""

    ids: list[int]
    values: list[list[int]]
    cached_tokens: int


@dataclass
class Generation:
    """One sequence to generate and where its tokens go.

    `constraint` is a logits processor for this row alone (e.g. the JSON decoder); `on_token(id)` is called
    for every token except the final stop token, `on_finish(reason)` once with "stop", "length",
    "cancelled", "unloaded" (its adapter went away before it started) or "error".
    """

    prompt: list[int]
    max_tokens: int
    adapter: str | None = None
    temperature: float = 0.0
    top_p: float = 1.0
    seed: int | None = None
    constraint: Any = None
    stop_ids: frozenset[int] | None = None
    on_token: Callable[[int], None] = _noop
    on_finish: Callable[[str], None] = _noop
    cancelled: threading.Event = field(default_factory=threading.Event)
    tokens: list[int] = field(default_factory=list)
    cached_tokens: int = 0
    finish_reason: str | None = None
    _generator: torch.Generator | None = None

    def sampler(self) -> torch.Generator | None:
        if self.temperature < GREEDY_BELOW:
            return None
        if self._generator is None:
            self._generator = torch.Generator()
            self._generator.manual_seed(self.seed % SEEDS if self.seed is not None else torch.seed())
        return self._generator


class CausalEngine:
    """Continuous batching over one model. `mixed`: the model is a PeftModel whose LoRA adapters mix per row."""

    def __init__(
        self,
        model: nn.Module,
        eos_ids: Sequence[int],
        cache: PrefixCache | None = None,
        autocast: Callable[[], Any] | None = None,
        mixed: bool = False,
    ) -> None:
        self.model, self.eos = model.eval(), frozenset(eos_ids)
        self.cache, self.autocast, self.mixed = cache, autocast, mixed
        self.device = next(model.parameters()).device
        self.namespace = f"{id(self):x}/"  # one prefix cache serves every engine: keys must not collide
        self.rows: list[Generation] = []
        self.kv: KV = []
        self.mask = torch.zeros((0, 0), dtype=torch.long)
        self.retiring: dict[str, Callable[[], None]] = {}  # unloaded adapters still used by running rows
        self.gone: set[str] = set()  # unloaded adapters (internal names are never reused)
        self.lora = multi_lora.shared(model) if mixed else None
        self.cache_argument, self.keeps_logits = cache_argument(model), keeps_logits(model)

    def adapters_changed(self) -> None:
        """Re-stack the LoRA weights after adapters were loaded or deleted (now, rather than on the next step)."""
        if self.lora is not None:
            self.lora.refresh()

    @property
    def active(self) -> int:
        return len(self.rows)

    def retire(self, adapter: str, release: Callable[[], None]) -> None:
        """Call `release` (e.g. delete the adapter) once no running row uses `adapter`; no new row may."""
        self.retiring[adapter] = release
        self._release()

    def _release(self) -> None:
        busy = {g.adapter for g in self.rows}
        for adapter in [a for a in self.retiring if a not in busy]:
            self.retiring.pop(adapter)()
            self.gone.add(adapter)

    def cache_key(self, adapter: str | None) -> str:
        """The prefix cache's key for rows of `adapter` on this engine."""
        return self.namespace + (adapter or BASE)

    # --- joining -------------------------------------------------------------------------------------

    def admit(self, generations: Sequence[Generation]) -> None:
        """Prefill new rows and add those not finished by their first token to the running batch."""
        joined: list[tuple[Generation, KV]] = []
        for g in generations:
            if g.adapter in self.retiring or g.adapter in self.gone:
                self._finish(g, "unloaded")
                continue
            if g.cancelled.is_set():
                self._finish(g, "cancelled")
                continue
            try:
                kv, logits = self._prefill(g)
                finished = self._advance(g, logits[0])
            except Exception:  # noqa: BLE001 - this row's own prefill or first token: it fails alone
                log.exception("a row failed to start; it ends with an error, the others go on")
                self._finish(g, "error")
                continue
            if finished is None:
                joined.append((g, kv))
        if joined:
            self._merge(joined)

    def _prefill(self, g: Generation) -> tuple[KV, torch.Tensor]:
        name, key = g.adapter or BASE, self.cache_key(g.adapter)
        start, past = self.cache.lookup(key, g.prompt) if self.cache is not None else (0, None)
        g.cached_tokens = start
        ids = torch.tensor([g.prompt[start:]], device=self.device)
        positions = torch.arange(start, len(g.prompt), device=self.device).unsqueeze(0)
        out = self._forward(ids, positions, None, _cache(past or []), [name])
        kv = [(layer.keys, layer.values) for layer in getattr(out, self.cache_argument).layers]
        if self.cache is not None:
            self.cache.store(key, g.prompt, kv)
        return kv, out.logits[:, -1]

    def _merge(self, joined: list[tuple[Generation, KV]]) -> None:
        lengths = [kv[0][0].shape[2] for _, kv in joined]
        width = max([self.mask.shape[1], *lengths])
        masks = [_left_pad(self.mask, width)] + [
            _left_pad(torch.ones((1, n), dtype=torch.long), width) for n in lengths
        ]
        layers = []
        for layer in range(len(joined[0][1])):
            parts = [(self.kv[layer] if self.kv else None)] + [kv[layer] for _, kv in joined]
            keys = [_left_pad(p[0], width) for p in parts if p is not None and p[0].shape[0]]
            values = [_left_pad(p[1], width) for p in parts if p is not None and p[1].shape[0]]
            layers.append((torch.cat(keys), torch.cat(values)))
        self.kv = layers
        self.mask = torch.cat([m for m in masks if m.shape[0]])
        self.rows += [g for g, _ in joined]

    # --- fan-out extraction ----------------------------------------------------------------------------

    def fan_out(
        self, program: Any, prompts: Sequence[list[int]], budget: int, adapter: str | None = None, rows: int = 16
    ) -> tuple[list[FanOut | None], list[int]]:
        """Extract with one row per (document, field) (`hone.tasks.fanout.Batch`), `rows` rows at a time (at least
        one document), outside the running batch: each document is read once, through the prefix cache, and its
        fields decode as branches of its one cache row (copies per field only where the attention takes no 4D
        mask); the keys go in one forward for all fields, then each value decodes under its own field's
        constraint, a field leaving once its value is closed. The running batch waits meanwhile, as it waits
        for a prefill: a fan-out takes a few forwards after the reads.

        Returns each document's result (None: the adapter was unloaded) and the rows of each forward after
        the reads (decode steps, for the metrics)."""
        if adapter in self.retiring or adapter in self.gone:
            return [None] * len(prompts), []
        name = adapter or BASE
        per = max(1, rows // max(1, len(program.field_rows())))
        results: list[FanOut | None] = []
        steps: list[int] = []
        for start in range(0, len(prompts), per):
            chunk = list(prompts[start : start + per])
            reads = [Generation(prompt, 0, adapter=adapter) for prompt in chunk]
            batch = fanout.Batch(self.model, program, budget, 0, forward=partial(self._fan_forward, name))
            done = batch.run(chunk, self._stacked([self._prefill(g)[0] for g in reads]))
            results += [FanOut(r["ids"], r["values"], g.cached_tokens) for r, g in zip(done, reads, strict=True)]
            steps += batch.steps
        return results, steps

    def _stacked(self, kvs: list[KV]) -> tuple[Any, torch.Tensor]:
        """Single rows' states left-padded into one cache, and its attention mask."""
        lengths = [kv[0][0].shape[2] for kv in kvs]
        width = max(lengths)
        mask = torch.cat([_left_pad(torch.ones((1, n), dtype=torch.long), width) for n in lengths])
        layers = [
            (
                torch.cat([_left_pad(kv[i][0], width) for kv in kvs]),
                torch.cat([_left_pad(kv[i][1], width) for kv in kvs]),
            )
            for i in range(len(kvs[0]))
        ]
        return _cache(layers), mask

    def _fan_forward(
        self, name: str, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any, keep: Any
    ) -> tuple[torch.Tensor, Any]:
        extra = {"logits_to_keep": keep} if self.keeps_logits else {}
        out = self._forward(ids, positions, mask, cache, [name] * ids.shape[0], **extra)
        return out.logits, getattr(out, self.cache_argument)

    # --- decoding ------------------------------------------------------------------------------------

    def step(self) -> int:
        """One decode step for every running row; returns the number of rows that produced a token."""
        self._drop([i for i, g in enumerate(self.rows) if g.cancelled.is_set()], "cancelled")
        if not self.rows:
            return 0
        ids = torch.tensor([[g.tokens[-1]] for g in self.rows], device=self.device)
        positions = self.mask.sum(1, keepdim=True).to(self.device)
        self.mask = torch.cat([self.mask, torch.ones((len(self.rows), 1), dtype=torch.long)], dim=1)
        names = [g.adapter or BASE for g in self.rows]
        out = self._forward(ids, positions, self.mask.to(self.device), _cache(self.kv), names)
        self.kv = [(layer.keys, layer.values) for layer in getattr(out, self.cache_argument).layers]
        logits = out.logits[:, -1]
        done = [i for i, g in enumerate(self.rows) if self._next(g, logits[i]) is not None]
        produced = len(self.rows)
        self._drop(done, None)
        self._release()
        return produced

    def fail_all(self, reason: str = "error") -> None:
        """End every running row (after an unexpected error: the batch's state can no longer be trusted)."""
        for g in self.rows:
            self._finish(g, reason)
        self.rows, self.kv, self.mask = [], [], torch.zeros((0, 0), dtype=torch.long)

    def _next(self, g: Generation, logits: torch.Tensor) -> str | None:
        """`_advance` for a running row; an error in its own sampling or constraint ends that row alone."""
        try:
            return self._advance(g, logits)
        except Exception:  # noqa: BLE001
            log.exception("a row failed while choosing its next token; it ends with an error, the others go on")
            return self._finish(g, "error")

    def _advance(self, g: Generation, logits: torch.Tensor) -> str | None:
        """Choose the row's next token; returns the finish reason when the row is done."""
        token = self._choose(g, logits)
        stops = g.stop_ids if g.stop_ids is not None else self.eos
        if token in stops:
            return self._finish(g, "stop")
        g.tokens.append(token)
        g.on_token(token)
        if g.cancelled.is_set():
            return self._finish(g, "cancelled")
        if len(g.tokens) >= g.max_tokens:
            return self._finish(g, "length")
        return None

    def _choose(self, g: Generation, logits: torch.Tensor) -> int:
        scores = logits.float().unsqueeze(0)
        if g.constraint is not None:
            scores = g.constraint(torch.tensor([g.prompt + g.tokens]), scores)
        if g.temperature < GREEDY_BELOW:
            return int(scores.argmax())
        # shifted so the best score is 0: a tiny temperature sends the others to -inf, never to nan
        probs = torch.softmax((scores[0] - scores.max()) / g.temperature, dim=-1)
        if g.top_p < 1.0:
            probs = _top_p(probs, g.top_p)
        return int(torch.multinomial(probs.cpu(), 1, generator=g.sampler()))

    def _finish(self, g: Generation, reason: str) -> str:
        if g.finish_reason is None:
            g.finish_reason = reason
            g.on_finish(reason)
        return reason

    def _drop(self, rows: list[int], reason: str | None) -> None:
        if not rows:
            return
        if reason is not None:
            for i in rows:
                self._finish(self.rows[i], reason)
        keep = [i for i in range(len(self.rows)) if i not in set(rows)]
        self.rows = [self.rows[i] for i in keep]
        if not keep:
            self.kv, self.mask = [], torch.zeros((0, 0), dtype=torch.long)
            return
        index = torch.tensor(keep)
        mask = self.mask[index]
        first = int((mask.sum(0) > 0).nonzero()[0])  # columns that are padding for every row left go
        self.mask = mask[:, first:]
        dev = index.to(self.device)
        self.kv = [(k[dev][:, :, first:], v[dev][:, :, first:]) for k, v in self.kv]

    def _forward(
        self,
        ids: torch.Tensor,
        positions: torch.Tensor,
        mask: torch.Tensor | None,
        cache: Any,
        names: list[str],
        **extra: Any,
    ) -> Any:
        batched = self.lora.rows(names) if self.lora is not None and self.lora.usable() else None
        if self.mixed and batched is None:
            extra["adapter_names"] = names
        with (
            torch.inference_mode(),
            self.autocast() if self.autocast else contextlib.nullcontext(),
            batched or contextlib.nullcontext(),
        ):
            return self.model(
                input_ids=ids,
                position_ids=positions,
                attention_mask=mask,
                **{self.cache_argument: cache},
                use_cache=True,
                **extra,
            )


def _cache(kv: KV) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=kv) if kv else DynamicCache()


def _left_pad(t: torch.Tensor, width: int) -> torch.Tensor:
    """Pad the token axis (last for masks, -2 for KV states) on the left up to `width`."""
    if t.dim() == 2:
        return F.pad(t, (width - t.shape[1], 0))
    return F.pad(t, (0, 0, width - t.shape[2], 0))


def _top_p(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    ordered, order = probs.sort(descending=True)
    keep = ordered.cumsum(0) - ordered < top_p  # the smallest set whose mass reaches top_p
    keep[0] = True  # the most likely token always stays, however small top_p is (or rounds to in float32)
    filtered = torch.zeros_like(probs)
    filtered[order[keep]] = probs[order[keep]]
    return filtered / filtered.sum()
