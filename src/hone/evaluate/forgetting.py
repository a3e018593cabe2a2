"""What tuning cost on general prompts: the base and the tuned model on a dozen general-knowledge questions.

For each prompt shipped in `hone/data/general_prompts.jsonl`: the reference answer's perplexity under
the base and the tuned model (teacher-forced, rendered with the run's template), and both greedy
answers side by side. A tuned model that finds plain facts much less likely than its base did has
forgotten some of what it knew; the answers show what that looks like.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from torch import nn

from hone.tasks.causal import held_out_loss, pad_id
from hone.tasks.chat import tokenize_segments

PROMPTS_FILE = "general_prompts.jsonl"
ANSWER_TOKENS = 48


def general_prompts() -> list[dict[str, str]]:
    """The shipped general prompts: [{"prompt", "reference"}, ...]."""
    text = resources.files("hone.data").joinpath(PROMPTS_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def forgetting(
    task: Any, base_model: nn.Module | None, tuned_model: nn.Module, tokenizer: Any, batch_size: int
) -> dict[str, Any]:
    """Base vs tuned perplexity of the general reference answers, and both models' answers.

    `base_model` None (or the tuned model itself): `tuned_model` is a PEFT model and the base is that
    same model with its adapters disabled, so no second copy is held in memory.
    """
    rows = general_prompts()
    task = _plain_chat(task)
    tuned = _measure(task, tuned_model, tokenizer, rows, batch_size)
    if base_model is None or base_model is tuned_model:
        with tuned_model.disable_adapter():
            base = _measure(task, tuned_model, tokenizer, rows, batch_size)
    else:
        base = _measure(task, base_model, tokenizer, rows, batch_size)
    return {
        "base_perplexity": base["perplexity"],
        "tuned_perplexity": tuned["perplexity"],
        "ratio": tuned["perplexity"] / base["perplexity"],
        "tokens": tuned["tokens"],
        "answers": [
            {"prompt": row["prompt"], "reference": row["reference"], "base": b, "tuned": t}
            for row, b, t in zip(rows, base["answers"], tuned["answers"], strict=True)
        ],
    }


def _plain_chat(task: Any) -> Any:
    """The run's prompt rendering as a plain chat task: general prompts get free answers (an extract run's
    JSON decoding would force them into its fields), at most ANSWER_TOKENS long."""
    from hone.tasks.instruct import InstructTask

    return InstructTask(
        template=task.template,
        system=task.system,
        max_length=task.max_length,
        max_new_tokens=min(task.max_new_tokens, ANSWER_TOKENS),
        packing=False,
    )


def _measure(
    task: Any, model: nn.Module, tokenizer: Any, rows: list[dict[str, str]], batch_size: int
) -> dict[str, Any]:
    """Perplexity of the reference answers (as `held_out_loss` reports it) and the greedy answers."""
    from hone.train.setup import autocast_for_inference

    autocast = autocast_for_inference()
    pad = pad_id(tokenizer)
    features = [_features(task, row, tokenizer) for row in rows]
    result = held_out_loss(model, features, pad, batch_size, autocast)
    answers, _ = task.predict(model, tokenizer, [row["prompt"] for row in rows], batch_size, autocast)
    return {**result, "answers": list(answers)}


def _features(task: Any, row: dict[str, str], tokenizer: Any) -> dict[str, list[int]]:
    """The prompt and reference as one conversation, tokenised as training would (loss on the answer only)."""
    messages = [{"role": "user", "content": row["prompt"]}, {"role": "assistant", "content": row["reference"]}]
    segments = task.chat_template.segments(messages, tokenizer)
    ids, labels, _ = tokenize_segments(segments, tokenizer, task.max_length)
    return {"input_ids": ids, "labels": labels}
