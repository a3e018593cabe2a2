"""Shared-prefix ("tree") rows: a trunk read once, then branches that each see the trunk and themselves only.

A fan-out extraction decodes one row per field, each continuing the same prompt; training it on one row per
field would pay for the document once per field. A tree row holds the prompt once (the trunk), then every
field's segment (a branch) after it: `[trunk][branch 1][branch 2]...`. Each branch's position ids start
right after the trunk, as every fan-out row's do, and its tokens attend to the trunk and to the tokens before
them in their own branch, never to another branch, so a branch's logits are those of the row `trunk + branch`
alone (tests compare them).

A feature carries, besides `input_ids` and `labels`: `position_ids`, `segments` (a segment id per token, unique
within a row) and `roots` (per token, the segment its segment hangs from: the trunk's id for a branch, its own
for a trunk). `causal.pack` puts several trees in a row by shifting their ids, and `collate` turns them into
a 4D attention mask (batch, 1, query, key), True where a token may attend. transformers 5 passes a 4D mask
through untouched (`masking_utils._preprocess_mask_arguments`); `model_mask` hands sdpa the bool mask and eager
its additive form (eager adds the mask to the scores: a bool mask there would be added as 0/1 and silently
mask nothing).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from hone.tasks.chat import IGNORE

PAD_SEGMENT = -1  # padding: its own segment, seen by no real token


def tree_row(trunk: Sequence[int], branches: Sequence[tuple[list[int], list[int]]], max_length: int) -> dict[str, Any]:
    """One tree as a feature: `trunk` (untrained), then each branch's (ids, labels), at most `max_length` tokens.

    Too long: the trunk is cut from the left (as prompts are), then what is still over is cut from the end of
    the last branches (as answers are). A branch's first token is never trained: the loss reads each label
    from the logits of the token before it in the row, which for a branch's first token is another branch's.
    """
    if any(labels[:1] != [IGNORE] for ids, labels in branches if ids):
        raise ValueError("a branch's first token cannot be trained: open each branch with untrained tokens")
    over = len(trunk) + sum(len(ids) for ids, _ in branches) - max_length
    trunk = list(trunk[max(0, min(over, len(trunk))) :])
    ids, labels = list(trunk), [IGNORE] * len(trunk)
    positions, segments = list(range(len(trunk))), [0] * len(trunk)
    for number, (branch, branch_labels) in enumerate(branches, start=1):
        kept = max(0, min(len(branch), max_length - len(ids)))
        ids += branch[:kept]
        labels += branch_labels[:kept]
        positions += range(len(trunk), len(trunk) + kept)
        segments += [number] * kept
    return {
        "input_ids": ids,
        "labels": labels,
        "position_ids": positions,
        "segments": segments,
        "roots": [0] * len(ids),
    }


def append(row: dict[str, Any], feature: dict[str, Any]) -> None:
    """Pack `feature` (a tree) at the end of `row`, its segment ids shifted past the row's."""
    shift = max(row.setdefault("segments", []), default=-1) + 1
    row.setdefault("roots", [])
    row["input_ids"] += feature["input_ids"]
    row["labels"] += feature["labels"]
    row["position_ids"] += feature["position_ids"]
    row["segments"] += [s + shift for s in feature["segments"]]
    row["roots"] += [r + shift for r in feature["roots"]]


def collate(features: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tree rows: ids, labels, position ids and the (batch, 1, width, width) bool mask."""
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    positions = torch.arange(width).repeat(len(features), 1)
    segments = torch.full((len(features), width), PAD_SEGMENT, dtype=torch.long)
    roots = segments.clone()
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        labels[row, :n] = torch.tensor(f["labels"])
        positions[row, :n] = torch.tensor(f["position_ids"])
        positions[row, n:] = torch.arange(width - n)
        segments[row, :n] = torch.tensor(f["segments"])
        roots[row, :n] = torch.tensor(f["roots"])
    real = torch.tensor(sum(len(f["input_ids"]) for f in features))
    mask = visible(segments, roots)
    return {"input_ids": ids, "labels": labels, "position_ids": positions, "attention_mask": mask, "real_tokens": real}


def visible(segments: torch.Tensor, roots: torch.Tensor) -> torch.Tensor:
    """(batch, 1, q, k) bool: key k is at or before query q, in q's own segment or in the segment q hangs from."""
    width = segments.shape[1]
    causal = torch.ones(width, width, dtype=torch.bool).tril()
    key = segments[:, None, :]
    same = (key == segments[:, :, None]) | (key == roots[:, :, None])
    return (same & causal)[:, None]


def attention(model: Any) -> str:
    """The attention implementation `model` runs (eager when its config names none)."""
    config = getattr(getattr(model, "module", model), "config", None)  # DDP keeps the model in `.module`
    return getattr(config, "_attn_implementation", None) or "eager"


def reads_4d_mask(model: Any) -> bool:
    """Whether `model`'s attention takes a 4D mask as it is (sdpa, eager), so tree rows can be fed to it."""
    return attention(model) in ("sdpa", "eager")


def model_mask(model: Any, mask: torch.Tensor) -> torch.Tensor:
    """The bool mask (True: attend) in the form `model`'s attention reads: as it is for sdpa, additive for eager
    (0, or float32's minimum: eager adds the mask to its scores). Attention that takes no 4D mask (flash
    kernels) is refused: every branch would see every other, with no error."""
    implementation = attention(model)
    if implementation == "sdpa":
        return mask
    if not reads_4d_mask(model):
        raise ValueError(
            f"tree rows (generate.decode fanout) need attention that reads a 4D mask, and this model uses "
            f"{implementation!r}; load it with attn_implementation 'sdpa' or 'eager', or set generate.decode object"
        )
    out = torch.zeros(mask.shape, dtype=torch.float32, device=mask.device)
    return out.masked_fill(~mask, torch.finfo(torch.float32).min)
