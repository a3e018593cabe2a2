"""Extraction on a tiny random causal LM: row checks, answer pieces, the JSON guarantee, and the whole pipeline."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList

import hone
from hone.config.schema import ExtractDataConfig
from hone.data import problems as P
from hone.tasks import causal, task_from_description
from hone.tasks.chat import IGNORE, prompt_ids
from hone.tasks.extract import ExtractExample, Extraction, ExtractTask, _field_settings, parse_extract, to_type
from hone.tasks.json_decode import JsonProgram, read_object, value_budget
from tiny import WORDS, write_tiny_causal

COLOURS = ["red", "blue", "green"]
SIZES = ["s", "m", "l", "xl"]
FIELDS = {"colour": {"values": COLOURS}, "size": {"description": "letter size"}, "count": {"type": "integer"}}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    """Tiny models decode one token at a time: thread hand-offs would cost more than the maths."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="session")
def lm(tiny_causal: Path) -> tuple[torch.nn.Module, object]:
    model = AutoModelForCausalLM.from_pretrained(str(tiny_causal)).eval()
    return model, AutoTokenizer.from_pretrained(str(tiny_causal))


def _task(**settings: object) -> ExtractTask:
    return ExtractTask(
        fields=list(FIELDS),
        types={"colour": "string", "size": "string", "count": "integer"},
        values={"colour": COLOURS, "size": None, "count": None},
        descriptions={"colour": None, "size": "letter size", "count": None},
        instruction="extract:",
        **settings,
    )


def _example(fields: dict, text: str = "colour red . size m .") -> ExtractExample:
    return ExtractExample(text=text, fields=tuple(fields.items()), source="t.jsonl", line=1)


# --- the example contract -----------------------------------------------------------------------------------


def test_parse_reports_each_bad_value_with_its_field() -> None:
    data = ExtractDataConfig(train="x.jsonl", fields=FIELDS)

    def problems(record: dict) -> list[tuple[str, str | None]]:
        parsed = parse_extract(record, data, "d.jsonl", 7)
        assert isinstance(parsed, list) and all(p.line == 7 for p in parsed)
        return [(p.category, p.field) for p in parsed]

    good = parse_extract({"text": "colour red", "fields": {"colour": "red", "count": 2}}, data, "d.jsonl", 7)
    assert isinstance(good, ExtractExample) and good.document == {"colour": "red", "count": 2}
    assert good.input == good.text == "colour red" and good.labels == () and good.stratify_key == ""
    assert json.loads(good.label_key) == {"colour": "red", "count": 2}
    assert problems({"fields": {}}) == [(P.MISSING_FIELD, "text")]
    assert problems({"text": "  ", "fields": {}}) == [(P.EMPTY_FIELD, "text")]
    assert problems({"text": "x"}) == [(P.MISSING_FIELD, "fields")]
    assert problems({"text": "x", "fields": ["red"]}) == [(P.WRONG_TYPE, "fields")]
    bad = {"colour": "purple", "size": ["m"], "weight": "2 kg", "count": "two"}
    assert problems({"text": "x", "fields": bad}) == [
        (P.UNKNOWN_LABEL, "fields.colour"),
        (P.WRONG_TYPE, "fields.size"),
        (P.UNKNOWN_LABEL, "fields.weight"),
        (P.WRONG_TYPE, "fields.count"),
    ]
    assert problems({"text": "x", "fields": {"size": ""}}) == [(P.EMPTY_FIELD, "fields.size")]


def test_check_reports_bad_rows_by_line(tmp_path: Path, tiny_causal: Path) -> None:
    rows = [{"text": f"colour red . {w}", "fields": {"colour": "red", "size": None}} for w in WORDS[:12]]
    rows[3] = {"text": "colour red 3.5", "fields": {"colour": 3.5}}  # a number is a fine value for a string
    rows[5] = {"text": "colour red", "fields": {"colour": {"name": "red"}}}
    rows[8] = {"text": "colour red", "fields": "red"}
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = hone.load_config({"task": "extract", "data": {"train": str(path)}, "model": {"name": str(tiny_causal)}})
    result = hone.check(cfg)
    errors = {(p.line, p.field, p.category) for p in result.errors()}
    assert errors == {(6, "fields.colour", P.WRONG_TYPE), (9, "fields", P.WRONG_TYPE)}
    assert any("'size' is null in all" in p.message for p in result.warnings())
    assert result.stats["tokens"]["answer"]["max"] > 5


# --- training text and the decoder agree ----------------------------------------------------------------------


def test_encode_trains_on_the_pieces_the_decoder_forces(lm: tuple) -> None:
    _, tokenizer = lm
    task = _task(packing=False)
    example = _example({"colour": "red", "size": "m"})
    [feature] = task.encode([example], tokenizer)
    ids, labels = feature["input_ids"], feature["labels"]
    start = next(i for i, x in enumerate(labels) if x != IGNORE)
    assert all(x != IGNORE for x in labels[start:])  # loss on the whole answer, nothing before it
    assert ids[:start] == prompt_ids(task.as_messages(example.text), tokenizer, task.chat_template, 1 << 30)
    pieces = ['{"colour":', ' "red",', ' "size":', ' "m",', ' "count":', " null}"]
    assert task.answer_pieces(example.document) == pieces
    expected = [t for p in pieces for t in tokenizer(p, add_special_tokens=False)["input_ids"]]
    assert labels[start:] == expected + [tokenizer.eos_token_id]
    answer = tokenizer.decode(ids[start:-1])
    assert json.loads(answer) == {"colour": "red", "size": "m", "count": None}
    assert task.answer_messages(example)[-1]["content"] == answer
    prompt = task.as_messages(example.text)[-1]["content"]
    assert "- colour (one of: red, blue, green)" in prompt and "- size: letter size" in prompt
    assert "- count (integer)" in prompt and prompt.endswith("Text:\ncolour red . size m .")
    _assert_decoder_allows(task, tokenizer, ids, start)
    quoted = _example({"colour": None, "size": 'a "b" \\ é\nc', "count": 12})  # escapes, non-ASCII, a number
    [feature] = task.encode([quoted], tokenizer)
    start = next(i for i, x in enumerate(feature["labels"]) if x != IGNORE)
    assert json.loads(tokenizer.decode(feature["input_ids"][start:-1]))["size"] == 'a "b" \\ é\nc'
    _assert_decoder_allows(task, tokenizer, feature["input_ids"], start)


def _assert_decoder_allows(task: ExtractTask, tokenizer: object, ids: list[int], start: int) -> None:
    """Every training token is one the decoder allows at that point: forced keys, trie, free string, EOS."""
    processor = JsonProgram(tokenizer, task.fields, task.values).processors(64)[0]
    seen = torch.tensor([ids[:start]])
    for token in ids[start:]:
        scores = processor(seen, torch.zeros(1, len(tokenizer)))
        assert torch.isfinite(scores[0, token]), tokenizer.decode([token])
        seen = torch.cat([seen, torch.tensor([[token]])], dim=1)
    assert ids[-1] == tokenizer.eos_token_id


class RandomScores(LogitsProcessor):
    """Replaces the model's scores with noise, so the constraint alone decides what is valid."""

    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        return 4 * torch.randn(scores.shape, generator=self.generator)


@pytest.mark.parametrize(("max_new_tokens", "max_value_tokens"), [(40, 48), (120, 6), (200, 48)])
def test_any_scores_decode_to_an_object_of_exactly_the_fields(
    lm: tuple, max_new_tokens: int, max_value_tokens: int
) -> None:
    model, tokenizer = lm
    task = _task()
    rng = random.Random(max_new_tokens)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(1, 30))) for _ in range(48)]
    program = JsonProgram(tokenizer, task.fields, task.values, max_value_tokens)
    results = causal.generate(
        model,
        tokenizer,
        task.prompts(texts, tokenizer),
        max_new_tokens,
        8,
        logits_processor=lambda rows: LogitsProcessorList([RandomScores(rows[0]), *program.processors(max_new_tokens)]),
    )
    answers = [tokenizer.decode(r["ids"], skip_special_tokens=True) for r in results]
    assert all(r["stopped"] for r in results)
    objects = [read_object(a, task.fields) for a in answers]
    assert all(o is not None and list(o) == task.fields for o in objects), answers
    assert all(o["colour"] in [*COLOURS, None] for o in objects if o)
    assert len(set(answers)) > 30  # the noise explored many paths


def test_a_free_value_stops_at_its_own_fields_budget_not_the_shared_cap(lm: tuple) -> None:
    """A rambling model (random scores) writes `size` values no longer than the training data's longest
    `size` value allows, while `count`, with no length known, keeps the general cap."""
    model, tokenizer = lm
    task = _task(value_chars={"size": 2})
    texts = [" ".join(WORDS[i : i + 5]) for i in range(24)]
    program = JsonProgram(tokenizer, task.fields, task.values, value_chars=task.value_chars)

    def value_tokens(field: str) -> list[int]:
        results = causal.generate(
            model,
            tokenizer,
            task.prompts(texts, tokenizer),
            200,
            8,
            logits_processor=lambda rows: LogitsProcessorList([RandomScores(rows[0]), *program.processors(200)]),
        )
        objects = [read_object(tokenizer.decode(r["ids"], skip_special_tokens=True), task.fields) for r in results]
        assert all(o is not None for o in objects)
        return [len(tokenizer(o[field], add_special_tokens=False)["input_ids"]) for o in objects if o[field]]

    sizes, counts = value_tokens("size"), value_tokens("count")
    # Re-tokenising decoded random tokens takes more tokens than were written (measured: 7-13 for a budget
    # of 8 written tokens, 39-81 under the general cap of 48), hence the factor 2.
    assert sizes and counts and max(sizes) <= 2 * value_budget(2) < min(counts), (sizes, counts)


def test_the_longest_training_value_of_each_field_is_kept_with_the_task() -> None:
    examples = [_example({"colour": "red", "size": "xl", "count": 3}), _example({"colour": None, "size": "medium"})]
    data = ExtractDataConfig(train="t.jsonl", fields={"colour": {}, "size": {}, "count": {"type": "integer"}})
    settings = _field_settings(data, examples)
    assert settings["value_chars"] == {"colour": 3, "size": 6, "count": 1}
    task = ExtractTask(fields=list(FIELDS), value_chars=settings["value_chars"])
    assert task_from_description(task.describe()).value_chars == settings["value_chars"]


def test_greedy_predictions_parse_and_a_tight_budget_is_refused(lm: tuple) -> None:
    model, tokenizer = lm
    task = _task(max_new_tokens=30)
    predictions, confidence = task.predict(model, tokenizer, ["colour red", "a b c " * 20, "size xl ."], 2)
    assert all(isinstance(p, Extraction) and list(p) == task.fields for p in predictions)
    assert confidence.shape == (3,) and all(0 < c <= 1 for c in confidence)
    with pytest.raises(ValueError, match="max_new_tokens"):
        _task(max_new_tokens=8).predict(model, tokenizer, ["colour red"], 1)


# --- types, metrics, description ------------------------------------------------------------------------------


def test_values_convert_to_declared_types_and_failures_are_counted() -> None:
    assert to_type(" 12 ", "integer") == 12 and to_type("-3.5e2", "number") == -350.0 and to_type("7", "number") == 7
    assert to_type("Yes", "boolean") is True and to_type("false", "boolean") is False
    for text, kind in [("12a", "integer"), ("1.5", "integer"), ("nan", "number"), ("maybe", "boolean")]:
        with pytest.raises(ValueError):
            to_type(text, kind)
    task = _task()
    read = task.read('{"colour": "red", "size": null, "count": "three"}')
    assert read == {"colour": "red", "size": None, "count": None} and read.unconverted == ("count",)
    assert task.read('{"colour": "red"}') is None and task.read("not json") is None
    gold = task.gold([_example({"colour": "red", "size": "m", "count": 3})])
    metrics = task.metrics(gold, [read])
    assert metrics["metrics"]["unconvertible"] == 1 and set(metrics["per_field"]) == set(task.fields)
    assert task.score(gold, [read]) == pytest.approx(2 * 1 / (2 * 1 + 0 + 2))
    assert task.from_json(task.to_json(read)) == read and task.to_json(None) is None


def test_fields_come_from_the_data_when_not_declared(tmp_path: Path, tiny_causal: Path) -> None:
    rows = [{"text": f"{w} .", "fields": {"zeta": w, "alpha": None}} for w in WORDS[:10]] + [
        {"text": "x .", "fields": {"mid": "x"}}
    ]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = hone.load_config({"task": "extract", "data": {"train": str(path)}, "model": {"name": str(tiny_causal)}})
    result = hone.check(cfg)
    task = ExtractTask.from_config(cfg, [ex for split in result.splits.values() for ex in split])
    assert task.fields == ["alpha", "mid", "zeta"] and set(task.types.values()) == {"string"}
    assert task.gold(result.splits["train"][:1])[0].fields.keys() == {"alpha", "mid", "zeta"}
    # the instruction names these fields, not the bundled products example's attributes
    assert task.instruction == "Extract alpha, mid and zeta from the text as JSON. Use null when the text does not say."
    assert "product" not in hone.init_config("extract")
    own = hone.load_config({**cfg.model_dump(mode="json"), "data": {"train": str(path), "instruction": "Mine."}})
    assert ExtractTask.from_config(own, result.splits["train"]).instruction == "Mine."


def test_description_rebuilds_the_task() -> None:
    task = _task(system="be brief", max_new_tokens=48)
    again = task_from_description(json.loads(json.dumps(task.describe())))
    assert isinstance(again, ExtractTask) and again == task and again.describe()["task"] == "extract"


# --- the whole pipeline ---------------------------------------------------------------------------------------


def _rows(n: int, seed: int) -> list[dict]:
    """'colour red . size m .' in any order with filler words; a missing attribute is null."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        colour, size = rng.choice([*COLOURS, None]), rng.choice([*SIZES, None])
        parts = [f"colour {colour} ." if colour else "", f"size {size} ." if size else ""]
        parts += [" ".join(rng.choices(WORDS, k=rng.randint(1, 3))) + " ." for _ in range(2)]
        rng.shuffle(parts)
        rows.append({"text": " ".join(p for p in parts if p), "fields": {"colour": colour, "size": size}})
    return rows


def test_extract_end_to_end(tmp_path: Path, tiny_causal: Path) -> None:
    data = tmp_path / "attrs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in _rows(160, seed=5)))
    cfg = hone.load_config(
        {
            "task": "extract",
            "name": "attrs",
            "runs_dir": str(tmp_path / "runs"),
            "data": {
                "train": str(data),
                "max_length": 160,
                "instruction": "extract:",
                "fields": {"colour": {"values": COLOURS}, "size": {}},
                "split": {"test": 0.2, "dev": 0.1},
            },
            "model": {"name": str(tiny_causal), "method": "full"},
            "train": {"epochs": 15, "batch_size": 8, "lr": 5e-3, "patience": None, "precision": "fp32", "threads": 1},
            "generate": {"max_new_tokens": 24},
            "eval": {"bootstrap": 100, "batch_size": 16},
            "baseline": {"methods": ["zero_shot"]},
        }
    )
    base = hone.baseline(cfg)
    zero_shot = base["baselines"]["zero_shot"]["metrics"]
    assert base["primary_metric"] == "field_f1_micro" and zero_shot["json_validity"] == 1.0
    run = hone.train(cfg, progress=False)
    ev = hone.evaluate(run)
    tuned = ev["metrics"]
    assert tuned["json_validity"] == 1.0 and set(ev["per_field"]) == {"colour", "size"}
    # The tiny model learns the format and when to answer null well before it learns to copy every value.
    assert tuned["field_f1_micro"] > zero_shot["field_f1_micro"] + 0.1, (tuned, zero_shot)
    assert tuned["null_accuracy"] > 0.7 > zero_shot["null_accuracy"]
    assert ev["comparison"]["baseline"] == "zero_shot"
    assert all(w["errors"] and w["source"] for w in ev["worst"])
    rebuilt = task_from_description(json.loads((run.path / "model" / "hone.json").read_text()))
    assert rebuilt.fields == ["colour", "size"] and rebuilt.values == {"colour": COLOURS, "size": None}
    [answer] = hone.Run(run.path).predictor().predict(["size l . colour blue ."])[0]
    assert set(answer) == {"colour", "size"}
