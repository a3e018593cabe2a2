"""Prompt templates, and the one function that turns a conversation into training tokens.

The rule that keeps a tuned chat model usable after deployment: the text it is trained on is exactly
the text inference renders for the same conversation, followed by the answer and EOS. So training
tokens are built from the same `prompt()` rendering inference uses (tokenised the same way, piece by
piece), and `parity()` checks it for any conversation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Message = Mapping[str, str]

NAMED_TEMPLATES = {
    "alpaca": "{system}### Instruction:\n{prompt}\n\n### Response:\n",
    "plain": "{system}{prompt}\n",
}
IGNORE = -100  # label of tokens that carry no loss (prompt, padding)


class TemplateError(ValueError):
    """A template that cannot render a conversation consistently."""


@dataclass(frozen=True)
class Template:
    """How a conversation becomes text: the tokenizer's chat template, or a format string with `{prompt}`."""

    spec: str = "chat"
    system: str | None = None

    @property
    def is_chat(self) -> bool:
        return self.spec == "chat"

    def check(self, tokenizer: Any) -> None:
        if self.is_chat and not getattr(tokenizer, "chat_template", None):
            raise TemplateError(
                "data.template is `chat` but this tokenizer has no chat template; set data.template to `alpaca`, "
                "`plain` or a string with {prompt}"
            )
        if not self.is_chat and "{prompt}" not in NAMED_TEMPLATES.get(self.spec, self.spec):
            raise TemplateError(
                f"data.template {self.spec!r} is neither `chat`, a named template ({', '.join(NAMED_TEMPLATES)}) "
                "nor a string containing {prompt}"
            )

    def with_system(self, messages: Sequence[Message]) -> list[dict[str, str]]:
        out = [dict(m) for m in messages]
        if self.system and (not out or out[0]["role"] != "system"):
            out.insert(0, {"role": "system", "content": self.system})
        return out

    def prompt(self, messages: Sequence[Message], tokenizer: Any) -> str:
        """The text up to where the next assistant answer starts (what inference feeds the model)."""
        messages = self.with_system(messages)
        if self.is_chat:
            return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        system = "".join(m["content"] + "\n\n" for m in messages if m["role"] == "system")
        turns = [m for m in messages if m["role"] != "system"]
        history = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in turns[:-1])
        last = turns[-1]["content"] if turns else ""
        text = NAMED_TEMPLATES.get(self.spec, self.spec)
        return text.replace("{system}", system).replace("{prompt}", history + last)

    def segments(self, messages: Sequence[Message], tokenizer: Any) -> list[tuple[str, bool]]:
        """The conversation as (text, trained) pieces whose concatenation is the training text.

        Every assistant turn is trained (its content and EOS); everything else is context. When a
        template renders earlier turns differently once later ones follow (some strip reasoning from
        history), only the last assistant turn is trained, after the prompt inference would render.
        """
        eos = tokenizer.eos_token or ""
        answers = [i for i, m in enumerate(messages) if m["role"] == "assistant"]
        pieces: list[tuple[str, bool]] = []
        consumed = ""
        for i in answers if self.is_chat else answers[-1:]:
            prompt = self.prompt(messages[:i], tokenizer)
            if not prompt.startswith(consumed):
                last = answers[-1]
                return [(self.prompt(messages[:last], tokenizer), False), (messages[last]["content"] + eos, True)]
            pieces.append((prompt[len(consumed) :], False))
            pieces.append((messages[i]["content"] + eos, True))
            consumed = prompt + messages[i]["content"] + eos
        return [(text, trained) for text, trained in pieces if text]


def tokenize_segments(
    segments: Sequence[tuple[str, bool]], tokenizer: Any, max_length: int
) -> tuple[list[int], list[int], bool]:
    """Token ids and labels (IGNORE on context); prompts are cut from the left to fit, answers from the right.

    Returns (input_ids, labels, completion_cut): the last flag is True when an answer lost tokens.
    """
    ids: list[int] = []
    labels: list[int] = []
    bos = getattr(tokenizer, "bos_token_id", None)
    if getattr(tokenizer, "add_bos_token", False) and bos is not None:
        ids, labels = [bos], [IGNORE]
    for text, trained in segments:
        piece = tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if trained else [IGNORE] * len(piece)
    if len(ids) <= max_length:
        return ids, labels, False
    first_trained = next((i for i, x in enumerate(labels) if x != IGNORE), len(ids))
    cut = min(len(ids) - max_length, first_trained)
    ids, labels = ids[cut:], labels[cut:]
    return ids[:max_length], labels[:max_length], len(ids) > max_length


def prompt_ids(messages: Sequence[Message], tokenizer: Any, template: Template, max_length: int) -> list[int]:
    """The prompt tokens inference generates from, tokenised exactly as training tokenised them."""
    ids, _, _ = tokenize_segments([(template.prompt(messages, tokenizer), False)], tokenizer, 1 << 30)
    return ids[-max_length:]


def parity(messages: Sequence[Message], tokenizer: Any, template: Template) -> dict[str, Any]:
    """Does training see exactly what inference renders? For one conversation ending in an answer.

    Compares (1) the training tokens up to the last answer with the tokens inference builds for
    the same prompt, and (2) for chat templates, the training text with the template's own
    rendering of the whole conversation.
    """
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    train_ids, labels, _ = tokenize_segments(template.segments(messages[: last + 1], tokenizer), tokenizer, 1 << 30)
    answer_start = len(train_ids) - next(i for i, x in enumerate(reversed(labels)) if x == IGNORE)
    infer_ids = prompt_ids(messages[:last], tokenizer, template, 1 << 30)
    result: dict[str, Any] = {
        "prompt_matches": train_ids[:answer_start] == infer_ids,
        "ends_with_eos": bool(train_ids) and train_ids[-1] == tokenizer.eos_token_id,
    }
    if template.is_chat:
        training_text = "".join(text for text, _ in template.segments(messages[: last + 1], tokenizer))
        rendered = tokenizer.apply_chat_template(
            template.with_system(messages[: last + 1]), tokenize=False, add_generation_prompt=False
        )
        result["template_matches"] = rendered.startswith(training_text)
    return result
