"""What every causal-LM task shares: loading the base, packing, the masked LM loss, and generation.

Packing puts several short examples in one row; each keeps its own position ids starting at 0 and no
attention mask is passed, so transformers builds a block-diagonal causal mask from the position ids
and no example attends to another (tests compare packed and unpacked logits). Tree rows (`hone.tasks.tree`:
one prompt, several branches after it) carry their own position ids and a 4D mask instead; they pack and
collate through the same functions.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hone.progress import tick
from hone.tasks import tree
from hone.tasks.chat import IGNORE


def build_causal_lm(model_dir: str, quantize_4bit: bool = False) -> nn.Module:
    from transformers import AutoModelForCausalLM

    if not quantize_4bit:
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    check_qlora_possible()
    from transformers import BitsAndBytesConfig

    quant = BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=torch.bfloat16,
    )
    return AutoModelForCausalLM.from_pretrained(model_dir, quantization_config=quant, device_map={"": 0})


def check_qlora_possible() -> None:
    if not torch.cuda.is_available():
        raise RuntimeError(
            "model.method qlora needs a CUDA GPU (bitsandbytes 4-bit kernels); this machine has none. "
            "Use model.method lora: on CPU it trains in bf16 autocast where the CPU supports it."
        )
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise RuntimeError("model.method qlora needs bitsandbytes: pip install bitsandbytes") from None


def pad_id(tokenizer: Any) -> int:
    """The id batches are padded with: the tokenizer's pad token, else EOS (padding is masked either way)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def pack(features: Sequence[dict[str, Any]], max_length: int) -> list[dict[str, Any]]:
    """First-fit-decreasing packing of (input_ids, labels) features into rows of at most `max_length`
    (tree features keep their position ids and segments: `tree.append`)."""
    rows: list[dict[str, Any]] = []
    space: list[int] = []
    for f in sorted(features, key=lambda f: -len(f["input_ids"])):
        n = len(f["input_ids"])
        slot = next((i for i, free in enumerate(space) if free >= n), None)
        if slot is None:
            rows.append({"input_ids": [], "labels": [], "position_ids": []})
            space.append(max_length)
            slot = len(rows) - 1
        row = rows[slot]
        space[slot] -= n
        if "segments" in f:
            tree.append(row, f)
        else:
            row["input_ids"] += f["input_ids"]
            row["labels"] += f["labels"]
            row["position_ids"] += list(range(n))
    return rows


def collate_lm(features: Sequence[dict[str, Any]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad a batch. Packed rows (with position_ids) get no attention mask: see the module docstring;
    tree rows get their 4D mask (`tree.collate`)."""
    if "segments" in features[0]:
        return tree.collate(features, pad_id)
    width = max(len(f["input_ids"]) for f in features)
    ids = torch.full((len(features), width), pad_id, dtype=torch.long)
    labels = torch.full((len(features), width), IGNORE, dtype=torch.long)
    packed = "position_ids" in features[0]
    extra = torch.zeros((len(features), width), dtype=torch.long)
    for row, f in enumerate(features):
        n = len(f["input_ids"])
        ids[row, :n] = torch.tensor(f["input_ids"])
        labels[row, :n] = torch.tensor(f["labels"])
        if packed:  # padding continues as its own segment, so it attends to nothing real
            extra[row, :n] = torch.tensor(f["position_ids"])
            extra[row, n:] = torch.arange(width - n)
        else:
            extra[row, :n] = 1
    real = torch.tensor(sum(len(f["input_ids"]) for f in features))
    batch = {"input_ids": ids, "labels": labels, "real_tokens": real}
    batch["position_ids" if packed else "attention_mask"] = extra
    return batch


def forward_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Logits for every input position. No KV cache: with a cache, transformers ignores packed position ids."""
    logits = model(**_forward_inputs(model, batch), use_cache=False).logits
    return logits[:, -batch["input_ids"].shape[1] :]  # prompt tuning prepends virtual tokens


def _forward_inputs(model: nn.Module, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The model's arguments from a batch; a tree row's 4D mask in the form the model's attention reads."""
    inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "position_ids") if k in batch}
    if "attention_mask" in inputs and inputs["attention_mask"].dim() == 4:
        inputs["attention_mask"] = tree.model_mask(model, inputs["attention_mask"])
    return inputs


def answer_logits(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(logits, target, positions): logits only where some row's next token is labelled.

    `positions` are the kept indices of the shifted sequence (length-1); logits (batch, len(positions),
    vocab) predict `target` (batch, len(positions)), IGNORE where that row has no label. Asking the model
    for these positions alone (`logits_to_keep`) skips the vocabulary projection over prompts, most of a
    row: with every position it was a quarter of a LoRA step on SmolLM2 (512 tokens, 49k vocabulary).
    """
    target = batch["labels"][:, 1:]
    positions = (target != IGNORE).any(0).nonzero().squeeze(1)
    if not keeps_logits(model):
        return forward_logits(model, batch)[:, positions], target[:, positions], positions
    inputs = _forward_inputs(model, batch)
    keep = positions if positions.numel() else 1  # no answer token: one logit keeps the graph for a zero loss
    logits = model(**inputs, use_cache=False, logits_to_keep=keep).logits
    return logits[:, : positions.numel()], target[:, positions], positions


def token_logprobs(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-probability of each labelled token, and the mask of labelled tokens, shape (batch, length-1)."""
    logits, target, positions = answer_logits(model, batch)
    full_target = batch["labels"][:, 1:]
    out = torch.zeros(full_target.shape, dtype=torch.float32, device=logits.device)
    labelled = target != IGNORE
    picked = logits[labelled].float()
    kept = torch.zeros(target.shape, dtype=torch.float32, device=logits.device)
    kept[labelled] = torch.log_softmax(picked, dim=-1).gather(-1, target[labelled].unsqueeze(-1)).squeeze(-1)
    out[:, positions] = kept
    return out, full_target != IGNORE


def lm_loss(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy over the labelled (answer) tokens of the batch (logits at those positions only)."""
    logits, target, _ = answer_logits(model, batch)
    if logits.shape[1] == 0:
        return logits.sum() * 0.0  # an empty slice of the graph: zero, and backward still runs
    return nn.functional.cross_entropy(logits.flatten(0, 1).float(), target.flatten(), ignore_index=IGNORE)


def keeps_logits(model: nn.Module) -> bool:
    """Whether the model's forward takes `logits_to_keep` as positions (prompt learning prepends tokens: no)."""
    peft_config = getattr(model, "active_peft_config", None)
    if peft_config is not None and peft_config.is_prompt_learning:
        return False
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return _forward_takes(type(base), "logits_to_keep")


@functools.cache
def _forward_takes(cls: type, name: str) -> bool:
    return name in inspect.signature(cls.forward).parameters


def held_out_loss(
    model: nn.Module, features: Sequence[dict[str, Any]], pad_id: int, batch_size: int, autocast: Any = None
) -> dict[str, float]:
    """Token-weighted loss and perplexity of labelled tokens over features (no packing: exact per example)."""
    import math

    device = next(model.parameters()).device
    total, count = 0.0, 0
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            chunk = [features[i] for i in order[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate_lm(chunk, pad_id).items()}
            logprobs, mask = token_logprobs(model, batch)
            total -= float(logprobs[mask].sum())
            count += int(mask.sum())
    model.train(was_training)
    loss = total / max(count, 1)
    return {"loss": loss, "perplexity": math.exp(min(loss, 50.0)), "tokens": count}


def example_nll(
    model: nn.Module, features: Sequence[dict[str, Any]], pad_id: int, batch_size: int, autocast: Any = None
) -> list[float]:
    """Mean loss of each feature's labelled tokens, in input order (unpacked features; 0 where none is labelled)."""
    device = next(model.parameters()).device
    out = [0.0] * len(features)
    was_training = model.training
    model.eval()
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate_lm([features[i] for i in idx], pad_id).items()}
            logprobs, mask = token_logprobs(model, batch)
            means = -(logprobs * mask).sum(1) / mask.sum(1).clamp(min=1)
            for i, value in zip(idx, means.tolist(), strict=True):
                out[i] = value
    model.train(was_training)
    return out


def eos_ids(model: nn.Module, tokenizer: Any) -> list[int]:
    """Every token that ends an answer: the tokenizer's EOS and the generation config's."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids |= set(configured) if isinstance(configured, list) else {configured}
    return sorted(i for i in ids if i is not None)


def generate(
    model: nn.Module,
    tokenizer: Any,
    prompts: Sequence[list[int]],
    max_new_tokens: int,
    batch_size: int,
    autocast: Any = None,
    logits_processor: Any = None,
) -> list[dict[str, Any]]:
    """Greedy answers for token-id prompts, batched by length with left padding, in input order.

    Each result: {"ids": answer tokens without EOS, "stopped": ended on EOS, "logprob": mean token log-prob}.
    `logits_processor(batch_rows)` may return a processor list for constrained decoding.
    """
    device = next(model.parameters()).device
    pad = pad_id(tokenizer)
    stops = eos_ids(model, tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    results: list[dict[str, Any]] = [{}] * len(prompts)
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            width = max(len(prompts[i]) for i in idx)
            ids = torch.full((len(idx), width), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), width), dtype=torch.long)
            for row, i in enumerate(idx):
                ids[row, width - len(prompts[i]) :] = torch.tensor(prompts[i])
                mask[row, width - len(prompts[i]) :] = 1
            out = model.generate(
                input_ids=ids.to(device),
                attention_mask=mask.to(device),
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=stops,
                pad_token_id=pad,
                return_dict_in_generate=True,
                output_scores=True,
                logits_processor=logits_processor(idx) if logits_processor else None,
            )
            new = out.sequences[:, width:].cpu()
            logprobs = torch.stack([torch.log_softmax(s.float(), -1) for s in out.scores], 1).cpu()
            for row, i in enumerate(idx):
                tokens = new[row].tolist()
                end = next((k for k, t in enumerate(tokens) if t in stops), None)
                kept = tokens[:end] if end is not None else tokens
                steps = len(kept) + (end is not None)
                chosen = logprobs[row, torch.arange(steps), new[row, :steps]] if steps else torch.zeros(1)
                results[i] = {"ids": kept, "stopped": end is not None, "logprob": float(chosen.mean())}
            tick(len(idx))
    model.train(was_training)
    return results


def cache_argument(model: nn.Module) -> str:
    """The name the model's forward (and its output) gives the KV cache: `cache` since transformers renamed it (the
    old name, `past_key_values`, then warns on every call), else `past_key_values` (earlier 5.x releases)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"
