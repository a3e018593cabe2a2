"""Prompting baselines for causal-LM tasks: the untuned base model, zero-shot or with k demonstrations.

A LoRA run has to beat the cheapest thing a team would try first: ask the base model, then show it
the k training examples most like the prompt (picked by embedding similarity) as earlier turns of
the conversation. Both use the task's own prompt rendering and decoding, so the only difference from
the tuned model is the weights.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np


@functools.lru_cache(maxsize=1)
def load_base(model_dir: str, builder: Any, seed: int = 0) -> tuple[Any, Any]:
    """The untuned model and its tokenizer, built once for every baseline of a run.

    Built under `seed`: a checkpoint without the task's head (a sentence encoder has no MLM head) gets a
    new random one, and the baseline must be the same model on every call.
    """
    import torch
    from transformers import AutoTokenizer

    from hone.models.resolve import quiet_transformers

    quiet_transformers()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = builder(model_dir)
    model.eval()
    return model, AutoTokenizer.from_pretrained(model_dir)


class UntunedModel:
    """The base model as it comes, scored by the task's own `predict`: what tuning must improve on."""

    name = "base"

    def __init__(self, task: Any, model_dir: str, batch_size: int, seed: int = 0) -> None:
        self.task, self.model_dir, self.batch_size, self.seed = task, model_dir, batch_size, seed

    def fit(self, train: Sequence[Any]) -> None:  # nothing to fit: it is the model as it comes
        return None

    def predict(self, inputs: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
        from hone.train.setup import autocast_for_inference

        model, tokenizer = load_base(self.model_dir, self.task.build_model, self.seed)
        return self.task.predict(model, tokenizer, list(inputs), self.batch_size, autocast_for_inference())


class PromptBaseline:
    """The base model answering prompts, with `shots` retrieved demonstrations (0 = zero-shot)."""

    def __init__(self, name: str, task: Any, model_dir: str, shots: int = 0, retriever: str = "minilm") -> None:
        self.name, self.task, self.model_dir, self.shots, self.retriever = name, task, model_dir, shots, retriever
        self.batch_size = 16
        self._demos: list[Any] = []
        self._vectors: np.ndarray | None = None
        self._encoder: Any = None

    def fit(self, train: Sequence[Any]) -> None:
        """Zero-shot needs nothing; k-shot embeds the training prompts to pick demonstrations from."""
        if not self.shots:
            return
        from sentence_transformers import SentenceTransformer

        from hone.models.resolve import resolve_model

        self._encoder = SentenceTransformer(str(resolve_model(self.retriever)), device="cpu")
        self._demos = list(train)
        self._vectors = self._embed([ex.text for ex in self._demos])

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        return self._encoder.encode(list(texts), batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    def predict(self, inputs: Sequence[Any]) -> tuple[list[Any], np.ndarray]:
        from hone.train.setup import autocast_for_inference

        model, tokenizer = load_base(self.model_dir, self.task.build_model)
        prompts = [self.task.as_messages(x) for x in inputs]
        if self.shots and self._vectors is not None:
            # compare like with like: the raw input (a text, or a conversation's last user turn), not the
            # task's rendered prompt, which for extraction wraps every text in the same instruction
            queries = self._embed([x if isinstance(x, str) else _last_user(x) for x in inputs])
            nearest = np.argsort(-(queries @ self._vectors.T), axis=1)[:, : self.shots]
            prompts = [
                with_demonstrations(p, [self._demos[j] for j in row], self.task)
                for p, row in zip(prompts, nearest, strict=True)
            ]
        return self.task.predict(model, tokenizer, prompts, self.batch_size, autocast_for_inference())


def with_demonstrations(prompt: list[dict[str, str]], demos: Sequence[Any], task: Any) -> list[dict[str, str]]:
    """The prompt with each demonstration as an earlier user/assistant exchange (most similar last)."""
    system = [m for m in prompt if m["role"] == "system"]
    shown = [m for demo in reversed(demos) for m in task.answer_messages(demo) if m["role"] != "system"]
    return system + shown + [m for m in prompt if m["role"] != "system"]


def _last_user(messages: Sequence[dict[str, str]]) -> str:
    return next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
