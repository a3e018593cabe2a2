"""Preference tuning (DPO): a causal LM learns to prefer the `chosen` completion of a prompt over the `rejected` one.

Rows are a prompt (`messages` ending with the user's turn, or `prompt`) with two completions. The loss is
DPO's: the policy's log-probability gain on the chosen completion over the reference's, minus the same for
the rejected one. The reference is the frozen base, which with an adapter method is the same model with its
adapters switched off, so no second copy of the model is held. Training text is built exactly as instruction
tuning builds it (`hone.tasks.chat`): prompt as context, completion + EOS scored.

A model is scored by the length-normalised log-probability margin it gives each pair (chosen minus
rejected): teacher-forced, no generation, and the same for the untuned base and the tuned model.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import ChatDataFiles, PreferenceConfig, PreferenceDataConfig
from hone.data import problems as P
from hone.data.problems import Problem
from hone.tasks import causal, instruct
from hone.tasks.base import ExampleScore
from hone.tasks.chat import tokenize_segments
from hone.tasks.fields import required_text
from hone.tasks.instruct import InstructTask


@dataclass(frozen=True)
class PreferenceExample:
    """A prompt and two completions of it, the first preferred."""

    prompt: tuple[Mapping[str, str], ...]
    chosen: str
    rejected: str
    source: str
    line: int

    @property
    def input(self) -> tuple[list[dict[str, str]], str, str]:
        """What a model scores: (prompt messages, chosen, rejected)."""
        return [dict(m) for m in self.prompt], self.chosen, self.rejected

    @property
    def text(self) -> str:
        """The last user message: what duplicate and leakage checks compare."""
        return next(m["content"] for m in reversed(self.prompt) if m["role"] == "user")

    @property
    def labels(self) -> tuple[str, ...]:
        return ()

    @property
    def label_key(self) -> str:
        # Both completions: several pairs may share a prompt and a chosen answer, and each is its own example.
        return f"{self.chosen} > {self.rejected}"

    @property
    def stratify_key(self) -> str:
        return ""


def parse_preference(
    record: Mapping[str, Any], data: PreferenceDataConfig, source: str, line: int
) -> PreferenceExample | list[Problem]:
    """A row as a preference pair: `messages` (or `prompt`), `chosen` and `rejected`; every problem with its field."""
    problems: list[Problem] = []
    if data.messages_field in record:
        prompt = instruct.chat_messages(
            record[data.messages_field], data.messages_field, source, line, problems, last="user"
        )
    else:
        text = required_text(record, data.prompt_field, "the prompt", source, line, problems, "data.prompt_field")
        prompt = None if text is None else ({"role": "user", "content": text},)
    chosen = required_text(
        record, data.chosen_field, "the preferred completion", source, line, problems, "data.chosen_field"
    )
    rejected = required_text(
        record, data.rejected_field, "the dispreferred completion", source, line, problems, "data.rejected_field"
    )
    if chosen is not None and rejected is not None and chosen.strip() == rejected.strip():
        message = (
            f"{data.chosen_field!r} and {data.rejected_field!r} are the same text: the pair has nothing to learn; "
            "give a worse rejected completion or remove the row"
        )
        problems.append(Problem(P.DUPLICATE, message, source, line, data.rejected_field))
    if problems or prompt is None or chosen is None or rejected is None:
        return problems
    return PreferenceExample(prompt=prompt, chosen=chosen, rejected=rejected, source=source, line=line)


@dataclass
class PreferenceTask(InstructTask):
    beta: float = 0.1

    name = "preference"
    primary_metric = "preference_accuracy"
    higher_is_better = True
    dev_metric = "preference_accuracy"
    dev_higher_is_better = True
    example_loss_note = (
        "loss: -log sigmoid(margin), the margin being the tuned model's mean token log-prob of `chosen` minus that "
        "of `rejected`; confidently wrong: pairs the model prefers the other way round (swapped chosen/rejected?)"
    )

    @classmethod
    def from_config(cls, config: PreferenceConfig, examples: Sequence[Any]) -> PreferenceTask:
        if config.model.method == "full":
            raise ValueError(
                "task preference needs model.method lora, dora, qlora, prompt_tuning or prefix_tuning: DPO measures "
                "the model against a frozen reference, which is the base model with the adapters switched off, and "
                "`full` leaves no frozen base; set model.method: lora"
            )
        task = super().from_config(config, examples)  # template, lengths and the qlora check, as instruct does
        return dataclasses.replace(task, packing=False, beta=config.dpo.beta)  # pairs are never packed

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "beta": self.beta}

    def answer_messages(self, example: Any) -> list[dict[str, str]]:
        """The prompt followed by the chosen completion (what token checks measure)."""
        return [*(dict(m) for m in example.prompt), {"role": "assistant", "content": example.chosen}]

    def tokens(
        self, prompt: Sequence[Mapping[str, str]], completion: str, tokenizer: Any
    ) -> tuple[list[int], list[int]]:
        """(input_ids, labels) of prompt + completion + EOS, only the completion labelled.

        Built from the same segments instruction tuning uses; assistant turns in the prompt's history are context.
        """
        messages = [*(dict(m) for m in prompt), {"role": "assistant", "content": completion}]
        pieces = self.chat_template.segments(messages, tokenizer)
        last = max(i for i, (_, trained) in enumerate(pieces) if trained)
        pieces = [(text, trained and i == last) for i, (text, trained) in enumerate(pieces)]
        ids, labels, _ = tokenize_segments(pieces, tokenizer, self.max_length)
        return ids, labels

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        self.chat_template.check(tokenizer)
        features = []
        for ex in examples:
            chosen_ids, chosen_labels = self.tokens(ex.prompt, ex.chosen, tokenizer)
            rejected_ids, rejected_labels = self.tokens(ex.prompt, ex.rejected, tokenizer)
            longer = chosen_ids if len(chosen_ids) >= len(rejected_ids) else rejected_ids
            features.append(
                {
                    "input_ids": longer,  # what length grouping sorts by
                    "chosen_ids": chosen_ids,
                    "chosen_labels": chosen_labels,
                    "rejected_ids": rejected_ids,
                    "rejected_labels": rejected_labels,
                }
            )
        return features

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        """One batch: every pair's chosen row, then every pair's rejected row in the same order."""
        rows = [
            {"input_ids": f[f"{side}_ids"], "labels": f[f"{side}_labels"]}
            for side in ("chosen", "rejected")
            for f in features
        ]
        return causal.collate_lm(rows, causal.pad_id(tokenizer))

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """DPO: -log sigmoid(beta * ((policy - reference) on chosen - (policy - reference) on rejected))."""
        policy = _completion_logprobs(model, batch)
        with torch.no_grad(), reference_mode(model):
            reference = _completion_logprobs(model, batch)
        n = policy.shape[0] // 2
        gain = policy - reference
        return -nn.functional.logsigmoid(self.beta * (gain[:n] - gain[n:])).mean()

    def dev_metrics(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> dict[str, float]:
        """Preference accuracy and mean margin on dev (teacher-forced: two forward passes per pair)."""
        margins, _ = self.margins(model, tokenizer, [ex.input for ex in examples], batch_size, autocast)
        return self.metrics(self.gold(examples), margins)["metrics"]

    def predict(
        self, model: nn.Module, tokenizer: Any, inputs: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> tuple[list[Any], np.ndarray]:
        """Margins for (prompt, chosen, rejected) triples (see `margins`); greedy answers for plain prompts.

        A preference-tuned model is still a chat model: `hone predict` and the forgetting check give it prompts
        (a string, or messages) and expect answers, which it generates as instruction tuning does.
        """
        pairs = [_is_pair(x) for x in inputs]
        if not any(pairs):
            return super().predict(model, tokenizer, inputs, batch_size, autocast)
        if not all(pairs):
            raise ValueError("give either (prompt, chosen, rejected) triples or prompts to predict, not both at once")
        return self.margins(model, tokenizer, inputs, batch_size, autocast)

    def margins(
        self, model: nn.Module, tokenizer: Any, inputs: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> tuple[list[float], np.ndarray]:
        """For each (prompt, chosen, rejected): mean log-prob per token of chosen minus that of rejected under
        `model`, and sigmoid(margin) as the confidence that chosen is preferred."""
        self.chat_template.check(tokenizer)
        rows = []
        for prompt, chosen, rejected in inputs:
            messages = self.as_messages(prompt)
            rows += [self.tokens(messages, chosen, tokenizer), self.tokens(messages, rejected, tokenizer)]
        means = _mean_logprobs(model, rows, causal.pad_id(tokenizer), batch_size, autocast)
        margins = means[0::2] - means[1::2]
        confidence = 1.0 / (1.0 + np.exp(-margins))
        return [float(m) for m in margins], confidence.astype(np.float32)

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """Per pair: how strongly the tuned model disagrees with the given order of chosen over rejected."""
        margins, confidence = self.margins(model, tokenizer, [ex.input for ex in examples], batch_size, autocast)
        return [
            ExampleScore(
                float(np.logaddexp(0.0, -m)),
                "chosen",
                "chosen" if m >= 0 else "rejected",
                float(max(c, 1 - c)),
                m < 0,
                float(c),
            )
            for m, c in zip(margins, confidence, strict=True)
        ]

    def held_out(self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int) -> dict[str, Any]:
        """Test-split loss and perplexity of the chosen completions (as instruct reports them for its answers)."""
        features = []
        for ex in examples:
            ids, labels = self.tokens(ex.prompt, ex.chosen, tokenizer)
            features.append({"input_ids": ids, "labels": labels})
        return causal.held_out_loss(model, features, causal.pad_id(tokenizer), batch_size)

    def gold(self, examples: Sequence[Any]) -> list[float]:
        return [1.0] * len(examples)  # chosen is preferred in every pair

    def metrics(self, gold: Sequence[float], predicted: Sequence[float]) -> dict[str, Any]:
        margins = np.asarray(predicted, dtype=np.float64)
        return {
            "metrics": {
                "preference_accuracy": self.score(gold, predicted),
                "mean_margin": float(margins.mean()) if len(margins) else 0.0,
                "n": len(margins),
            }
        }

    def score(self, gold: Sequence[float], predicted: Sequence[float]) -> float:
        """Share of pairs whose chosen completion the model scores above the rejected one."""
        return float(np.mean(np.asarray(predicted) > 0)) if len(predicted) else 0.0

    def worst(
        self, examples: Sequence[Any], predicted: Sequence[float], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Pairs the model gets the wrong way round, most confidently wrong first; `predicted` is the completion
        it prefers (the rejected one)."""
        order = sorted(range(len(examples)), key=lambda i: predicted[i])
        return [
            {
                "text": examples[i].text,
                "gold": examples[i].chosen,
                "predicted": examples[i].rejected,
                "margin": round(float(predicted[i]), 4),
                "confidence": round(float(confidence[i]), 4),
                "source": examples[i].source,
                "line": examples[i].line,
            }
            for i in order[:limit]
            if predicted[i] <= 0
        ]

    def to_json(self, prediction: float) -> float:
        return float(prediction)

    def from_json(self, payload: float) -> float:
        return float(payload)

    def present(self, prediction: float | str) -> dict[str, Any]:
        """One prediction as `hone predict` prints it."""
        if isinstance(prediction, str):  # a generated answer to a plain prompt
            return {"answer": prediction}
        return {"margin": float(prediction), "prefers": "chosen" if prediction > 0 else "rejected"}


def reference_mode(model: nn.Module) -> contextlib.AbstractContextManager[Any]:
    """The frozen reference: the same model with its adapters switched off."""
    for candidate in (model, getattr(model, "module", None)):  # DDP keeps the PeftModel in `.module`
        disable = getattr(candidate, "disable_adapter", None)
        if disable is not None:
            return disable()
    raise TypeError(
        "task preference needs a PEFT model (model.method lora, dora, qlora, prompt_tuning or prefix_tuning): "
        "the DPO reference is the base model with the adapters switched off"
    )


def _is_pair(x: Any) -> bool:
    """A (prompt, chosen, rejected) triple; a prompt alone is a string or a list of message dicts."""
    return isinstance(x, (tuple, list)) and len(x) == 3 and isinstance(x[1], str) and isinstance(x[2], str)


def _completion_logprobs(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Summed log-probability of each row's labelled (completion) tokens."""
    logprobs, _ = causal.token_logprobs(model, batch)
    return logprobs.sum(-1)


def _mean_logprobs(
    model: nn.Module, rows: Sequence[tuple[list[int], list[int]]], pad_id: int, batch_size: int, autocast: Any
) -> np.ndarray:
    """Mean log-probability per labelled token of each (input_ids, labels) row, in input order."""
    device = next(model.parameters()).device
    out = np.zeros(len(rows))
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            features = [{"input_ids": rows[i][0], "labels": rows[i][1]} for i in idx]
            batch = {k: v.to(device) for k, v in causal.collate_lm(features, pad_id).items()}
            logprobs, mask = causal.token_logprobs(model, batch)
            out[idx] = (logprobs.sum(-1) / mask.sum(-1).clamp(min=1)).cpu().numpy()
    model.train(was_training)
    return out


def token_check(
    examples: Sequence[Any], tokenizer: Any, data: ChatDataFiles
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Prompt and chosen-completion token lengths, and every pair whose chosen completion `max_length` would cut."""
    task = PreferenceTask(template=data.template, system=data.system, max_length=data.max_length)
    return instruct.token_check(examples, tokenizer, data, task)


def _baselines(config: Any, model_dir: str, task: Any) -> list[Any]:
    """The untuned base model's preferences: the margin it gives each pair before any tuning."""
    from hone.baseline.prompting import UntunedModel

    return [UntunedModel(task, model_dir, config.eval.batch_size)]


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=PreferenceTask,
        parse=parse_preference,
        label_problems=lambda examples, ratio: [],
        long_inputs="truncate",
        baselines=_baselines,
        token_check=token_check,
    )


SPEC = _spec()
