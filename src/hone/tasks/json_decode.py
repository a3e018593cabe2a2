"""Constrained decoding of one JSON object of declared fields: the model chooses the values, nothing else.

The object is written in pieces. The keys ('{"brand":', ' "color":', ...) are forced token by token; each
value piece is chosen by the model within what keeps the object valid: a space, `null` or a JSON string (for
a field with allowed values: one of those, or `null`), and the delimiter after it (`,`, or `}` after the
last), after which EOS is forced. Training tokenises its answers in exactly these pieces, each on its own
(`answer_pieces` is shared with `hone.tasks.extract`), so the tokens forced here are the tokens the model
was trained on: hone's template-parity rule, applied to extraction. The boundaries are where byte-level BPE
puts them anyway (' "' opens a value, '",' closes one), so the pieces tokenise as the whole JSON text
would, and an untuned model meets the tokens it knows.

Each step costs a few tensor ops per row: which tokens may come next in a value is read from tables built
once per tokenizer, by running every token's text through a small lexer of JSON values from each lexer
state. A value that reaches its field's budget (`value_budget` of the longest value of that field in the
training data, at most `max_value_tokens`), or a row whose token budget runs short, is closed by the
shortest way out (a token like '",' or the rest of `null`), so greedy decoding always produces text that
`json.loads` parses into exactly the declared fields, within `max_new_tokens`.

KV-cache reuse: the prompt is prefilled once and the whole object (forced keys and chosen values) is
decoded in one `generate` call per batch of documents, so no field re-encodes the prompt; a forced token
costs one cached decoding step. `hone.tasks.fanout` decodes the same value slots one row per field instead
(`JsonProgram.field_rows`), forced tokens without steps.
"""

from __future__ import annotations

import json
import math
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList

MAX_VALUE_TOKENS = 48  # longer values are closed: a runaway string cannot eat the whole budget

# Lexer states of one value piece: an optional space, the value, the delimiter. OPEN is a string with no
# character yet (an empty string is not a value); CLOSED is a complete value waiting for its delimiter.
START, SPACED, N, NU, NUL, OPEN, STR, ESC, CLOSED, DONE = range(10)
LIVE = DONE  # states 0..LIVE-1 can take another token
INVALID = -1
ESCAPES = frozenset('"\\/bfnrt')  # \uXXXX is never generated
_NULL_NEXT = {N: ("u", NU), NU: ("l", NUL), NUL: ("l", CLOSED)}
_SPECIAL = re.compile(r'["\\\x00-\x1f]')  # what a JSON string cannot hold unescaped


def value_budget(chars: int) -> int:
    """Tokens a free value piece may take when the field's longest known value has `chars` characters: one
    token per character (BPE tokens hold at least one character of ASCII text) plus the opening and closing
    pieces and a margin of a few tokens for values a little longer than any seen."""
    return chars + 6


def answer_pieces(fields: Sequence[str], values: Sequence[str | None]) -> list[str]:
    """The object as the decoder writes it: key pieces and value pieces, alternating.

    ['{"a":', ' "x",', ' "b":', ' null}'] for {"a": "x", "b": None}; values are text or None (null).
    """
    if not fields:
        return ["{}"]
    pieces = []
    for i, (name, value) in enumerate(zip(fields, values, strict=True)):
        pieces.append(("{" if i == 0 else " ") + json.dumps(name, ensure_ascii=False) + ":")
        pieces.append(_value_piece(value, "}" if i == len(fields) - 1 else ","))
    return pieces


def _value_piece(text: str | None, end: str) -> str:
    return " " + ("null" if text is None else json.dumps(text, ensure_ascii=False)) + end


def read_object(text: str, fields: Sequence[str]) -> dict[str, str | None] | None:
    """The decoded answer as {field: string or None}; None when it is not an object of exactly `fields`."""
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or set(value) != set(fields):
        return None
    if not all(v is None or isinstance(v, str) for v in value.values()):
        return None
    return {name: value[name] for name in fields}


# --- per-vocabulary tables --------------------------------------------------------------------------------


def _step(state: int, char: str, end: str) -> int:
    """One character of a value piece ending in `end`."""
    if state == START and char == " ":
        return SPACED
    if state in (START, SPACED):
        return OPEN if char == '"' else N if char == "n" else INVALID
    if state in _NULL_NEXT:
        expected, after = _NULL_NEXT[state]
        return after if char == expected else INVALID
    if state == ESC:
        return STR if char in ESCAPES else INVALID
    if state in (OPEN, STR):
        if char == '"':
            return CLOSED if state == STR else INVALID
        if char == "\\":
            return ESC
        return INVALID if ord(char) < 0x20 else STR
    if state == CLOSED:
        return DONE if char == end else INVALID
    return INVALID  # nothing may follow the delimiter inside the same token


def _run(state: int, text: str, end: str) -> int:
    """The lexer state after `text`, or INVALID; a token that adds no text never helps."""
    if not text:
        return INVALID
    if state in (OPEN, STR) and not _SPECIAL.search(text):
        return STR  # most of a vocabulary: plain text inside a string
    for char in text:
        state = _step(state, char, end)
        if state == INVALID:
            break
    return state


@dataclass(frozen=True)
class TokenTable:
    """For one vocabulary and delimiter: the lexer state after each token from each live state, and what
    finishing the value piece costs."""

    size: int
    next_state: torch.Tensor  # (LIVE, size) long; INVALID where the token cannot follow
    cost: torch.Tensor  # (LIVE, size) float: 1 + fewest tokens to finish after it; inf where not allowed
    finish: tuple[int | float, ...]  # per state (DONE included): fewest tokens to the end of the piece


_TABLES: weakref.WeakKeyDictionary[Any, dict[str, TokenTable]] = weakref.WeakKeyDictionary()


def token_table(tokenizer: Any, end: str) -> TokenTable:
    """The table of `tokenizer`'s vocabulary for value pieces ending in `end`, built once per tokenizer
    object (decoding every token takes about a second for a 50k vocabulary)."""
    tables = _TABLES.get(tokenizer)
    if tables is None or any(t.size != len(tokenizer) for t in tables.values()):
        texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))], clean_up_tokenization_spaces=False)
        special = set(tokenizer.all_special_ids)
        texts = ["" if i in special else text for i, text in enumerate(texts)]
        tables = {e: _build_table(texts, e) for e in (",", "}")}
        _TABLES[tokenizer] = tables
    return tables[end]


def _build_table(texts: Sequence[str], end: str) -> TokenTable:
    rows = [[_run(state, text, end) for text in texts] for state in range(LIVE)]
    finish = _fewest_tokens([set(row) - {INVALID} for row in rows])
    if math.isinf(finish[START]):
        raise ValueError("this tokenizer cannot write a JSON string or null token by token")
    nxt = torch.tensor(rows, dtype=torch.long)
    after = torch.tensor([*finish, math.inf], dtype=torch.float32)  # index INVALID (-1) -> inf
    return TokenTable(len(texts), nxt, 1 + after[nxt], finish)


def _fewest_tokens(moves: Sequence[set[int]]) -> tuple[int | float, ...]:
    """Shortest paths (in tokens) from every lexer state to DONE, given the states each state's tokens lead to."""
    finish: list[int | float] = [math.inf] * LIVE + [0]
    for _ in range(LIVE):
        finish = [min((1 + finish[t] for t in moves[s]), default=math.inf) for s in range(LIVE)] + [0]
    return tuple(finish)


# --- the plan of one object ---------------------------------------------------------------------------------


@dataclass
class _Node:
    """A trie of the allowed values' token sequences; a leaf is a complete value."""

    children: dict[int, _Node] = field(default_factory=dict)
    finish: int = 0  # fewest tokens from here to a leaf


def _trie(sequences: Sequence[Sequence[int]]) -> _Node:
    root = _Node()
    for ids in sequences:
        node = root
        for token in ids:
            node = node.children.setdefault(token, _Node())
    _set_finish(root)
    return root


def _set_finish(node: _Node) -> int:
    node.finish = min((1 + _set_finish(c) for c in node.children.values()), default=0)
    return node.finish


@dataclass(frozen=True)
class _Forced:
    ids: tuple[int, ...]


@dataclass(frozen=True)
class _Value:
    end: str  # the delimiter that closes the piece: "," or "}"
    choices: _Node | None  # None: any non-empty string, or null
    budget: int = MAX_VALUE_TOKENS  # a free value reaching this many tokens is closed the shortest way


class JsonProgram:
    """One object's token-level plan: forced pieces and value slots, and the fewest tokens each still needs.

    Build it once per tokenizer and field list; `processors()` gives the per-`generate` state machines.
    """

    def __init__(
        self,
        tokenizer: Any,
        fields: Sequence[str],
        allowed: Mapping[str, Sequence[str] | None],
        max_value_tokens: int = MAX_VALUE_TOKENS,
        value_chars: Mapping[str, int] | None = None,
    ) -> None:
        """`value_chars`: the longest value of each field in the training data, in characters; a free value
        of that field is closed after `value_budget(chars)` tokens (at most `max_value_tokens`), so a model
        that rambles, an untuned one most of all, stops at its own field's length and not at a shared cap."""
        if tokenizer.eos_token_id is None:
            raise ValueError("constrained decoding needs a tokenizer with an EOS token to end the object")
        self.tables = {end: token_table(tokenizer, end) for end in (",", "}")}
        self.max_value_tokens = max_value_tokens

        def ids(text: str) -> tuple[int, ...]:
            return tuple(tokenizer(text, add_special_tokens=False)["input_ids"])

        items: list[_Forced | _Value] = []
        for i, piece in enumerate(answer_pieces(fields, [None] * len(fields))):  # keys at even positions
            if i % 2 == 0:
                items.append(_Forced(ids(piece)))
                continue
            name = fields[i // 2]
            end, values = piece[-1], allowed.get(name)
            choices = None if values is None else _trie([ids(_value_piece(v, end)) for v in [*values, None]])
            chars = (value_chars or {}).get(name)
            budget = max_value_tokens if chars is None else min(max_value_tokens, value_budget(chars))
            items.append(_Value(end, choices, budget))
        self.eos_id: int = tokenizer.eos_token_id
        self.open_ids = ids("{")  # the object's opening alone: what a fan-out row puts before a later key
        items.append(_Forced((self.eos_id,)))
        self.items = items
        costs = [self._cost(item) for item in items]
        self.after = [sum(costs[i + 1 :]) for i in range(len(items))]  # tokens needed once item i is done
        self.min_tokens = sum(costs)
        self.forced_tokens = sum(len(item.ids) for item in items if isinstance(item, _Forced))

    def field_rows(self) -> list[tuple[tuple[int, ...], _Value]]:
        """Per field, in order: the forced tokens a fan-out row writes before the value, and the value slot.

        A row sees the object's opening and its own key only: '{"brand":' for the first field (the object's
        own first key piece), '{' + ' "colour":' for a later one (the key piece as the object tokenises it,
        after the opening; byte-level BPE splits '{ "colour":' the same way). Its value piece keeps the
        delimiter it has in the object (',' or '}'), so each value is written in the tokens of training.
        """
        rows = []
        for i in range(0, len(self.items) - 1, 2):
            key, value = self.items[i], self.items[i + 1]
            if not isinstance(value, _Value):  # no fields: the object is '{}' and EOS
                break
            assert isinstance(key, _Forced)
            rows.append((key.ids if i == 0 else self.open_ids + key.ids, value))
        return rows

    def _cost(self, item: _Forced | _Value) -> int:
        if isinstance(item, _Forced):
            return len(item.ids)
        return item.choices.finish if item.choices is not None else int(self.tables[item.end].finish[START])

    def processors(self, max_new_tokens: int) -> LogitsProcessorList:
        """Fresh state machines for one `generate` call that may produce `max_new_tokens` tokens."""
        if self.min_tokens > max_new_tokens:
            raise ValueError(
                f"the JSON object needs at least {self.min_tokens} tokens but generate.max_new_tokens is "
                f"{max_new_tokens}; raise generate.max_new_tokens (the answers need room for their values too)"
            )
        return LogitsProcessorList([JsonObjectProcessor(self, max_new_tokens)])


@dataclass
class _Row:
    item: int = 0  # index into the program's items; past the end once EOS is written
    pos: int = 0  # tokens written in the current item
    state: int = START  # lexer state of a free value
    node: _Node | None = None  # trie node of a value with allowed choices


class JsonObjectProcessor(LogitsProcessor):
    """Masks each row's next-token scores to what keeps its object valid (one state machine per row).

    Rows start generating in the same column (prompts are left-padded); finished rows may only repeat EOS,
    which `generate` replaces with padding anyway.
    """

    def __init__(self, program: JsonProgram, max_new_tokens: int) -> None:
        self.program, self.budget = program, max_new_tokens
        self.start: int | None = None
        self.rows: list[_Row] = []
        self.cost: dict[str, torch.Tensor] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        if self.start is None:
            self.start = input_ids.shape[1]
            self.rows = [self._enter(_Row()) for _ in range(input_ids.shape[0])]
            self.cost = {end: _fit(table.cost, scores) for end, table in self.program.tables.items()}
        written = input_ids.shape[1] - self.start
        if written:
            for row, token in zip(self.rows, input_ids[:, -1].tolist(), strict=True):
                self._advance(row, token)
        allowed = torch.zeros_like(scores, dtype=torch.bool)
        for r, row in enumerate(self.rows):
            self._allow(row, allowed[r], self.budget - written)
        return scores.masked_fill(~allowed, -math.inf)

    def _enter(self, row: _Row) -> _Row:
        items = self.program.items
        row.pos, row.state = 0, START
        item = items[row.item] if row.item < len(items) else None
        row.node = item.choices if isinstance(item, _Value) else None
        return row

    def _advance(self, row: _Row, token: int) -> None:
        items = self.program.items
        if row.item >= len(items):
            return  # finished: the rest is padding
        item = items[row.item]
        row.pos += 1
        if isinstance(item, _Forced):
            done = row.pos == len(item.ids)
        elif item.choices is None:
            row.state = int(self.program.tables[item.end].next_state[row.state, token])
            done = row.state == DONE
        else:
            assert row.node is not None
            row.node = row.node.children[token]
            done = not row.node.children
        if done:
            row.item += 1
            self._enter(row)

    def _allow(self, row: _Row, allowed: torch.Tensor, left: int) -> None:
        """Set `allowed` for one row that may still write `left` tokens (this one included)."""
        program = self.program
        if row.item >= len(program.items):
            allowed[program.eos_id] = True
            return
        item = program.items[row.item]
        if isinstance(item, _Forced):
            allowed[item.ids[row.pos]] = True
            return
        limit = left - program.after[row.item]  # tokens this value may still take
        if item.choices is None:
            if row.pos >= item.budget:
                limit = min(limit, int(program.tables[item.end].finish[row.state]))
            allowed |= self.cost[item.end][row.state] <= limit
            return
        assert row.node is not None
        for token, child in row.node.children.items():
            allowed[token] = 1 + child.finish <= limit


def _fit(cost: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """A cost table on the scores' device, cut or padded (never allowed) to the model's vocabulary width."""
    width = scores.shape[-1]
    if cost.shape[1] < width:
        cost = torch.cat([cost, torch.full((LIVE, width - cost.shape[1]), math.inf)], dim=1)
    return cost[:, :width].to(scores.device)
