"""Training the way fan-out decodes (`generate.decode: fanout`): one tree row per example, the prompt once and
then every field's fan-out row after it (`hone.tasks.tree`), on a tiny random causal LM. Each field's logits in
the tree row equal those of its fan-out row computed alone; only the values are trained."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import hone
from hone.tasks import causal, fanout, tree
from hone.tasks.chat import IGNORE
from hone.tasks.extract import ExtractExample, ExtractTask
from hone.tasks.json_decode import JsonProgram
from tiny import WORDS, write_tiny_causal

FIELDS = ["colour", "size", "count"]
VALUES = {"colour": ["red", "blue", "green"], "size": None, "count": None}
DOCUMENTS = [
    ("colour red . size m . the order was late", {"colour": "red", "size": "m", "count": None}),
    ("size xl", {"colour": None, "size": "xl", "count": 3}),
    ("a b c " * 12, {"colour": "blue", "size": 'a "b" é', "count": None}),
]


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="module")
def lm(tiny: Path) -> tuple[torch.nn.Module, object]:
    return AutoModelForCausalLM.from_pretrained(str(tiny)).eval(), AutoTokenizer.from_pretrained(str(tiny))


def _task(**settings: object) -> ExtractTask:
    types = {"colour": "string", "size": "string", "count": "integer"}
    settings = {"packing": False, "decode": "fanout", **settings}
    return ExtractTask(fields=FIELDS, types=types, values=VALUES, instruction="extract:", **settings)


def _examples() -> list[ExtractExample]:
    return [ExtractExample(text, tuple(fields.items()), "t.jsonl", i + 1) for i, (text, fields) in enumerate(DOCUMENTS)]


def _fanout_rows(task: ExtractTask, tokenizer: object, example: ExtractExample) -> tuple[list[int], list[list[int]]]:
    """What fan-out decoding feeds for this example: its prompt, and per field its forced key then (teacher-forced)
    the reference value piece."""
    program = JsonProgram(tokenizer, task.fields, task.values)
    [prompt] = task.prompts([example.text], tokenizer)
    values = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in task.answer_pieces(example.document)[1::2]]
    rows = [row[len(prompt) :] + value for row, value in zip(fanout.row_prompts(program, prompt), values, strict=True)]
    return prompt, rows


def _branch_logits(model: torch.nn.Module, batch: dict, row: int, feature: dict) -> list[torch.Tensor]:
    """Each branch's logits in one collated tree row, in field order."""
    with torch.no_grad():
        logits = causal.forward_logits(model, batch)[row]
    segments = torch.tensor(feature["segments"])
    return [logits[: len(segments)][segments == s] for s in range(1, int(segments.max()) + 1)]


def _alone_logits(model: torch.nn.Module, prompt: list[int], branch: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor([[*prompt, *branch]])).logits[0, len(prompt) :]


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_each_field_in_the_tree_row_has_the_logits_of_its_fanout_row(tiny: Path, lm: tuple, attention: str) -> None:
    """Per example and field: the tree row's logits over the field's key and value equal those of the fan-out row
    (prompt + that key + the value, plain causal mask), in a padded batch of rows of different lengths."""
    _, tokenizer = lm
    model = AutoModelForCausalLM.from_pretrained(str(tiny), attn_implementation=attention).eval()
    task = _task()
    examples = _examples()
    features = task.encode(examples, tokenizer)
    assert len({len(f["input_ids"]) for f in features}) == len(features)  # padding inside the batch
    batch = task.collate(features, tokenizer)
    assert batch["attention_mask"].shape == (3, 1, batch["input_ids"].shape[1], batch["input_ids"].shape[1])
    for row, (example, feature) in enumerate(zip(examples, features, strict=True)):
        prompt, rows = _fanout_rows(task, tokenizer, example)
        assert feature["input_ids"][: len(prompt)] == prompt  # the prompt fan-out prefills
        branches = _branch_logits(model, batch, row, feature)
        assert len(branches) == len(FIELDS)
        for f, (tree_logits, fanout_row) in enumerate(zip(branches, rows, strict=True)):
            start = len(prompt) + sum(len(r) for r in rows[:f])
            assert feature["input_ids"][start : start + len(fanout_row)] == fanout_row
            assert feature["position_ids"][start : start + len(fanout_row)] == list(
                range(len(prompt), len(prompt) + len(fanout_row))
            )
            torch.testing.assert_close(tree_logits, _alone_logits(model, prompt, fanout_row), atol=1e-5, rtol=0)


def test_packed_tree_rows_keep_each_example_to_itself(lm: tuple) -> None:
    """Several examples' trees in one row (`causal.pack`): the same logits as each tree in a row of its own."""
    model, tokenizer = lm
    alone = _task().encode(_examples(), tokenizer)
    [packed] = _task(packing=True, max_length=1024).encode(_examples(), tokenizer)
    assert len(packed["input_ids"]) == sum(len(f["input_ids"]) for f in alone)
    with torch.no_grad():
        logits = causal.forward_logits(model, _task().collate([packed], tokenizer))[0]
    start = 0
    for feature in sorted(alone, key=lambda f: -len(f["input_ids"])):  # packing places the longest first
        n = len(feature["input_ids"])
        assert packed["input_ids"][start : start + n] == feature["input_ids"]
        with torch.no_grad():
            expected = causal.forward_logits(model, _task().collate([feature], tokenizer))[0]
        torch.testing.assert_close(logits[start : start + n], expected, atol=1e-5, rtol=0)
        start += n


def test_the_document_is_read_once_and_only_values_are_trained(lm: tuple) -> None:
    model, tokenizer = lm
    task = _task()
    example = _examples()[0]
    [feature] = task.encode([example], tokenizer)
    prompt, rows = _fanout_rows(task, tokenizer, example)
    assert len(feature["input_ids"]) == len(prompt) + sum(len(r) for r in rows)
    values = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in task.answer_pieces(example.document)[1::2]]
    assert [tokenizer.decode(v) for v in values] == [' "red",', ' "m",', " null}"]
    assert [x for x in feature["labels"] if x != IGNORE] == [t for v in values for t in v]
    trained = [i for i, x in enumerate(feature["labels"]) if x != IGNORE]
    value_positions = [
        len(prompt) + sum(len(r) for r in rows[:f]) + len(rows[f]) - len(values[f]) + k
        for f in range(len(rows))
        for k in range(len(values[f]))
    ]
    assert trained == value_positions  # keys and prompt carry no loss
    assert tokenizer.eos_token_id not in feature["input_ids"][len(prompt) :]  # a fan-out row ends at its delimiter
    # The loss is the mean cross-entropy of the value tokens under their own fan-out rows.
    with torch.no_grad():
        loss = float(task.loss(model, task.collate([feature], tokenizer)))
    nll = []
    for row, value in zip(rows, values, strict=True):
        logprobs = torch.log_softmax(_alone_logits(model, prompt, row), -1)
        offset = len(row) - len(value)
        nll += [-float(logprobs[offset + k - 1, t]) for k, t in enumerate(value)]
    assert loss == pytest.approx(sum(nll) / len(nll), abs=1e-5)


def test_a_long_document_is_cut_from_the_left_and_the_fields_keep_their_positions(lm: tuple) -> None:
    model, tokenizer = lm
    task = _task(max_length=60)
    example = _examples()[2]
    [feature] = task.encode([example], tokenizer)
    full_prompt, rows = _fanout_rows(_task(), tokenizer, example)
    answer = sum(len(r) for r in rows)
    assert len(feature["input_ids"]) == 60 and answer < 60 < len(full_prompt) + answer
    prompt = full_prompt[-(60 - answer) :]
    assert feature["input_ids"] == prompt + [t for r in rows for t in r]
    batch = task.collate([feature], tokenizer)
    for tree_logits, row in zip(_branch_logits(model, batch, 0, feature), rows, strict=True):
        torch.testing.assert_close(tree_logits, _alone_logits(model, prompt, row), atol=1e-5, rtol=0)


def test_dev_loss_of_a_fanout_task_is_the_loss_of_its_tree_rows(lm: tuple) -> None:
    """Checkpoints are chosen on the loss of what fan-out decodes, not of whole objects."""
    model, tokenizer = lm
    fanned = _task().dev_metrics(model, tokenizer, _examples(), 2)
    whole = _task(decode="object").dev_metrics(model, tokenizer, _examples(), 2)
    values = sum(len(tokenizer(p, add_special_tokens=False)["input_ids"]) for p in _value_pieces())
    assert fanned["tokens"] == values  # value tokens only
    assert whole["tokens"] > values  # keys and EOS too
    assert math.isfinite(fanned["loss"]) and fanned["loss"] != pytest.approx(whole["loss"])
    losses = _task().example_losses(model, tokenizer, _examples(), 2)  # the suspect-label tables read them too
    assert len(losses) == 3 and all(math.isfinite(x.loss) for x in losses)


def test_attention_that_would_ignore_the_tree_mask_is_refused(tiny: Path, lm: tuple) -> None:
    _, tokenizer = lm
    model = AutoModelForCausalLM.from_pretrained(str(tiny)).eval()
    model.config._attn_implementation = "flash_attention_2"  # takes no 4D mask: branches would see each other
    features = _task().encode(_examples()[:1], tokenizer)
    with pytest.raises(ValueError, match="attention that reads a 4D mask"):
        _task().loss(model, _task().collate(features, tokenizer))
    wrapped = torch.nn.Module()  # as DistributedDataParallel holds it: in `.module`, no config of its own
    wrapped.module = model
    with pytest.raises(ValueError, match="this model uses 'flash_attention_2'"):
        tree.model_mask(wrapped, _task().collate(features, tokenizer)["attention_mask"])


def test_fanout_with_virtual_tokens_is_refused_in_the_config() -> None:
    config = {"task": "extract", "data": {"train": "x.jsonl"}, "generate": {"decode": "fanout"}}
    with pytest.raises(hone.ConfigError, match="set model.method lora"):
        hone.load_config({**config, "model": {"method": "prompt_tuning"}})
    assert hone.load_config({**config, "model": {"method": "lora"}}).generate.decode == "fanout"


def _value_pieces() -> list[str]:
    task = _task()
    return [p for ex in _examples() for p in task.answer_pieces(ex.document)[1::2]]


def test_a_fanout_run_trains_on_tree_rows_and_keeps_the_setting(tmp_path: Path, tiny: Path) -> None:
    rng = random.Random(2)
    rows = [
        {"text": f"colour {c} . " + " ".join(rng.choices(WORDS, k=4)), "fields": {"colour": c, "size": None}}
        for c in rng.choices(["red", "blue"], k=20)
    ]
    data = tmp_path / "attrs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "extract",
        "name": "attrs",
        "runs_dir": str(tmp_path / "runs"),
        "data": {
            "train": str(data),
            "max_length": 128,
            "instruction": "extract:",
            "fields": {"colour": {}, "size": {}},
            "split": {"test": 0.1, "dev": 0.2},
        },
        "model": {"name": str(tiny), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
        "train": {"max_steps": 3, "batch_size": 4, "lr": 1e-2, "precision": "fp32", "patience": None, "threads": 1},
        "generate": {"max_new_tokens": 12, "decode": "fanout"},
    }
    run = hone.train(hone.load_config(config), progress=False)
    assert json.loads((run.path / "model" / "hone.json").read_text())["decode"] == "fanout"
    records = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in records if "loss" in r]
    assert len(losses) >= 3 and all(math.isfinite(x) for x in losses)
    [prediction] = hone.Run(run.path).predictor().predict(["colour red . cat"])[0]
    assert set(prediction) == {"colour", "size"}
