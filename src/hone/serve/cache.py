"""The prefix KV cache: prompts' key/value states kept in LRU order, bounded in bytes.

A new prompt reuses the states of the cached prompt it shares the longest token prefix with (same
adapter: an adapter changes every layer's states), so a shared system prompt or a document queried
again is read once. States at position i depend only on tokens up to i (causal attention), which is
why a prefix of a longer prompt's states is exactly the shorter prompt's states.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

KV = list[tuple[torch.Tensor, torch.Tensor]]  # per layer (keys, values), each (1, heads, tokens, dim)


@dataclass
class Entry:
    tokens: np.ndarray
    kv: KV
    nbytes: int


def kv_bytes(kv: KV) -> int:
    return sum(k.numel() * k.element_size() + v.numel() * v.element_size() for k, v in kv)


def common_prefix(a: np.ndarray, b: np.ndarray) -> int:
    n = min(len(a), len(b))
    differ = np.flatnonzero(a[:n] != b[:n])
    return int(differ[0]) if len(differ) else n


class PrefixCache:
    """Thread-safe LRU of (adapter, prompt tokens) -> KV states, at most `max_bytes` in all."""

    def __init__(self, max_bytes: int, min_tokens: int = 8, metrics: Any = None) -> None:
        self.max_bytes, self.min_tokens, self.metrics = max_bytes, min_tokens, metrics
        self.entries: OrderedDict[tuple[str, bytes], Entry] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = self.tokens_saved = 0
        self._lock = threading.Lock()

    def lookup(self, adapter: str, prompt: list[int]) -> tuple[int, KV | None]:
        """(n, states of the first n prompt tokens) for the best cached prefix; (0, None) on a miss.

        At least one prompt token is always left to run, since the model's next-token scores come from it.
        """
        tokens = np.asarray(prompt, dtype=np.int64)
        with self._lock:
            best, best_key = 0, None
            for key, entry in self.entries.items():
                if key[0] == adapter and (n := common_prefix(tokens, entry.tokens)) > best:
                    best, best_key = n, key
            best = min(best, len(prompt) - 1)
            if best_key is None or best < self.min_tokens:
                self.misses += 1
                if self.metrics is not None:
                    self.metrics.prefix_misses.inc()
                return 0, None
            self.entries.move_to_end(best_key)
            self.hits += 1
            if self.metrics is not None:
                self.metrics.prefix_hits.inc()
            self.tokens_saved += best
            kv = self.entries[best_key].kv
            return best, [(k[:, :, :best], v[:, :, :best]) for k, v in kv]

    def store(self, adapter: str, prompt: list[int], kv: KV) -> None:
        """Keep a prompt's states; a cached prompt this one extends is dropped (this entry covers it)."""
        nbytes = kv_bytes(kv)
        if nbytes > self.max_bytes or len(prompt) < self.min_tokens:
            return
        tokens = np.asarray(prompt, dtype=np.int64)
        key = (adapter, tokens.tobytes())
        with self._lock:
            covered = [
                k
                for k, e in self.entries.items()
                if k[0] == adapter and len(e.tokens) <= len(tokens) and common_prefix(tokens, e.tokens) == len(e.tokens)
            ]
            for k in covered:
                self.bytes -= self.entries.pop(k).nbytes
            self.entries[key] = Entry(tokens, kv, nbytes)
            self.bytes += nbytes
            while self.bytes > self.max_bytes:
                _, evicted = self.entries.popitem(last=False)
                self.bytes -= evicted.nbytes

    def drop_adapter(self, adapter: str) -> None:
        """Forget an unloaded adapter's states."""
        with self._lock:
            for key in [k for k in self.entries if k[0] == adapter]:
                self.bytes -= self.entries.pop(key).nbytes
