"""Padding shared by the tasks: token-id lists of any length into one rectangular batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def pad_ids(features: Sequence[dict[str, Any]], pad_id: int | None) -> dict[str, torch.Tensor]:
    """`input_ids` padded on the right with `pad_id`, and the attention mask marking real tokens."""
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id or 0, dtype=torch.long)
    mask = torch.zeros((len(features), width), dtype=torch.long)
    for i, f in enumerate(features):
        n = len(f["input_ids"])
        ids[i, :n] = torch.tensor(f["input_ids"])
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask}
