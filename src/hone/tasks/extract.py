"""Structured extraction: a causal LM reads a text and writes one JSON object of declared fields.

Rows are `{"text": ..., "fields": {"brand": "Norrland", "color": null, ...}}`: a value is copied from the
text, or null when the text does not give it (a declared field missing from a row counts as null). The
prompt lists the fields with their type, allowed values and description; the answer is the object with
the fields in a fixed order. Training reuses the instruct task (packing, loss on answer tokens only,
checkpoints chosen on held-out loss) but tokenises the answer in the pieces the constrained decoder of
`hone.tasks.json_decode` forces and chooses, so every prediction is an object with exactly the declared
fields. Under `decode` "fanout" each example trains as one tree row (`hone.tasks.tree`): the prompt once, then
every field's fan-out row after it (its opening, its own key, its value), as fan-out decoding sees it. Values
are decoded as JSON strings and converted to the declared type afterwards. Scores are slot
F1 over fields, null handling and grounding (`hone.evaluate.extract_metrics`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from torch import nn

from hone.config.schema import ExtractConfig, ExtractDataConfig, ExtractField
from hone.data import problems as P
from hone.data.problems import Problem
from hone.tasks import causal, fanout, tree
from hone.tasks.chat import IGNORE, prompt_ids, tokenize_segments
from hone.tasks.fields import required_text, type_name
from hone.tasks.instruct import InstructTask, chat_settings, prompt_baselines, token_check
from hone.tasks.json_decode import JsonProgram, answer_pieces, read_object

# The instruction of a saved model whose hone.json names none: runs saved before hone recorded it were trained with
# this one (the config's default then). New runs always record theirs (`ExtractDataConfig.instruction_for`).
DEFAULT_INSTRUCTION = (
    "Extract the product attributes from the description as JSON. Use null when the description does not say."
)
_INTEGER = re.compile(r"[+-]?\d+")
_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")
_BOOLEAN = {"true": True, "yes": True, "false": False, "no": False}


@dataclass(frozen=True)
class ExtractExample:
    """One text and the values of its fields (None: the text does not give one)."""

    text: str
    fields: tuple[tuple[str, Any], ...]
    source: str
    line: int

    @property
    def input(self) -> str:
        """What the model is given: the raw text (the task renders the prompt around it)."""
        return self.text

    @property
    def document(self) -> dict[str, Any]:
        return dict(self.fields)

    @property
    def labels(self) -> tuple[str, ...]:
        return ()

    @property
    def label_key(self) -> str:
        return json.dumps(self.document, sort_keys=True, ensure_ascii=False)

    @property
    def stratify_key(self) -> str:
        return ""


class Extraction(dict):
    """One predicted object, {field: value or None}, values in their declared types.

    `unconverted` names the fields whose decoded text was not of the field's type (and became None); it is
    not stored by `to_json`.
    """

    unconverted: tuple[str, ...] = ()


@dataclass(frozen=True)
class GoldDocument:
    """A test example's gold fields with its text: the grounding metrics need the text, and the bootstrap
    resamples the two together."""

    fields: dict[str, Any]
    text: str


def value_text(value: Any) -> str | None:
    """A row's value as the text the model writes: strings as they are, numbers and booleans as JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def to_type(text: str, kind: str) -> Any:
    """A decoded string as `kind` (string, integer, number, boolean); ValueError when it is not one."""
    stripped = text.strip()
    if kind == "string":
        return text
    if kind == "integer" and _INTEGER.fullmatch(stripped):
        return int(stripped)
    if kind == "number" and _NUMBER.fullmatch(stripped):
        return int(stripped) if _INTEGER.fullmatch(stripped) else float(stripped)
    if kind == "boolean" and stripped.lower() in _BOOLEAN:
        return _BOOLEAN[stripped.lower()]
    raise ValueError(f"{text!r} is not {'an' if kind == 'integer' else 'a'} {kind}")


# --- the example contract -----------------------------------------------------------------------------------


def parse_extract(
    record: Mapping[str, Any], data: ExtractDataConfig, source: str, line: int
) -> ExtractExample | list[Problem]:
    """A row as a text and its {field: value or null}; every problem with its line and field."""
    problems: list[Problem] = []
    text = required_text(record, data.text_field, "the text to extract from", source, line, problems, "data.text_field")
    values = _field_values(record, data, source, line, problems)
    if problems or text is None or values is None:
        return problems
    return ExtractExample(text=text, fields=tuple(values.items()), source=source, line=line)


def _field_values(
    record: Mapping[str, Any], data: ExtractDataConfig, source: str, line: int, out: list[Problem]
) -> dict[str, Any] | None:
    name = data.fields_field
    if name not in record:
        message = f"no {name!r} field; each row needs its {{field: value or null}} object (or set data.fields_field)"
        out.append(Problem(P.MISSING_FIELD, message, source, line, name))
        return None
    values = record[name]
    if not isinstance(values, dict):
        message = f"{name!r} must be an object {{field: value or null}}, got {type_name(values)}"
        out.append(Problem(P.WRONG_TYPE, message, source, line, name))
        return None
    found = [(key, problem) for key, value in values.items() if (problem := _value_problem(key, value, data.fields))]
    out.extend(Problem(category, message, source, line, f"{name}.{key}") for key, (category, message) in found)
    return None if found else values


def _value_problem(key: str, value: Any, declared: dict[str, ExtractField] | None) -> tuple[str, str] | None:
    """(category, message) of what is wrong with one value, or None."""
    if declared is not None and key not in declared:
        return P.UNKNOWN_LABEL, f"field {key!r} is not in data.fields ({', '.join(declared)}); declare it or drop it"
    if value is None:
        return None
    if not isinstance(value, str | int | float):
        return P.WRONG_TYPE, f"the value of {key!r} must be a string, number, boolean or null, got {type_name(value)}"
    text = value_text(value) or ""
    if not text.strip():
        return P.EMPTY_FIELD, f"the value of {key!r} is empty; write null when the text does not give one"
    spec = declared[key] if declared is not None else None
    if spec is not None and spec.values is not None and text not in spec.values:
        allowed = ", ".join(map(repr, spec.values))
        return P.UNKNOWN_LABEL, f"{text!r} is not an allowed value of {key!r} ({allowed}); fix it or allow it"
    try:
        to_type(text, spec.type if spec is not None else "string")
    except ValueError as exc:
        return P.WRONG_TYPE, f"the value of {key!r}: {exc}, as data.fields.{key}.type says; fix the value or the type"
    return None


def _label_problems(examples: Sequence[ExtractExample], ratio: float) -> list[Problem]:
    """Fields that are null in every training example: the model would learn to always answer null."""
    seen: dict[str, bool] = {}
    for ex in examples:
        for name, value in ex.fields:
            seen[name] = seen.get(name, False) or value is not None
    return [
        Problem(
            P.TOO_FEW,
            f"field {name!r} is null in all {len(examples)} training examples: the model will learn to always answer "
            "null for it; add examples whose text gives it",
            severity="warning",
        )
        for name, filled in seen.items()
        if not filled
    ]


def _field_settings(data: ExtractDataConfig, examples: Sequence[ExtractExample]) -> dict[str, Any]:
    """The declared fields in order, else every field name in the data, sorted (as strings)."""
    declared = data.fields or {name: ExtractField() for name in sorted({n for ex in examples for n, _ in ex.fields})}
    if not declared:
        raise ValueError("no fields to extract: declare data.fields, or give the rows non-empty `fields` objects")
    return {
        "fields": list(declared),
        "types": {name: f.type for name, f in declared.items()},
        "values": {name: f.values for name, f in declared.items()},
        "descriptions": {name: f.description for name, f in declared.items()},
        "normalised": [name for name, f in declared.items() if f.normalised],
        "instruction": data.instruction_for(list(declared)),
        "value_chars": _longest_values(declared, examples),
    }


def _longest_values(fields: Mapping[str, Any], examples: Sequence[ExtractExample]) -> dict[str, int]:
    """Each field's longest value in `examples`, in characters, as the decoder will write it (fields with
    no value in the data are left out: they keep the decoder's general cap)."""
    longest: dict[str, int] = {}
    for ex in examples:
        for name, value in ex.fields:
            if name in fields and value is not None:
                longest[name] = max(longest.get(name, 0), len(value_text(value) or ""))
    return longest


# --- the task -----------------------------------------------------------------------------------------------


@dataclass
class ExtractTask(InstructTask):
    """Instruct tuning whose answers are JSON objects of `fields`, predicted under the JSON constraint."""

    fields: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)
    values: dict[str, list[str] | None] = field(default_factory=dict)
    descriptions: dict[str, str | None] = field(default_factory=dict)
    instruction: str = DEFAULT_INSTRUCTION
    value_chars: dict[str, int] = field(default_factory=dict)  # longest training value per field (budgets)
    normalised: list[str] = field(default_factory=list)  # fields written in a normal form: never grounded
    decode: str = "object"  # "object": the whole object in one row; "fanout": one row per field (fanout.py)

    name = "extract"
    primary_metric = "field_f1_micro"

    @classmethod
    def from_config(cls, config: ExtractConfig, examples: Sequence[Any]) -> ExtractTask:
        settings = _field_settings(config.data, examples)
        return cls(**chat_settings(config), **settings, decode=config.generate.decode)

    def describe(self) -> dict[str, Any]:
        return {
            **super().describe(),
            "fields": list(self.fields),
            "types": dict(self.types),
            "values": dict(self.values),
            "descriptions": dict(self.descriptions),
            "instruction": self.instruction,
            "value_chars": dict(self.value_chars),
            "normalised": list(self.normalised),
            "decode": self.decode,
        }

    def user_prompt(self, text: str) -> str:
        """The instruction, one line per field (type, allowed values, description), then the text."""
        lines = [self.instruction, "", "Fields:"]
        for name in self.fields:
            kind, allowed, about = self.types.get(name, "string"), self.values.get(name), self.descriptions.get(name)
            notes = ([kind] if kind != "string" else []) + ([f"one of: {', '.join(allowed)}"] if allowed else [])
            lines.append(f"- {name}" + (f" ({'; '.join(notes)})" if notes else "") + (f": {about}" if about else ""))
        return "\n".join([*lines, "", "Text:", text])

    def as_messages(self, x: Any) -> list[dict[str, str]]:
        """A raw text as the prompt conversation; a message list (e.g. with demonstrations) passes through."""
        if not isinstance(x, str):
            return [dict(m) for m in x]
        system = [{"role": "system", "content": self.system}] if self.system else []
        return [*system, {"role": "user", "content": self.user_prompt(x)}]

    def answer_pieces(self, document: Mapping[str, Any]) -> list[str]:
        """The answer as the decoder writes it: key pieces and value pieces, alternating."""
        return answer_pieces(self.fields, [value_text(document.get(name)) for name in self.fields])

    def answer_messages(self, example: Any) -> list[dict[str, str]]:
        answer = "".join(self.answer_pieces(example.document))
        return [*self.as_messages(example.text), {"role": "assistant", "content": answer}]

    def segments(self, example: ExtractExample, tokenizer: Any) -> list[tuple[str, bool]]:
        """Training text as (text, trained) pieces: the inference prompt, each answer piece on its own, EOS."""
        prompt = self.chat_template.prompt(self.as_messages(example.text), tokenizer)
        answer = [(piece, True) for piece in self.answer_pieces(example.document)]
        return [(prompt, False), *answer, (tokenizer.eos_token or "", True)]

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        """Training rows: the whole object after the prompt, or under `decode` "fanout" one tree row per
        example (`field_tree`)."""
        self.chat_template.check(tokenizer)
        if self.decode == "fanout":
            keys = [key for key, _ in JsonProgram(tokenizer, self.fields, self.values).field_rows()]
            features = [self.field_tree(ex, tokenizer, keys) for ex in examples]
        else:
            features = [self._object_row(ex, tokenizer) for ex in examples]
        return causal.pack(features, self.max_length) if self.packing else features

    def _object_row(self, example: ExtractExample, tokenizer: Any) -> dict[str, Any]:
        ids, labels, _ = tokenize_segments(self.segments(example, tokenizer), tokenizer, self.max_length)
        return {"input_ids": ids, "labels": labels}

    def field_tree(self, example: ExtractExample, tokenizer: Any, keys: Sequence[Sequence[int]]) -> dict[str, Any]:
        """The example as fan-out decoding sees it, the document once (`hone.tasks.tree`): the prompt, then per
        field its fan-out row's forced tokens (`keys`: `JsonProgram.field_rows`, the object's opening and that
        field's key only) and its value piece, tokenised as the whole-object rows tokenise it. Only the
        values are trained; no EOS (a fan-out row ends at its value's delimiter)."""
        prompt = prompt_ids(self.as_messages(example.text), tokenizer, self.chat_template, 1 << 30)
        values = self.answer_pieces(example.document)[1::2]
        branches = []
        for key, piece in zip(keys, values, strict=True):
            value = tokenizer(piece, add_special_tokens=False)["input_ids"]
            branches.append(([*key, *value], [IGNORE] * len(key) + value))
        return tree.tree_row(prompt, branches, self.max_length)

    def reference_of(self, example: Any) -> Any:
        """The reference document's fields (the suspect-label tables show them as an object)."""
        return {name: example.document.get(name) for name in self.fields}

    def dev_metrics(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> dict[str, float]:
        """Held-out loss and perplexity of the reference answers (teacher-forced: no generation)."""
        features = replace(self, packing=False).encode(examples, tokenizer)
        return causal.held_out_loss(model, features, causal.pad_id(tokenizer), batch_size, autocast)

    def predict(
        self, model: nn.Module, tokenizer: Any, inputs: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> tuple[list[Extraction | None], np.ndarray]:
        """One object per input (raw text or prompt messages), decoded under the JSON constraint.

        Confidence: the mean probability of the tokens the model chose (forced scaffold tokens left out).
        `decode` "fanout": one prefill per document, then every field's value in a row of its own
        (`hone.tasks.fanout`); each value may take `max_new_tokens` tokens, and `batch_size` counts rows.
        """
        program = JsonProgram(tokenizer, self.fields, self.values, value_chars=self.value_chars)
        if self.decode == "fanout":
            prompts = self.prompts(inputs, tokenizer)
            results = fanout.decode(model, tokenizer, program, prompts, self.max_new_tokens, batch_size, autocast)
            texts = [_text(tokenizer, r["ids"]) for r in results]
            confidence = [math.exp(r["logprob"]) for r in results]
            return [self.read(text) for text in texts], np.array(confidence, dtype=np.float32)
        results = causal.generate(
            model,
            tokenizer,
            self.prompts(inputs, tokenizer),
            self.max_new_tokens,
            batch_size,
            autocast,
            logits_processor=lambda rows: program.processors(self.max_new_tokens),
        )
        texts = [_text(tokenizer, r["ids"]) for r in results]
        confidence = [_chosen_confidence(r, program.forced_tokens) for r in results]
        return [self.read(text) for text in texts], np.array(confidence, dtype=np.float32)

    def read(self, text: str) -> Extraction | None:
        """A decoded answer with values converted to their declared types; None when it is not the object."""
        raw = read_object(text, self.fields)
        if raw is None:
            return None
        out, unconverted = Extraction(), []
        for name, value in raw.items():
            try:
                out[name] = None if value is None else to_type(value, self.types.get(name, "string"))
            except ValueError:
                out[name] = None
                unconverted.append(name)
        out.unconverted = tuple(unconverted)
        return out

    def gold(self, examples: Sequence[Any]) -> list[GoldDocument]:
        return [GoldDocument({name: ex.document.get(name) for name in self.fields}, ex.text) for ex in examples]

    def metrics(self, gold: Sequence[GoldDocument], predicted: Sequence[Extraction | None]) -> dict[str, Any]:
        from hone.evaluate.extract_metrics import extract_metrics

        result = extract_metrics(
            [g.fields for g in gold], predicted, self.fields, [g.text for g in gold], self.normalised
        )
        result["metrics"]["unconvertible"] = sum(len(getattr(p, "unconverted", ())) for p in predicted if p is not None)
        return result

    def score(self, gold: Sequence[GoldDocument], predicted: Sequence[Extraction | None]) -> float:
        from hone.evaluate.extract_metrics import field_f1_micro

        return field_f1_micro([g.fields for g in gold], predicted, self.fields)

    def worst(
        self, examples: Sequence[Any], predicted: Sequence[Extraction | None], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Documents with the most wrong fields first (unparsed ones count as all wrong), confident ones first."""
        from hone.evaluate.extract_metrics import field_errors

        gold = self.gold(examples)
        wrong = []
        for i, pred in enumerate(predicted):
            errors = field_errors(gold[i].fields, pred, self.fields, gold[i].text, self.normalised)
            if errors:
                wrong.append((len(self.fields) if pred is None else len(errors), float(confidence[i]), i, errors))
        wrong.sort(key=lambda w: (-w[0], -w[1]))
        return [
            {
                "text": examples[i].text,
                "gold": gold[i].fields,
                "predicted": self.to_json(predicted[i]),
                "wrong_fields": n,
                "errors": errors,
                "confidence": round(conf, 4),
                "source": examples[i].source,
                "line": examples[i].line,
            }
            for n, conf, i, errors in wrong[:limit]
        ]

    def to_json(self, prediction: Extraction | None) -> dict[str, Any] | None:
        return None if prediction is None else dict(prediction)

    def from_json(self, payload: dict[str, Any] | None) -> Extraction | None:
        return None if payload is None else Extraction(payload)

    def present(self, prediction: Extraction | None) -> dict[str, Any]:
        """One prediction as `hone predict` prints it (fields None: the answer did not parse)."""
        return {"fields": self.to_json(prediction)}


def _text(tokenizer: Any, ids: list[int]) -> str:
    return tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)


def _chosen_confidence(result: dict[str, Any], forced: int) -> float:
    """exp(mean log-prob) over the tokens the model chose: forced tokens have log-prob 0 after masking."""
    steps = len(result["ids"]) + result["stopped"]
    chosen = steps - forced
    return math.exp(result["logprob"] * steps / chosen) if chosen > 0 else math.exp(result["logprob"])


def _token_check(
    examples: Sequence[Any], tokenizer: Any, data: ExtractDataConfig
) -> tuple[dict[str, Any] | None, list[Problem]]:
    if not examples:
        return None, []
    settings = {"template": data.template, "system": data.system, "max_length": data.max_length}
    return token_check(examples, tokenizer, data, ExtractTask(**settings, **_field_settings(data, examples)))


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=ExtractTask,
        parse=parse_extract,
        label_problems=_label_problems,
        long_inputs="truncate",
        baselines=prompt_baselines,
        token_check=_token_check,
    )


SPEC = _spec()
