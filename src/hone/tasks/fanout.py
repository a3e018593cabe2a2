"""Fan-out decoding of an extraction: read the document once, then decode every field's value in a row of its own.

One prefill per prompt (instruction + document), its KV states kept in one cache row per document and
never copied per field: the fields' rows are tree branches (`hone.tasks.tree`, the layout fan-out runs are
trained on). Each forward feeds a document's cache row one block: the pending tokens of each of its live
fields, one field after another (first the forced key, `JsonProgram.field_rows`: the object's opening and
that field's key only, never the other fields), at position ids that continue that field's own row after
the document, under a 4D mask in which a token sees the document and the tokens of its own field up to
itself, never another field's; block padding sees only itself (a query that sees nothing gives NaN states,
which its key and value would carry into the cache). Logits are kept at each field's last token only
(`logits_to_keep` per row). Then each field decodes its value under its own constraint (`ValueSlot`: null, a
JSON string, or one of the field's allowed values, closed by its delimiter within the field's budget), all
documents' fields in one forward; a closed field feeds nothing more, and a document whose fields are all
closed leaves the cache. The cache grows by a block per forward (a token per live field, plus what jumps
forward), where copies would have held the document once per field: 20 copies of a 300-token document on
SmolLM2-135M are 276 MB, re-concatenated on every step.

Attention that takes no 4D mask (flash kernels), and a model with sliding-window layers (whose cache crops
the states the mask's columns name), gets copies instead: the document's states repeated into one
row per field (`DynamicCache.batch_select_indices`), each row fed its own tokens, right-padded inside the
block with attention-mask zeros and explicit position ids (transformers 5 builds the 4D mask from a 2D mask
with holes anywhere, `masking_utils.padding_mask_function`), a row's cache row dropped once its value is
closed. Both layouts give the values of one greedy `generate` per field (tests).

Jump-forward: a token the constraint forces (the only one allowed: the rest of `null`, the one way a trie
value goes on, the closing '",' of a value at its budget) costs no decode step of its own. It is appended
with the chosen token before it and fed in the same forward, and a row that it closes is fed nothing more.

The object is assembled in field order from the object's key pieces and the decoded value pieces, so it is
the text the whole-object decoder would write for these values and always parses into exactly the fields.
Forwards per batch: one prefill, one for the keys, then one per chosen token of the longest value after
its first: the longest value, not the sum over fields.

`Batch` takes the documents already read and a forward of the caller's: the serving engine
(`CausalEngine.fan_out`) reads each document through its prefix cache and runs the forwards with its
adapters per row, so a served fan-out decodes exactly as `decode` does.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from transformers import LogitsProcessor

from hone.progress import tick
from hone.tasks import tree
from hone.tasks.causal import cache_argument, keeps_logits, pad_id
from hone.tasks.json_decode import DONE, START, JsonProgram, TokenTable, _Node, _Value

ScoresHook = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
DOCUMENT, PADDING = -1, -2  # owners of cache columns that belong to no field
# (ids, attention mask, position ids, cache, logits to keep: the last n, or per row its positions) -> (logits, cache)
Forward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, Any, int | torch.Tensor], tuple[torch.Tensor, Any]]


@dataclass
class ValueSlot:
    """One row writing one field's value piece: which tokens may come next, and how far it has got."""

    value: _Value
    table: TokenTable  # the vocabulary table for the value's delimiter
    cap: int  # most tokens the piece may take (never fewer than it needs)
    pos: int = 0
    state: int = START  # lexer state of a free value
    node: _Node | None = None  # trie node of a value with allowed choices
    _mask: torch.Tensor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.node = self.value.choices

    @property
    def done(self) -> bool:
        if self.node is None:
            return self.state == DONE
        return not self.node.children

    def allowed(self) -> torch.Tensor:
        """A bool mask over the tokenizer's vocabulary (computed once per position)."""
        if self._mask is None:
            self._mask = self._allowed()
        return self._mask

    def _allowed(self) -> torch.Tensor:
        limit = self.cap - self.pos
        if self.node is None:
            if self.pos >= self.value.budget:  # at the field's budget: close it the shortest way
                limit = min(limit, int(self.table.finish[self.state]))
            return self.table.cost[self.state] <= limit
        mask = torch.zeros(self.table.size, dtype=torch.bool)
        for token, child in self.node.children.items():
            mask[token] = 1 + child.finish <= limit
        return mask

    def forced(self) -> int | None:
        """The next token when it is the only one allowed, else None."""
        if self.node is not None and len(self.node.children) > 1:
            return None
        allowed = self.allowed().nonzero()
        return int(allowed[0]) if allowed.numel() == 1 else None

    def advance(self, token: int) -> None:
        self.pos += 1
        self._mask = None
        if self.node is None:
            self.state = int(self.table.next_state[self.state, token])
        else:
            self.node = self.node.children[token]

    def jump(self) -> list[int]:
        """Append every token the constraint forces from here; the tokens appended."""
        run: list[int] = []
        while not self.done and (token := self.forced()) is not None:
            self.advance(token)
            run.append(token)
        return run


def value_slot(program: JsonProgram, index: int, max_new_tokens: int) -> ValueSlot:
    """The slot of field `index`'s value; it may take `max_new_tokens` tokens, or as few as it needs."""
    value = program.field_rows()[index][1]
    table = program.tables[value.end]
    need = value.choices.finish if value.choices is not None else int(table.finish[START])
    return ValueSlot(value, table, max(max_new_tokens, need))


def row_prompts(program: JsonProgram, prompt: list[int]) -> list[list[int]]:
    """Each field's row as a prompt of its own: the document's prompt and that field's fan-out key (what the
    row sees: `generate` on these with `ValueProcessor` is the reference a fan-out decode must equal)."""
    return [[*prompt, *key] for key, _ in program.field_rows()]


def assemble(program: JsonProgram, values: Sequence[Sequence[int]]) -> list[int]:
    """The object's tokens from each field's value piece, after the object's own key pieces (no EOS)."""
    if not values:
        return list(program.items[0].ids)  # no fields: '{}'
    keys = [item.ids for item in program.items[0:-1:2]]
    return [t for key, value in zip(keys, values, strict=True) for t in (*key, *value)]


def mask_scores(scores: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Scores with every token outside `allowed` (rows of vocabulary masks; wider logits: never) at -inf."""
    n = min(scores.shape[-1], allowed.shape[-1])
    out = torch.full_like(scores, -math.inf)
    out[:, :n] = scores[:, :n].masked_fill(~allowed[:, :n].to(scores.device), -math.inf)
    return out


class ValueProcessor(LogitsProcessor):
    """For `generate`: row r writes the value piece of field `fields[r]` (its prompt ends with that field's
    `field_rows` key), then EOS. The per-field reference a fan-out decode must equal."""

    def __init__(self, program: JsonProgram, fields: Sequence[int], max_new_tokens: int) -> None:
        self.program, self.fields, self.budget = program, list(fields), max_new_tokens
        self.slots: list[ValueSlot] | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.slots is None:
            self.slots = [value_slot(self.program, f, self.budget) for f in self.fields]
        else:
            for slot, token in zip(self.slots, input_ids[:, -1].tolist(), strict=True):
                if not slot.done:
                    slot.advance(token)
        eos = torch.zeros(self.program.tables[","].size, dtype=torch.bool)
        eos[self.program.eos_id] = True
        return mask_scores(scores, torch.stack([eos if s.done else s.allowed() for s in self.slots]))


def decode(
    model: nn.Module,
    tokenizer: Any,
    program: JsonProgram,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    batch_size: int,
    autocast: Any = None,
    scores_hook: ScoresHook | None = None,
) -> list[dict[str, Any]]:
    """Greedy objects for token-id prompts, in batches of about `batch_size` rows: `batch_size // fields`
    documents at a time (at least one), each fanned out to one row per field (each row holds a copy of its
    document's KV states, so rows, not documents, bound the memory).

    Each result: {"ids": the object's tokens (keys and values, no EOS), "values": each field's value piece
    tokens, "logprob": mean log-prob of the tokens the model chose (forced ones left out; 0.0 when none),
    "chosen": how many it chose}. Each value may take `max_new_tokens` tokens at most.
    `scores_hook(ids, scores)` (tests: random scores) sees the decoding rows' raw scores before the
    constraint; `ids` is empty.
    """
    _check(model)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[dict[str, Any]] = [{}] * len(prompts)
    documents = max(1, batch_size // max(1, len(program.field_rows())))
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), documents):
            idx = order[start : start + documents]
            batch = Batch(model, program, max_new_tokens, pad_id(tokenizer), scores_hook)
            for i, result in zip(idx, batch.run([prompts[i] for i in idx]), strict=True):
                results[i] = result
            tick(len(idx))
    model.train(was_training)
    return results


def _check(model: nn.Module) -> None:
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and peft_config.is_prompt_learning:
        raise ValueError(
            "generate.decode fanout feeds the model's KV cache directly, which prompt_tuning/prefix_tuning "
            "adapters do not support; set generate.decode: object"
        )


class Batch:
    """One batch of documents fanned out to one row per (document, field).

    `forward(ids, mask, position_ids, cache, keep)` -> (logits, the cache after them) runs the model, passing
    `keep` as `logits_to_keep` where the model takes it (`keeps_logits`); by default the model itself (the
    serving engine passes its own: adapters per row, autocast). `steps` lists the rows of every forward
    after the documents' (the keys', then one per chosen token), for a caller that counts decode steps.
    """

    def __init__(
        self,
        model: nn.Module,
        program: JsonProgram,
        cap: int,
        pad: int,
        hook: ScoresHook | None = None,
        forward: Forward | None = None,
    ) -> None:
        self.model, self.program, self.cap, self.pad, self.hook = model, program, cap, pad, hook
        self.device = next(model.parameters()).device
        self.keep_logits, self.cache_name = keeps_logits(model), cache_argument(model)
        self.forward = forward or self._model_forward
        self.shared = tree.reads_4d_mask(model) and not _windowed(model)
        self.place: list[int] = []  # shared: each row's next position
        self.owner = torch.zeros(0, 0, dtype=torch.long)  # shared: per cache column, DOCUMENT, PADDING or a field
        self.docs: list[int] = []  # shared: the documents in the cache, in its row order
        self.fields = 0
        self.cache: Any = None
        self.mask = torch.zeros(0, 0, dtype=torch.long)
        self.steps: list[int] = []

    def run(self, prompts: list[list[int]], prefilled: tuple[Any, torch.Tensor] | None = None) -> list[dict[str, Any]]:
        """Objects for `prompts`. `prefilled`: (their KV cache, its 2D attention mask), the prompts already read
        (left-padded, as `_prefill` leaves them: the serving engine reads each through its prefix cache)."""
        rows = self.program.field_rows()
        if not rows:
            return [self._result([], []) for _ in prompts]
        if prefilled is None:
            positions = self._prefill(prompts)
        else:
            self.cache, self.mask = prefilled
            positions = self.mask.sum(-1)
        slots = [value_slot(self.program, f, self.cap) for _ in prompts for f in range(len(rows))]
        values = [slot.jump() for slot in slots]  # a value may open with forced tokens: fed with the key
        pending = [[*rows[r % len(rows)][0], *forced] for r, forced in enumerate(values)]
        live = [r for r, slot in enumerate(slots) if not slot.done]
        if self.shared:
            self.place = [int(positions[r // len(rows)]) for r in range(len(slots))]
            self.owner = torch.where(self.mask.bool(), DOCUMENT, PADDING)
            self.docs, self.fields = list(range(len(prompts))), len(rows)
        else:
            doc = torch.arange(len(prompts)).repeat_interleave(len(rows))
            self._select(doc[live])
            positions = positions[doc[live]]
        chosen: list[list[float]] = [[] for _ in prompts]
        while live:
            self.steps.append(len(live))
            if self.shared:
                scores = self._feed_shared(live, [pending[r] for r in live])
            else:
                scores, positions = self._feed([pending[r] for r in live], positions)
            picked, logprobs = self._choose([slots[r] for r in live], scores)
            for r, token, logprob in zip(live, picked, logprobs, strict=True):
                slots[r].advance(token)
                pending[r] = [token, *slots[r].jump()]
                values[r] += pending[r]
                chosen[r // len(rows)].append(logprob)
            keep = [k for k, r in enumerate(live) if not slots[r].done]
            if len(keep) < len(live):
                live = [live[k] for k in keep]
                if not self.shared:
                    self._select(torch.tensor(keep, dtype=torch.long))
                    positions = positions[keep]
        return [self._result(values[d * len(rows) : (d + 1) * len(rows)], chosen[d]) for d in range(len(prompts))]

    def _result(self, values: list[list[int]], chosen: list[float]) -> dict[str, Any]:
        mean = sum(chosen) / len(chosen) if chosen else 0.0
        return {"ids": assemble(self.program, values), "values": values, "logprob": mean, "chosen": len(chosen)}

    def _prefill(self, prompts: list[list[int]]) -> torch.Tensor:
        """Left-padded prompts through the model once; the position each document's next token takes."""
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt)
            mask[row, width - len(prompt) :] = 1
        position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
        self._forward(ids, mask, position_ids, 1)
        self.mask = mask
        return mask.sum(-1)

    def _feed(self, pending: list[list[int]], positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each live row's pending tokens in one forward (right-padded inside the block, masked); the scores
        after each row's last token, and the rows' next positions."""
        lengths = torch.tensor([len(p) for p in pending])
        width = int(lengths.max())
        ids = torch.full((len(pending), width), self.pad, dtype=torch.long)
        for row, tokens in enumerate(pending):
            ids[row, : len(tokens)] = torch.tensor(tokens)
        block = (torch.arange(width) < lengths[:, None]).long()
        position_ids = positions[:, None] + torch.arange(width)
        self.mask = torch.cat([self.mask, block], dim=1)
        keep = width - int(lengths.min()) + 1
        logits = self._forward(ids, self.mask, position_ids, keep)
        last = logits[torch.arange(len(pending)), lengths - 1 - (width - logits.shape[1])]
        return last.float(), positions + lengths

    def _feed_shared(self, live: list[int], pending: list[list[int]]) -> torch.Tensor:
        """The live rows' pending tokens, one cache row per document: each document's block holds its fields'
        tokens one field after another, each seeing the document and its own field's tokens only (a 4D mask),
        at positions that continue its own field. The scores after each row's last token, in `live`'s order."""
        docs = sorted({r // self.fields for r in live})
        if docs != self.docs:  # a document whose fields are all closed leaves the cache
            index = torch.tensor([self.docs.index(d) for d in docs])
            self.cache.batch_select_indices(index.to(self.device))
            self.owner, self.docs = self.owner[index], docs
        blocks: dict[int, list[tuple[int, list[int]]]] = {d: [] for d in docs}
        for r, tokens in zip(live, pending, strict=True):
            blocks[r // self.fields].append((r, tokens))
        width = max(sum(len(tokens) for _, tokens in blocks[d]) for d in docs)
        ids = torch.full((len(docs), width), self.pad, dtype=torch.long)
        positions = torch.zeros((len(docs), width), dtype=torch.long)
        owner = torch.full((len(docs), width), PADDING, dtype=torch.long)
        last: list[list[int]] = []
        for i, d in enumerate(docs):
            column, ends = 0, []
            for r, tokens in blocks[d]:
                end = column + len(tokens)
                ids[i, column:end] = torch.tensor(tokens)
                positions[i, column:end] = torch.arange(self.place[r], self.place[r] + len(tokens))
                owner[i, column:end] = r % self.fields
                self.place[r] += len(tokens)
                column, ends = end, [*ends, end - 1]
            last.append(ends)
        keys = torch.cat([self.owner, owner], dim=1)
        query = self.owner.shape[1] + torch.arange(width)[:, None]
        key = torch.arange(keys.shape[1])[None, :]
        field, seen = owner[:, :, None], keys[:, None, :]
        real = field >= 0
        # a real token sees the document and its own field up to itself; padding sees only itself (never nothing:
        # a query that sees no key gives NaN states, which its key and value would carry into the cache)
        see = (real & ((seen == DOCUMENT) | ((seen == field) & (key <= query)))) | (~real & (key == query))
        self.owner = keys
        most = max(len(ends) for ends in last)
        keep = torch.tensor([ends + ends[-1:] * (most - len(ends)) for ends in last])
        logits = self._forward(ids, tree.model_mask(self.model, see[:, None]), positions, keep)
        if not self.keep_logits:  # every position came back
            logits = logits.gather(1, keep[:, :, None].expand(-1, -1, logits.shape[-1]))
        return torch.cat([logits[i, : len(ends)] for i, ends in enumerate(last)]).float()

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor, keep: int | torch.Tensor
    ) -> torch.Tensor:
        keep = keep.to(self.device) if isinstance(keep, torch.Tensor) else keep  # the model gathers with it
        logits, self.cache = self.forward(
            ids.to(self.device), mask.to(self.device), position_ids.to(self.device), self.cache, keep
        )
        return logits.cpu()

    def _model_forward(
        self, ids: torch.Tensor, mask: torch.Tensor, position_ids: torch.Tensor, cache: Any, keep: int | torch.Tensor
    ) -> tuple[torch.Tensor, Any]:
        extra = {"logits_to_keep": keep} if self.keep_logits else {}
        name = self.cache_name
        out = self.model(
            input_ids=ids, attention_mask=mask, position_ids=position_ids, use_cache=True, **{name: cache}, **extra
        )
        return out.logits, getattr(out, name)

    def _choose(self, slots: list[ValueSlot], scores: torch.Tensor) -> tuple[list[int], list[float]]:
        """Greedy tokens under each row's constraint, and their log-probabilities (of the masked scores)."""
        if self.hook is not None:
            scores = self.hook(torch.zeros((len(slots), 0), dtype=torch.long), scores)
        masked = mask_scores(scores, torch.stack([slot.allowed() for slot in slots]))
        picked = masked.argmax(-1)
        logprobs = torch.log_softmax(masked, -1).gather(-1, picked[:, None]).squeeze(-1)
        return picked.tolist(), logprobs.tolist()

    def _select(self, rows: torch.Tensor) -> None:
        """Keep (or repeat: the fork) these rows of the cache and the attention mask."""
        self.cache.batch_select_indices(rows.to(self.device))
        self.mask = self.mask[rows]


def _windowed(model: nn.Module) -> bool:
    """Whether some layer attends over a sliding window: its cache layer crops the states to the window, so
    the block mask's key columns would no longer line up with them (such a model gets copies)."""
    config = getattr(model, "config", None)
    types = getattr(config, "layer_types", None)
    if types is not None:
        return any("sliding" in str(kind) for kind in types)
    return bool(getattr(config, "sliding_window", None)) and getattr(config, "use_sliding_window", True) is not False
