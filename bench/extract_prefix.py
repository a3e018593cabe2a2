"""extract-prefix: 20 fields from one product description, hone's way against the naive loop.

hone (the way /v1/extract serves it): one engine row prefills the prompt once and decodes the whole
20-field JSON object under the JSON constraint. The naive loop: one `model.generate` per field, each on the
full document plus a question for that one field, nothing reused between them. Both run the same LoRA
model in the same precision (the one hone serves in: bf16 autocast on CPUs with AMX, else fp32). Two more
hone figures time the same 20-field request with the prefix cache warm: after a request for a different
field subset of the same document, and after the very same request. A last check, in fp32, decodes the
object without a cache and with each warm cache and compares the tokens: the prefix cache must change
nothing.

The fan-out arm (`generate.decode: fanout`, `hone.tasks.fanout`): the same prompt prefilled once, then one row
per field sharing its KV states, each writing only its key and its value, all rows in one batch, forced tokens
appended without decode steps. Its ratio is taken against the naive loop like every hone figure; the checks
add its ratio to the whole-object figure, and how many of its values equal the whole object's (a field row
sees the document and its own key only, not the fields before it, so values may differ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from bench import models
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure

NAME = "extract-prefix"
PRECISION = "hone.train.setup.autocast_for_inference: bf16 autocast on CPUs with AMX, else fp32"
ADAPTER = "extract"
LORA_R = 16
SEED = 0
VALUE_TOKENS = 16  # the naive loop's max_new_tokens per field; hone's budget allows as many per field
CACHE_BYTES = 1 << 30

DOCUMENT = (
    "The Kestrel Outdoor Ridgeline 28 is a hiking backpack for long day hikes and light overnight trips.",
    "Its body is woven from recycled nylon in a deep forest green, with black trim and reflective pull tabs.",
    "The pack weighs 1.1 kg, measures 52 x 30 x 22 cm and holds 28 litres, plus two stretch side pockets for bottles.",
    "This is the M size, which fits torsos from 43 to 51 cm; an adjustable aluminium stay carries the load "
    "onto the hips.",
    "The fabric is water resistant rather than waterproof, so a rain cover is included, along with a "
    "hydration sleeve that takes a 2 litre bladder.",
    "Inside, a padded sleeve fits a laptop up to 15 inches, and the hip belt has two zipped pockets for a phone "
    "and snacks.",
    "There is no electronics on board: the pack needs no battery and nothing to charge.",
    "Kestrel designed the Ridgeline in Sweden; it is made in Vietnam in a bluesign certified factory and was "
    "released in spring 2024.",
    "It sells for 129 EUR and comes with a 5 year warranty against defects in materials and workmanship.",
    "To clean it, hand wash in cold water with mild soap, never machine wash, and let it air dry away from direct sun.",
    "The recommended user is an adult hiker carrying up to 12 kg; a smaller S size and a larger L size are "
    "sold separately.",
)

# (name, type, allowed values, description): the 20 fields asked for.
FIELDS: tuple[tuple[str, str, list[str] | None, str | None], ...] = (
    ("brand", "string", None, "the maker's name"),
    ("product_type", "string", None, None),
    ("model", "string", None, "the product line and number"),
    ("colour", "string", ["black", "grey", "green", "blue", "red"], None),
    ("material", "string", ["nylon", "polyester", "canvas", "leather"], "the main fabric"),
    ("size", "string", ["S", "M", "L"], None),
    ("weight", "string", None, "with its unit"),
    ("dimensions", "string", None, None),
    ("capacity", "string", None, "with its unit"),
    ("price", "number", None, None),
    ("currency", "string", ["EUR", "USD", "GBP"], None),
    ("warranty", "string", None, "how long"),
    ("country_of_origin", "string", None, "where it is made"),
    ("designed_in", "string", None, None),
    ("water_resistance", "string", ["none", "water resistant", "waterproof"], None),
    ("frame", "string", None, None),
    ("included_accessories", "string", None, None),
    ("care_instructions", "string", None, None),
    ("release_year", "integer", None, None),
    ("battery_life", "string", None, None),
)


@dataclass(frozen=True)
class Sizes:
    fields: int
    sentences: int
    value_tokens: int


FULL, SMOKE = (
    Sizes(fields=20, sentences=len(DOCUMENT), value_tokens=VALUE_TOKENS),
    Sizes(fields=4, sentences=2, value_tokens=4),
)


@dataclass
class Request:
    """One extraction request: the task (fields), its compiled JSON program and the token budget."""

    task: Any
    program: Any
    budget: int


class Bench:
    """The model, tokenizer, requests and engine shared by every case."""

    def __init__(self, settings: Settings) -> None:
        from hone.serve.engine import CausalEngine
        from hone.tasks.causal import eos_ids
        from hone.train.setup import autocast_for_inference

        self.sizes = SMOKE if settings.smoke else FULL
        self.path = models.model_dir(settings.smoke)
        self.tokenizer = models.tokenizer(self.path)
        base = models.base_model(self.path)
        self.model = models.with_random_loras(base, [ADAPTER], LORA_R if not settings.smoke else 4, SEED)
        self.eos = eos_ids(self.model, self.tokenizer)
        self.autocast = autocast_for_inference()
        self.document = " ".join(DOCUMENT[: self.sizes.sentences])
        fields = FIELDS[: self.sizes.fields]
        self.full = self.request(fields)
        self.subset = self.request(fields[: max(1, len(fields) // 2)])  # a different field subset, same document
        self.engine = CausalEngine(self.model, self.eos, None, self.autocast, mixed=True)

    def request(self, fields: tuple[tuple[str, str, list[str] | None, str | None], ...]) -> Request:
        """A request for `fields`, as /v1/extract builds it (`task_ops._task_for` and `_program`)."""
        from hone.tasks.extract import ExtractTask
        from hone.tasks.json_decode import JsonProgram

        task = ExtractTask(
            fields=[name for name, *_ in fields],
            types={name: kind for name, kind, _, _ in fields},
            values={name: allowed for name, _, allowed, _ in fields},
            descriptions={name: about for name, _, _, about in fields},
        )
        program = JsonProgram(self.tokenizer, task.fields, task.values)
        return Request(task, program, program.forced_tokens + len(fields) * self.sizes.value_tokens)

    # --- hone -------------------------------------------------------------------------------------------

    def prompt(self, request: Request) -> list[int]:
        """The prompt tokens, exactly as `task_ops._extract_prompt` builds them."""
        from hone.tasks.chat import prompt_ids

        task = request.task
        return prompt_ids(task.as_messages(self.document), self.tokenizer, task.chat_template, 1 << 30)

    def extract(self, request: Request, engine: Any = None) -> Any:
        """One engine row decoding the whole object under the JSON constraint, from one prefill."""
        from hone.serve.engine import Generation

        engine = engine or self.engine
        constraint = request.program.processors(request.budget)[0]
        row = Generation(self.prompt(request), request.budget, adapter=ADAPTER, constraint=constraint)
        engine.admit([row])
        while engine.active:
            engine.step()
        return row

    def fanout(self, request: Request, autocast: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The object decoded fan-out (one prefill, then one row per field; each value capped like the naive
        loop's answers): the decoder's result and the parsed values (None: not the object)."""
        from hone.tasks import fanout

        tokenizer, cap = self.tokenizer, self.sizes.value_tokens
        [result] = fanout.decode(self.model, tokenizer, request.program, [self.prompt(request)], cap, 1, autocast)
        text = tokenizer.decode(result["ids"], skip_special_tokens=True, clean_up_tokenization_spaces=False)
        parsed = request.task.read(text)
        return result, None if parsed is None else dict(parsed)

    def fanout_notes(self, request: Request) -> dict[str, Any]:
        result, values = self.fanout(request, self.autocast)
        return {
            "prompt_tokens": len(self.prompt(request)),
            "prefills": 1,
            "rows": len(request.task.fields),
            "generated_tokens": sum(len(v) for v in result["values"]),
            "chosen_tokens": result["chosen"],
            "longest_value_tokens": max(len(v) for v in result["values"]),
            "valid_json": values is not None,
        }

    def fanout_check(self, figures: list[Any]) -> dict[str, Any]:
        """In fp32: the fan-out values against the whole object's; and fan-out's ratio to the whole object."""
        from hone.serve.engine import CausalEngine

        engine = CausalEngine(self.model, self.eos, None, None, mixed=True)
        whole, fanned = self.values(self.extract(self.full, engine)) or {}, self.fanout(self.full, None)[1] or {}
        seconds = {f.key: f.value for f in figures}
        return {
            "precision": "fp32",
            "valid_json": bool(fanned),
            "fields_equal_to_whole_object": sum(whole.get(k) == v for k, v in fanned.items()),
            "fields": len(self.full.task.fields),
            "values": fanned,
            "fanout_vs_object": seconds["hone"] / seconds["fanout"],
            "fanout_vs_naive": seconds["naive"] / seconds["fanout"],
        }

    def hone_notes(self, request: Request) -> dict[str, Any]:
        row = self.extract(request)
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return {
            "prompt_tokens": len(row.prompt),
            "cached_tokens": row.cached_tokens,
            "prefills": 1,
            "generated_tokens": len(row.tokens),
            "valid_json": request.task.read(text) is not None,
        }

    def fresh_cache(self, warm_with: Request | None = None) -> None:
        from hone.serve.cache import PrefixCache

        self.engine.cache = PrefixCache(CACHE_BYTES)
        if warm_with is not None:
            self.extract(warm_with)

    # --- the naive loop ---------------------------------------------------------------------------------

    def naive(self) -> dict[str, Any]:
        """One greedy `generate` per field on the full prompt: 20 prefills, no cache shared between them."""
        fields = FIELDS[: self.sizes.fields]
        return naive_loop(self.model, self.tokenizer, self.document, fields, self.sizes.value_tokens, self.autocast)

    # --- the check --------------------------------------------------------------------------------------

    def cache_changes_nothing(self) -> dict[str, Any]:
        """In fp32, the object decoded without a cache and with each warm cache: the same tokens and values?"""
        from hone.serve.cache import PrefixCache
        from hone.serve.engine import CausalEngine

        runs = {}
        for key, warm_with in (("no_cache", None), ("warm_subset", self.subset), ("warm_repeat", self.full)):
            cache = None if warm_with is None else PrefixCache(CACHE_BYTES)
            engine = CausalEngine(self.model, self.eos, cache, None, mixed=True)
            if warm_with is not None:
                self.extract(warm_with, engine)
            runs[key] = self.extract(self.full, engine)
        tokens = [row.tokens for row in runs.values()]
        values = [self.values(row) for row in runs.values()]
        return {
            "identical_outputs": all(t == tokens[0] for t in tokens) and all(v == values[0] for v in values),
            "precision": "fp32",
            "cached_tokens": {key: row.cached_tokens for key, row in runs.items()},
            "values": values[0],
        }

    def values(self, row: Any) -> dict[str, Any] | None:
        text = self.tokenizer.decode(row.tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        parsed = self.full.task.read(text)
        return None if parsed is None else dict(parsed)


def field_question(tokenizer: Any, document: str, field: tuple[str, str, list[str] | None, str | None]) -> list[int]:
    """The naive loop's prompt for one field: the document and a question about that field alone."""
    name, _, allowed, about = field
    what = name.replace("_", " ") + (f" ({about})" if about else "")
    choices = f", one of: {', '.join(allowed)}" if allowed else ""
    ask = f"What is the {what} of this product? Answer with the value only{choices}; answer null if not given."
    messages = [{"role": "user", "content": f"{document}\n\n{ask}"}]
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)["input_ids"]


def naive_loop(
    model: Any, tokenizer: Any, document: str, fields: Any, value_tokens: int, autocast: Any
) -> dict[str, Any]:
    """One greedy `model.generate` per field on `document` plus that field's question (`field_question`), each
    answer decoded to text: what a user writes without a shared read of the document."""
    from hone.tasks.causal import eos_ids

    eos = eos_ids(model, tokenizer)
    prompt_tokens = generated = 0
    with torch.inference_mode(), autocast():
        for field in fields:
            ids = torch.tensor([field_question(tokenizer, document, field)])
            out = model.generate(
                input_ids=ids,
                attention_mask=torch.ones_like(ids),
                max_new_tokens=value_tokens,
                do_sample=False,
                eos_token_id=eos,
                pad_token_id=tokenizer.pad_token_id or eos[0],
            )
            tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True)
            prompt_tokens += ids.shape[1]
            generated += out.shape[1] - ids.shape[1]
    return {"prompt_tokens": prompt_tokens, "prefills": len(fields), "generated_tokens": generated}


def run(settings: Settings) -> Result:
    bench = Bench(settings)
    full, subset = bench.full, bench.subset
    n, k = len(full.task.fields), len(subset.task.fields)

    def hone() -> dict[str, Any]:
        return bench.hone_notes(full)

    cases = [
        Case("hone", f"hone: {n} fields, 1 prefill, cache empty", HONE, hone, bench.fresh_cache),
        Case("naive", f"naive loop: {n} generate calls", COMPARISON, bench.naive),
        Case(
            "hone-warm-subset",
            f"hone: cache warm from a {k}-field request",
            HONE,
            hone,
            lambda: bench.fresh_cache(subset),
        ),
        Case("hone-warm-repeat", "hone: cache warm from the same request", HONE, hone, lambda: bench.fresh_cache(full)),
        Case("fanout", f"hone fan-out: 1 prefill, {n} value rows in one batch", HONE, lambda: bench.fanout_notes(full)),
    ]
    figures = measure(cases, settings)
    check = {**bench.cache_changes_nothing(), "fanout": bench.fanout_check(figures)}
    return Result(NAME, __doc__.splitlines()[0], workload(bench, settings), figures, settings, check)


def workload(bench: Bench, settings: Settings) -> dict[str, Any]:
    n_fields = len(bench.full.task.fields)
    return {
        "model": models.describe(bench.path, bench.model, settings.smoke),
        "lora": models.lora_workload(1, LORA_R if not settings.smoke else 4),
        "precision": PRECISION + ", both sides",
        "document_tokens": len(bench.tokenizer(bench.document, add_special_tokens=False)["input_ids"]),
        "document_sentences": bench.sizes.sentences,
        "fields": bench.full.task.fields,
        "fields_with_allowed_values": [name for name, values in bench.full.task.values.items() if values],
        "hone": {
            "prompt_tokens": len(bench.prompt(bench.full)),
            "max_tokens": bench.full.budget,
            "subset_fields": bench.subset.task.fields,
            "engine": "CausalEngine(mixed=True), 1 row, JsonProgram constraint, greedy",
            "timed": "prompt building, prefill, constrained decoding, parsing; JSON program compiled once before",
        },
        "fanout": {
            "rows": f"1 prefill, then 1 row per field (a copy of the prompt's KV states each), {n_fields} in one batch",
            "max_value_tokens": bench.sizes.value_tokens,
            "model": "PeftModel forward with a DynamicCache, greedy, no serving engine",
        },
        "naive": {
            "calls": bench.sizes.fields,
            "max_new_tokens": bench.sizes.value_tokens,
            "generate": "PeftModel.generate, greedy, stops at EOS, one prompt per field (document + question)",
        },
    }
