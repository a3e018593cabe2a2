"""serve-multi-lora: 16 chat requests mixed across 8 LoRA adapters in one running batch, in tokens/s.

hone: every request admitted to one `CausalEngine(mixed=True)`, each row choosing its adapter (the batched
LoRA forward of `hone.serve.multi_lora`). Against (a) the same 16 requests on the plain base model without adapters
(`mixed=False`, one batch): what the adapters cost; and (b) the requests one at a time, switching the
active adapter (`set_adapter`) before each: what batching buys. Every request makes exactly the same
number of tokens (EOS is ignored), so all three do the same work.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench import models
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure

NAME = "serve-multi-lora"
SEED = 0

QUESTIONS = (
    "Name a grey cat.",
    "Give me three tips for sleeping better at night.",
    "Why is the sky blue during the day but red at sunset?",
    "Write a short haiku about autumn rain on a window.",
    "How do I boil an egg so the yolk stays soft?",
    "Explain what a hash table is to someone who has never programmed before, with an everyday example, and say "
    "why programmers like them so much.",
    "What should I pack for a two day hike in the mountains in early spring?",
    "Summarise the plot of Romeo and Juliet in two sentences.",
    "Which is heavier, a kilogram of feathers or a kilogram of steel?",
    "Suggest a name for a bakery that sells only sourdough bread.",
    "How can I politely decline an invitation to a birthday party from a colleague I like and work with every day, "
    "without hurting their feelings?",
    "What are the main differences between a lake and a pond?",
    "Translate 'good morning, how are you' into French.",
    "List four vegetables that grow well in a shady garden and say why.",
    "Why do we have leap years, and how often do they happen?",
    "Give me a simple recipe for tomato soup with what most kitchens have.",
)


@dataclass(frozen=True)
class Sizes:
    requests: int
    adapters: int
    new_tokens: int
    r: int


FULL, SMOKE = Sizes(requests=16, adapters=8, new_tokens=32, r=16), Sizes(requests=4, adapters=2, new_tokens=4, r=4)


class Bench:
    """The plain base model, the same base with the adapters, and the requests (prompt, adapter)."""

    def __init__(self, settings: Settings) -> None:
        from hone.tasks.causal import eos_ids
        from hone.train.setup import autocast_for_inference

        self.sizes = SMOKE if settings.smoke else FULL
        self.path = models.model_dir(settings.smoke)
        self.tokenizer = models.tokenizer(self.path)
        self.names = [f"adapter{i}" for i in range(self.sizes.adapters)]
        self.plain = models.base_model(self.path)
        self.model = models.with_random_loras(models.base_model(self.path), self.names, self.sizes.r, SEED)
        self.eos = eos_ids(self.plain, self.tokenizer)
        self.autocast = autocast_for_inference()
        self.requests = [
            (self.prompt(QUESTIONS[i % len(QUESTIONS)]), self.names[i % len(self.names)])
            for i in range(self.sizes.requests)
        ]

    def prompt(self, question: str) -> list[int]:
        messages = [{"role": "user", "content": question}]
        return self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]

    def rows(self, adapters: bool) -> list[Any]:
        from hone.serve.engine import Generation

        return [
            Generation(list(prompt), self.sizes.new_tokens, adapter=name if adapters else None, stop_ids=frozenset())
            for prompt, name in self.requests
        ]

    def batched(self, adapters: bool) -> dict[str, Any]:
        """All requests admitted to one engine, decoded together until every row is done."""
        from hone.serve.engine import CausalEngine

        engine = CausalEngine(self.model if adapters else self.plain, self.eos, None, self.autocast, mixed=adapters)
        rows = self.rows(adapters)
        engine.admit(rows)
        while engine.active:
            engine.step()
        return {"tokens": sum(len(row.tokens) for row in rows), "requests": len(rows)}

    def one_at_a_time(self) -> dict[str, Any]:
        """Each request alone: switch the model's active adapter, prefill, decode, next."""
        from hone.serve.engine import CausalEngine

        engine = CausalEngine(self.model, self.eos, None, self.autocast, mixed=False)
        rows = self.rows(adapters=True)
        for row in rows:
            self.model.set_adapter(row.adapter)
            engine.admit([row])
            while engine.active:
                engine.step()
        return {"tokens": sum(len(row.tokens) for row in rows), "requests": len(rows)}


def run(settings: Settings) -> Result:
    bench = Bench(settings)
    n, k = bench.sizes.requests, bench.sizes.adapters
    setups = [
        ("hone-mixed", f"hone: {n} requests over {k} adapters, one batch", HONE, lambda: bench.batched(True)),
        ("base", f"base model, no adapter: {n} requests, one batch", COMPARISON, lambda: bench.batched(False)),
        ("one-at-a-time", "one request at a time, set_adapter between", COMPARISON, bench.one_at_a_time),
    ]
    figures = measure([Case(*setup, per="tokens") for setup in setups], settings)
    return Result(NAME, __doc__.splitlines()[0], workload(bench, settings), figures, settings)


def workload(bench: Bench, settings: Settings) -> dict[str, Any]:
    lengths = [len(prompt) for prompt, _ in bench.requests]
    return {
        "model": models.describe(bench.path, bench.plain, settings.smoke),
        "lora": models.lora_workload(bench.sizes.adapters, bench.sizes.r),
        "precision": "fp32 weights; hone.train.setup.autocast_for_inference (bf16 autocast on CPUs with AMX, else "
        "fp32), every setup",
        "requests": bench.sizes.requests,
        "adapter_of_request": "request i uses adapter i mod adapters",
        "prompt_tokens": {"min": min(lengths), "max": max(lengths), "total": sum(lengths)},
        "new_tokens_per_request": bench.sizes.new_tokens,
        "decoding": "greedy; EOS ignored so every request makes exactly new_tokens_per_request tokens",
        "prefix_cache": "off (distinct prompts; the figure is batching and adapter mixing alone)",
        "timed": "engine construction, prefill of every request, decoding; tokens/s = generated tokens / seconds",
    }
