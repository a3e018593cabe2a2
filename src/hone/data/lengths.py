"""Token lengths of texts, and their summary: what the data check, the tasks' own length checks and the
estimator measure long inputs with."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

TOKENIZE_CHUNK = 1000


def token_lengths(texts: Sequence[str], tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Tokens per text with special tokens, untruncated, tokenized in batches."""
    lengths: list[int] = []
    for start in range(0, len(texts), TOKENIZE_CHUNK):
        batch = list(texts[start : start + TOKENIZE_CHUNK])
        # verbose=False: the too-long warning is exactly what this check reports, once, itself.
        ids = tokenizer(batch, add_special_tokens=True, truncation=False, verbose=False)["input_ids"]
        lengths.extend(len(x) for x in ids)
    return lengths


def length_stats(lengths: Sequence[int]) -> dict[str, Any]:
    """min, median, p95 and max of token lengths (not empty)."""
    ordered = sorted(lengths)
    return {
        "min": ordered[0],
        "median": statistics.median(ordered),
        "p95": ordered[math.ceil(0.95 * len(ordered)) - 1],
        "max": ordered[-1],
    }
