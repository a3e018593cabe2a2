"""Instruction tuning: a causal LM learns to answer prompts the way the reference answers do.

Rows are chat `messages` (system/user/assistant, ending with the answer) or `prompt` + `completion`.
Loss falls on answer tokens only, each answer ends with EOS, and the training text is built from the
same prompt rendering inference uses (`hone.tasks.chat`). Checkpoints are selected on held-out loss
(cheap); the test split is scored on generated answers: ROUGE-L, exact match, repetition, length.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import ChatDataFiles, InstructConfig
from hone.data import problems as P
from hone.data.problems import Problem
from hone.tasks import causal
from hone.tasks.base import ExampleScore
from hone.tasks.chat import Template, parity, prompt_ids, tokenize_segments
from hone.tasks.fields import required_text, type_name

ROLES = ("system", "user", "assistant")
SHOWN_LINES = 20


@dataclass(frozen=True)
class ChatExample:
    """One conversation ending in the reference answer."""

    messages: tuple[Mapping[str, str], ...]
    source: str
    line: int

    @property
    def input(self) -> list[dict[str, str]]:
        """The prompt: every message before the final answer."""
        return [dict(m) for m in self.messages[:-1]]

    @property
    def reference(self) -> str:
        return self.messages[-1]["content"]

    @property
    def text(self) -> str:
        """The last user message: what duplicate and leakage checks compare, and what k-shot retrieval embeds."""
        return next(m["content"] for m in reversed(self.messages) if m["role"] == "user")

    @property
    def labels(self) -> tuple[str, ...]:
        return ()

    @property
    def label_key(self) -> str:
        return self.reference

    @property
    def stratify_key(self) -> str:
        return ""


def parse_chat(record: Mapping[str, Any], data: ChatDataFiles, source: str, line: int) -> ChatExample | list[Problem]:
    """A row as a conversation: `messages`, or `prompt` + `completion`; every problem with its field."""
    problems: list[Problem] = []
    if data.messages_field in record:
        messages = chat_messages(record[data.messages_field], data.messages_field, source, line, problems)
    else:
        prompt = required_text(record, data.prompt_field, "the prompt", source, line, problems, "data.prompt_field")
        answer = required_text(
            record, data.completion_field, "the reference answer", source, line, problems, "data.completion_field"
        )
        messages = None if problems else ({"role": "user", "content": prompt}, {"role": "assistant", "content": answer})
    if problems or messages is None:
        return problems
    return ChatExample(messages=messages, source=source, line=line)


ENDINGS = {"assistant": "the assistant's answer", "user": "the user's turn"}


def chat_messages(
    value: Any, field: str, source: str, line: int, out: list[Problem], last: str = "assistant"
) -> tuple[dict[str, str], ...] | None:
    """Validated messages: an optional system message, then user/assistant turns in alternation, ending
    with `last` (the answer for instruct rows; the user's turn for preference prompts, whose answers are
    in other fields). None, with one problem appended to `out`, when they are not."""

    def problem(category: str, message: str) -> None:
        out.append(Problem(category, message, source, line, field))

    if not isinstance(value, list) or not value:
        kind = type_name(value)
        problem(P.WRONG_TYPE, f"{field!r} must be a non-empty list of {{role, content}} objects, got {kind}")
        return None
    messages: list[dict[str, str]] = []
    for i, m in enumerate(value):
        if not isinstance(m, dict) or not isinstance(m.get("role"), str) or not isinstance(m.get("content"), str):
            problem(P.WRONG_TYPE, f"message {i} must be an object with string `role` and `content`")
            return None
        if m["role"] not in ROLES:
            problem(P.ROLE_ORDER, f"message {i} has role {m['role']!r}; roles are {', '.join(ROLES)}")
            return None
        messages.append({"role": m["role"], "content": m["content"]})
    roles = [m["role"] for m in messages]
    turns = roles[1:] if roles[0] == "system" else roles
    if last == "user" and turns[-1:] == ["assistant"]:
        problem(
            P.ROLE_ORDER,
            f"the messages end with an assistant turn; the completions belong in `chosen` and `rejected`, so "
            f"{field!r} must end with the user's turn",
        )
        return None
    if not turns or turns != (["user", "assistant"] * len(turns))[: len(turns)] or turns[-1] != last:
        problem(
            P.ROLE_ORDER,
            f"roles {roles}: expected an optional system message, then user/assistant turns in alternation, "
            f"ending with {ENDINGS[last]}",
        )
        return None
    for i, m in enumerate(messages):
        if not m["content"].strip():
            problem(P.EMPTY_FIELD, f"message {i} ({m['role']}) is empty; give it content or remove the row")
            return None
    return tuple(messages)


@dataclass
class InstructTask:
    template: str = "chat"
    system: str | None = None
    max_length: int = 512
    max_new_tokens: int = 128
    packing: bool = True
    quantize_4bit: bool = False

    name = "instruct"
    primary_metric = "rouge_l"
    higher_is_better = True
    dev_metric = "loss"
    dev_higher_is_better = False
    head_modules: tuple[str, ...] = ()
    peft_task_type = "CAUSAL_LM"
    example_loss_note = (
        "loss: mean cross-entropy of the reference answer's tokens (teacher-forced); a generated answer has no "
        "single predicted label, so nothing is counted as confidently wrong"
    )

    @classmethod
    def from_config(cls, config: InstructConfig, examples: Sequence[Any]) -> InstructTask:
        return cls(**chat_settings(config))

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "template": self.template,
            "system": self.system,
            "max_length": self.max_length,
            "max_new_tokens": self.max_new_tokens,
            "packing": self.packing,
            "quantize_4bit": self.quantize_4bit,
        }

    @property
    def chat_template(self) -> Template:
        return Template(self.template, self.system)

    def build_model(self, model_dir: str) -> nn.Module:
        return causal.build_causal_lm(model_dir, self.quantize_4bit)

    def as_messages(self, x: Any) -> list[dict[str, str]]:
        """A model input as messages: a plain string is one user message."""
        return _as_messages(x)

    def answer_messages(self, example: Any) -> list[dict[str, str]]:
        """The conversation the model is trained on: the prompt and the reference answer."""
        return [dict(m) for m in example.messages]

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        template = self.chat_template
        template.check(tokenizer)
        features = []
        for ex in examples:
            ids, labels, _ = tokenize_segments(
                template.segments(self.answer_messages(ex), tokenizer), tokenizer, self.max_length
            )
            features.append({"input_ids": ids, "labels": labels})
        return causal.pack(features, self.max_length) if self.packing else features

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        return causal.collate_lm(features, causal.pad_id(tokenizer))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        return causal.lm_loss(model, batch)

    def dev_metrics(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> dict[str, float]:
        """Held-out loss and perplexity of the reference answers (teacher-forced: no generation)."""
        unpacked = InstructTask(**{**self.describe_fields(), "packing": False})
        features = unpacked.encode(examples, tokenizer)
        return causal.held_out_loss(model, features, causal.pad_id(tokenizer), batch_size, autocast)

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """Mean loss of each example's reference answer tokens; no prediction (generation is not run)."""
        features = replace(self, packing=False).encode(examples, tokenizer)
        losses = causal.example_nll(model, features, causal.pad_id(tokenizer), batch_size, autocast)
        return [ExampleScore(loss, self.reference_of(ex)) for ex, loss in zip(examples, losses, strict=True)]

    def reference_of(self, example: Any) -> Any:
        """The example's reference answer as JSON, as the suspect-label tables show it."""
        return example.reference

    def describe_fields(self) -> dict[str, Any]:
        return {k: v for k, v in self.describe().items() if k != "task"}

    def prompts(self, inputs: Sequence[Any], tokenizer: Any) -> list[list[int]]:
        template = self.chat_template
        template.check(tokenizer)
        room = max(8, self.max_length - self.max_new_tokens)
        return [prompt_ids(self.as_messages(x), tokenizer, template, room) for x in inputs]

    def predict(
        self, model: nn.Module, tokenizer: Any, inputs: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> tuple[list[str], np.ndarray]:
        """Greedy answers to prompts (message lists, or plain strings as one user message)."""
        results = causal.generate(
            model, tokenizer, self.prompts(inputs, tokenizer), self.max_new_tokens, batch_size, autocast
        )
        answers = [tokenizer.decode(r["ids"], skip_special_tokens=True).strip() for r in results]
        return answers, np.array([math.exp(r["logprob"]) for r in results], dtype=np.float32)

    def gold(self, examples: Sequence[Any]) -> list[str]:
        return [ex.reference for ex in examples]

    def metrics(self, gold: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
        from hone.evaluate.generation_metrics import generation_metrics

        return generation_metrics(gold, predicted)

    def score(self, gold: Sequence[str], predicted: Sequence[str]) -> float:
        from hone.evaluate.generation_metrics import rouge_l_mean

        return rouge_l_mean(gold, predicted)

    def worst(
        self, examples: Sequence[Any], predicted: Sequence[str], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Answers furthest from their reference (lowest ROUGE-L), with what went wrong."""
        from hone.evaluate.generation_metrics import error_categories, rouge_l

        scored = [(rouge_l(ex.reference, p), i) for i, (ex, p) in enumerate(zip(examples, predicted, strict=True))]
        scored.sort()
        return [
            {
                "text": examples[i].text,
                "gold": examples[i].reference,
                "predicted": predicted[i],
                "rouge_l": round(score, 4),
                "errors": error_categories(examples[i].reference, predicted[i]),
                "confidence": round(float(confidence[i]), 4),
                "source": examples[i].source,
                "line": examples[i].line,
            }
            for score, i in scored[:limit]
            if score < 1.0
        ]

    def to_json(self, prediction: str) -> str:
        return prediction

    def present(self, prediction: str) -> dict[str, Any]:
        """One prediction as `hone predict` prints it."""
        return {"answer": prediction}

    def from_json(self, payload: str) -> str:
        return payload

    def held_out(self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int) -> dict[str, Any]:
        """Test-split loss and perplexity, reported next to the generation metrics."""
        return self.dev_metrics(model, tokenizer, examples, batch_size)


def chat_settings(config: Any) -> dict[str, Any]:
    data = config.data
    if config.model.method == "qlora":
        causal.check_qlora_possible()
    return {
        "template": data.template,
        "system": data.system,
        "max_length": data.max_length,
        "max_new_tokens": config.generate.max_new_tokens,
        "packing": config.generate.packing and config.model.method not in ("prompt_tuning", "prefix_tuning"),
        "quantize_4bit": config.model.method == "qlora",
    }


def _as_messages(x: Any) -> list[dict[str, str]]:
    return [{"role": "user", "content": x}] if isinstance(x, str) else [dict(m) for m in x]


def token_check(
    examples: Sequence[Any], tokenizer: Any, data: ChatDataFiles, task: Any = None
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Prompt and answer token lengths, and every example whose answer `max_length` would cut."""
    task = task or InstructTask(template=data.template, system=data.system, max_length=data.max_length)
    template = task.chat_template
    template.check(tokenizer)
    prompt_lengths, answer_lengths, cut = [], [], []
    for ex in examples:
        ids, labels, _ = tokenize_segments(template.segments(task.answer_messages(ex), tokenizer), tokenizer, 1 << 30)
        answer = sum(1 for x in labels if x != -100)
        prompt_lengths.append(len(ids) - answer)
        answer_lengths.append(answer)
        if answer > data.max_length:
            cut.append((ex, answer))
    if not examples:
        return None, []
    problems = [
        Problem(
            P.TRUNCATED,
            f"the answer ({n} tokens) would be cut by max_length {data.max_length}: the model would learn answers "
            "that never end; raise data.max_length or shorten the answer",
            ex.source,
            ex.line,
            severity="warning",
        )
        for ex, n in cut
    ]
    over = sum(1 for p, a in zip(prompt_lengths, answer_lengths, strict=True) if p + a > data.max_length)
    stats = {
        "prompt": _length_stats(prompt_lengths),
        "answer": _length_stats(answer_lengths),
        "max_length": data.max_length,
        "over_max_length": over,
        "answer_cut": len(cut),
        "answer_cut_lines": [f"{ex.source}:{ex.line}" for ex, _ in cut[:SHOWN_LINES]],
    }
    stats["summary"] = [
        f"prompt tokens: {_show(stats['prompt'])}; answer tokens: {_show(stats['answer'])}",
        f"{over:,} example(s) longer than max_length {data.max_length} (prompts cut from the left); "
        f"{len(cut):,} whose answer would be cut",
    ]
    return stats, problems


def _length_stats(lengths: Sequence[int]) -> dict[str, float]:
    from hone.data.lengths import length_stats

    return {**length_stats(lengths), "mean": statistics.fmean(lengths)}


def _show(s: dict[str, float]) -> str:
    return f"min {s['min']}, median {s['median']:g}, p95 {s['p95']}, max {s['max']}"


def template_parity(examples: Sequence[Any], tokenizer: Any, task: Any, limit: int = 50) -> dict[str, Any]:
    """For up to `limit` examples: does the training text equal the inference prompt plus the answer and EOS?"""
    checked = [(ex, parity(task.answer_messages(ex), tokenizer, task.chat_template)) for ex in examples[:limit]]
    bad = [f"{ex.source}:{ex.line}" for ex, r in checked if not all(r.values())]
    return {"checked": len(checked), "mismatched": len(bad), "lines": bad[:SHOWN_LINES], "ok": not bad}


def prompt_baselines(config: Any, model_dir: str, task: Any) -> list[Any]:
    from hone.baseline.prompting import PromptBaseline

    b = config.baseline
    return [
        PromptBaseline(name, task, model_dir, shots=b.shots if name == "k_shot" else 0, retriever=b.retriever)
        for name in b.methods
    ]


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=InstructTask,
        parse=parse_chat,
        label_problems=lambda examples, ratio: [],
        long_inputs="truncate",
        baselines=prompt_baselines,
        token_check=token_check,
    )


SPEC = _spec()
