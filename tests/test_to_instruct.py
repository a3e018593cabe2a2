"""`hone data to-instruct`: labelled classify/ner/extract data becomes chat rows for an instruct run."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.config import ConfigError
from hone.data import check as data_check
from hone.data.check import CheckResult
from hone.data.problems import DataError
from hone.data.to_instruct import TEMPLATES, template_index, to_instruct
from hone.tasks import TASKS, TaskSpec
from tiny import write_tiny_causal

runner = CliRunner()
SLOTS = {
    "classify": {"labels": "LABELS", "pick": "PICK"},
    "ner": {"types": "TYPES"},
    "extract": {"fields": "FIELDS", "instruction": "INSTRUCTION"},
}


def check_data(config: Any, tokenizer: Any = None) -> CheckResult:
    """The data check with the config's own task spec (the data layer takes the spec from its caller)."""
    return data_check.check_data(config, tokenizer, spec=TASKS[config.task])


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


def _config(tmp_path: Path, task: str, data: dict[str, Any]) -> Path:
    path = tmp_path / "hone.yaml"
    path.write_text(
        yaml.safe_dump({"task": task, "name": "src", "runs_dir": str(tmp_path / "runs"), "data": data}, sort_keys=False)
    )
    return path


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _written(out: Path) -> list[dict[str, Any]]:
    return [row for split in ("train", "dev", "test") for row in _jsonl(out / f"{split}.jsonl")]


def _prompt(row: dict[str, Any]) -> str:
    assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
    return row["messages"][0]["content"]


def _answer(row: dict[str, Any]) -> str:
    return row["messages"][1]["content"]


def _source_rows(path: Path) -> dict[str, dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return {f"{path}:{n}": json.loads(line) for n, line in enumerate(lines, start=1) if line.strip()}


def test_every_task_has_named_phrasings_that_fill_every_slot() -> None:
    text = 'a {braced} "quoted" text\nover two lines'
    for task, slots in SLOTS.items():
        templates = TEMPLATES[task]
        assert len(templates) >= 4
        assert [t.id for t in templates] == [f"{task}/{i}" for i in range(1, len(templates) + 1)]
        for template in templates:
            prompt = template.render({**slots, "text": text})
            assert text in prompt  # verbatim: nothing escaped, braces not read as slots
            assert next(iter(slots.values())) in prompt, template.id  # the label/type/field list is shown


def test_classify_rows_answer_the_label_and_keep_the_runs_splits(tmp_path: Path, dataset: Path) -> None:
    config = _config(tmp_path, "classify", {"train": str(dataset)})
    result = to_instruct(config, tmp_path / "out")
    originals = _source_rows(dataset)
    rows = _written(tmp_path / "out")
    assert len(rows) == len(originals) == sum(result["rows"].values()) == sum(result["per_template"].values())
    for row in rows:
        original = originals[row["source"]]
        assert _answer(row) == original["label"]
        assert original["text"] in _prompt(row) and "account, billing, shipping" in _prompt(row)
        assert row["template"] in {t.id for t in TEMPLATES["classify"]}
    # The test split is the very examples the classify run is scored on.
    splits = check_data(hone.load_config(config)).splits
    for name, examples in splits.items():
        assert [r["source"] for r in rows if r["split"] == name] == [f"{ex.source}:{ex.line}" for ex in examples]
        assert result["examples"][name] == result["rows"][name] == len(examples)
    assert len(result["per_template"]) > 1  # the phrasings are spread over the examples


def test_multi_label_answers_are_sorted_and_labels_keep_the_config_order(tmp_path: Path) -> None:
    data = tmp_path / "multi.jsonl"
    rows = [{"text": f"ticket {i} about things", "label": ["urgent", "billing"][: 1 + i % 2]} for i in range(12)]
    rows += [{"text": f"parcel {i} is late", "label": ["shipping"]} for i in range(12)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    labels = ["urgent", "shipping", "billing"]
    config = _config(tmp_path, "classify", {"train": str(data), "multi_label": True, "labels": labels})
    to_instruct(config, tmp_path / "out")
    written = _written(tmp_path / "out")
    assert {_answer(r) for r in written} == {"urgent", "billing, urgent", "shipping"}
    assert all("urgent, shipping, billing" in _prompt(r) and "separated by commas" in _prompt(r) for r in written)


def test_ner_answers_list_each_entity_in_text_order_or_none(tmp_path: Path) -> None:
    names, cities = ["Ada Lovelace", "Alan Turing", "Grace Hopper"], ["Paris", "Oslo", "Lima"]
    rows = []
    for i in range(30):
        name, city = names[i % 3], cities[i % 3]
        text = f"{name} flew to {city} on day {i}."
        at = text.index(city)
        # Spans listed out of order: the answer follows the text.
        spans = [{"start": at, "end": at + len(city), "label": "LOC"}, {"start": 0, "end": len(name), "label": "PER"}]
        rows.append({"text": text, "spans": spans})
    rows.append({"text": "nothing to see here at all", "spans": []})
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = _config(tmp_path, "ner", {"train": str(data), "labels": ["PER", "LOC"]})
    to_instruct(config, tmp_path / "out")
    originals = _source_rows(data)
    written = _written(tmp_path / "out")
    assert len(written) == len(rows)
    for row in written:
        original = originals[row["source"]]
        assert original["text"] in _prompt(row) and "PER, LOC" in _prompt(row)
        expected = [
            {"type": s["label"], "text": original["text"][s["start"] : s["end"]]}
            for s in sorted(original["spans"], key=lambda s: s["start"])
        ]
        answer = _answer(row)
        assert (answer == "none") if not expected else [json.loads(line) for line in answer.splitlines()] == expected


def _products(tmp_path: Path) -> Path:
    rows = [
        {"text": f'Brand: Oakmere. Colour: {c}. Size {{XL}} "tall" {i}.', "fields": {"brand": "Oakmere", "color": c}}
        for i, c in enumerate(["ivory", "plum", None] * 5)
    ]
    data = tmp_path / "products.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return data


def test_extract_answers_are_json_objects_with_every_field(tmp_path: Path) -> None:
    data = _products(tmp_path)
    result = to_instruct(data, tmp_path / "quick", task="extract")  # a data file alone: sorted field names
    originals = _source_rows(data)
    written = _written(tmp_path / "quick")
    assert sum(result["examples"].values()) == len(written) == len(originals)
    for row in written:
        original = originals[row["source"]]
        assert original["text"] in _prompt(row) and "brand, color" in _prompt(row)
        assert json.loads(_answer(row)) == original["fields"] and list(json.loads(_answer(row))) == ["brand", "color"]
    declared = {"color": {"values": ["ivory", "plum"]}, "brand": {"description": "who makes it"}}
    config = _config(tmp_path, "extract", {"train": str(data), "fields": declared})
    to_instruct(config, tmp_path / "declared")
    row = _written(tmp_path / "declared")[0]
    assert "color (one of ivory / plum), brand (who makes it)" in _prompt(row)
    assert list(json.loads(_answer(row))) == ["color", "brand"]


@dataclass(frozen=True)
class _Checked:
    """What a registered extract task's example may look like: no `fields` attribute needed."""

    text: str
    source: str
    line: int
    labels: tuple[str, ...] = ()
    label_key: str = ""


def test_extract_uses_the_registered_task_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = _products(tmp_path)
    parsed: list[int] = []

    def parse(record: dict[str, Any], config: Any, source: str, line: int) -> _Checked:
        parsed.append(line)
        return _Checked(record["text"], source, line)

    spec = TaskSpec(
        task=object,
        parse=parse,
        label_problems=lambda examples, ratio: [],
        long_inputs="truncate",
        baselines=lambda config, model_dir, task: [],
    )
    monkeypatch.setitem(TASKS, "extract", spec)
    to_instruct(data, tmp_path / "out", task="extract")
    originals = _source_rows(data)
    assert len(parsed) == len(originals)  # the registered task's contract read the rows
    assert all(json.loads(_answer(r)) == originals[r["source"]]["fields"] for r in _written(tmp_path / "out"))


def test_reruns_are_byte_identical_and_the_seed_picks_the_phrasing(tmp_path: Path, dataset: Path) -> None:
    config = _config(tmp_path, "classify", {"train": str(dataset)})
    to_instruct(config, tmp_path / "a")
    to_instruct(config, tmp_path / "b")
    for name in ("train.jsonl", "dev.jsonl", "test.jsonl", "hone.yaml"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    to_instruct(config, tmp_path / "c", seed=14)
    assert (tmp_path / "c" / "train.jsonl").read_bytes() != (tmp_path / "a" / "train.jsonl").read_bytes()
    row = _jsonl(tmp_path / "c" / "train.jsonl")[0]
    source, line = row["source"].rsplit(":", 1)
    assert row["template"] == f"classify/{template_index(14, source, int(line), len(TEMPLATES['classify'])) + 1}"


def test_all_templates_writes_every_phrasing_of_every_example(tmp_path: Path, dataset: Path) -> None:
    one = to_instruct(dataset, tmp_path / "one", task="classify")
    every = to_instruct(dataset, tmp_path / "all", task="classify", templates="all")
    n = len(TEMPLATES["classify"])
    assert every["rows"] == {name: count * n for name, count in one["rows"].items()}
    assert set(every["per_template"].values()) == {sum(one["examples"].values())}
    by_source: dict[str, set[str]] = {}
    for row in _written(tmp_path / "all"):
        by_source.setdefault(row["source"], set()).add(row["template"])
    assert all(ids == {t.id for t in TEMPLATES["classify"]} for ids in by_source.values())


def test_bad_rows_follow_data_on_error(tmp_path: Path, dataset: Path) -> None:
    with dataset.open("a") as f:
        f.write('{"text": "no label"}\n')
    with pytest.raises(DataError, match="missing_field"):
        to_instruct(_config(tmp_path, "classify", {"train": str(dataset)}), tmp_path / "abort")
    config = _config(tmp_path, "classify", {"train": str(dataset), "on_error": "skip"})
    result = to_instruct(config, tmp_path / "skip")
    assert result["skipped"] == 1 and sum(result["rows"].values()) == 150


def test_refuses_what_it_cannot_convert(tmp_path: Path, dataset: Path) -> None:
    with pytest.raises(ConfigError, match="--task"):
        to_instruct(dataset, tmp_path / "out")
    embed = _config(tmp_path, "embed", {"train": str(dataset)})
    with pytest.raises(ConfigError, match="classify, ner, extract"):
        to_instruct(embed, tmp_path / "out")
    with pytest.raises(ValueError, match="templates"):
        to_instruct(dataset, tmp_path / "out", task="classify", templates="some")  # type: ignore[arg-type]


def test_written_config_is_an_instruct_run_that_checks(tmp_path: Path, dataset: Path, tiny_causal: Path) -> None:
    result = to_instruct(_config(tmp_path, "classify", {"train": str(dataset)}), tmp_path / "out")
    out = (tmp_path / "out").resolve()
    config = hone.load_config(out / "hone.yaml", [f"model.name={tiny_causal}"])
    assert config.task == "instruct"
    assert (config.data.train, config.data.dev, config.data.test) == tuple(
        out / f"{name}.jsonl" for name in ("train", "dev", "test")
    )
    checked = hone.check(config)
    assert not checked.errors(), [str(p) for p in checked.errors()]
    assert {name: len(exs) for name, exs in checked.splits.items()} == result["rows"]


def test_cli_writes_the_files_and_explains_mistakes(tmp_path: Path, dataset: Path) -> None:
    config = _config(tmp_path, "classify", {"train": str(dataset)})
    out = tmp_path / "out"
    done = runner.invoke(app, ["data", "to-instruct", str(config), "--out", str(out), "--templates", "all"])
    assert done.exit_code == 0, done.output + repr(done.exception)
    assert "classify/5" in done.output and "hone check" in done.output
    assert len(_jsonl(out / "test.jsonl")) == 5 * len(check_data(hone.load_config(config)).splits["test"])
    no_task = runner.invoke(app, ["data", "to-instruct", str(dataset), "--out", str(out)])
    assert no_task.exit_code == 2 and "--task" in no_task.output and "Traceback" not in no_task.output
    assert "to-instruct" in runner.invoke(app, ["data", "--help"]).output
