"""Splits: deterministic by seed and text, stratified, duplicates kept together; the manifest."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from hone.data.split import (
    changed_files,
    example_hash,
    manifest,
    normalise_text,
    split_examples,
)
from hone.tasks.schema_classify import TextExample


def _examples(counts: dict[str, int], source: str = "train.jsonl") -> list[TextExample]:
    out: list[TextExample] = []
    for label, n in counts.items():
        out += [TextExample(f"{label} text number {i}", (label,), source, 0) for i in range(n)]
    return [TextExample(ex.text, ex.labels, ex.source, i + 1) for i, ex in enumerate(out)]


def _membership(splits: dict[str, list[TextExample]]) -> dict[str, set[int]]:
    return {name: {ex.line for ex in exs} for name, exs in splits.items()}


def test_normalise_text() -> None:
    assert normalise_text("  Hello,   WORLD!!\n") == "hello world"
    assert normalise_text("Straße — “quoted” ﬁle") == "strasse quoted file"
    assert normalise_text("U.S.A.") == normalise_text("usa")
    assert normalise_text("price $5 😀") == "price $5 😀"  # symbols are kept


def test_same_seed_same_split_whatever_the_order() -> None:
    examples = _examples({"a": 60, "b": 40})
    shuffled = examples[:]
    random.Random(0).shuffle(shuffled)
    first = split_examples(examples, 0.2, 0.1, stratify=True, seed=7)
    second = split_examples(shuffled, 0.2, 0.1, stratify=True, seed=7)
    assert _membership(first) == _membership(second)
    assert [ex.line for ex in second["train"]] == [ex.line for ex in shuffled if ex in second["train"]]
    other = split_examples(examples, 0.2, 0.1, stratify=True, seed=8)
    assert _membership(other) != _membership(first)


def test_stratified_proportions() -> None:
    splits = split_examples(_examples({"a": 100, "b": 50, "c": 5}), 0.2, 0.1, stratify=True, seed=1)
    counts = {name: Counter(ex.label for ex in exs) for name, exs in splits.items()}
    assert counts["test"] == {"a": 20, "b": 10, "c": 1}
    assert counts["dev"] == {"a": 8, "b": 4}  # dev is a share of what test left: 0.1 * 80, 0.1 * 40
    assert counts["train"] == {"a": 72, "b": 36, "c": 4}


def test_small_groups_keep_train_and_get_test() -> None:
    splits = split_examples(_examples({"a": 2, "b": 1, "c": 5}), 0.5, 0.5, stratify=True, seed=3)
    counts = {name: Counter(ex.label for ex in exs) for name, exs in splits.items()}
    assert counts["train"]["a"] == 1 and counts["train"]["c"] >= 1
    assert counts["test"]["a"] == 1 and counts["test"]["c"] >= 1
    few = split_examples(_examples({"a": 5, "b": 2}), 0.2, 0.0, stratify=True, seed=3)
    assert Counter(ex.label for ex in few["test"]) == {"a": 1}  # 5 * 0.2 = 1; 2 * 0.2 rounds to 0
    assert len(few["dev"]) == 0


def test_unstratified_counts() -> None:
    splits = split_examples(_examples({"a": 90, "b": 10}), 0.2, 0.25, stratify=False, seed=0)
    assert [len(splits[name]) for name in ("train", "dev", "test")] == [60, 20, 20]


def test_near_identical_texts_share_a_split() -> None:
    variants = ["Refund please!", "refund   please", "REFUND, please.", "Refund please"]
    examples = _examples({"a": 40, "b": 40})
    for i in range(30):
        for j, v in enumerate(variants):
            label = "a" if j % 2 else "b"  # conflicting labels must not pull copies apart either
            examples.append(TextExample(f"{v} #{i}", (label,), "train.jsonl", 1000 + 10 * i + j))
    for seed in range(5):
        splits = split_examples(examples, 0.3, 0.2, stratify=True, seed=seed)
        where = {ex.line: name for name, exs in splits.items() for ex in exs}
        for i in range(30):
            assert len({where[1000 + 10 * i + j] for j in range(4)}) == 1


def test_custom_group_key() -> None:
    examples = _examples({"a": 50, "b": 50})
    splits = split_examples(examples, 0.5, 0.0, stratify=True, seed=2, key=lambda ex: str(ex.line % 2))
    assert Counter(ex.line % 2 for ex in splits["test"]) == {0: 25, 1: 25}


def test_empty_input() -> None:
    assert split_examples([], 0.2, 0.1, stratify=True, seed=0) == {
        "train": [],
        "dev": [],
        "test": [],
    }


@pytest.fixture
def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "train.jsonl"
    path.write_text('{"text": "x", "label": "a"}\n')
    return path


def test_manifest(data_file: Path) -> None:
    examples = _examples({"a": 8, "b": 2}, source=str(data_file))
    splits = split_examples(examples, 0.2, 0.0, stratify=True, seed=0)
    result = manifest(splits)
    assert set(result) == {"splits", "counts", "fingerprints"}
    entry = result["splits"]["test"][0]
    assert set(entry) == {"source", "line", "hash"} and len(entry["hash"]) == 16
    assert entry["hash"] == example_hash(splits["test"][0])
    assert result["counts"] == {"train": {"a": 6, "b": 2}, "dev": {}, "test": {"a": 2}}
    assert list(result["fingerprints"]) == [str(data_file)]
    assert changed_files(result) == []


def test_fingerprint_changes_with_the_file(data_file: Path, tmp_path: Path) -> None:
    extra = tmp_path / "unused.jsonl"
    extra.write_text("")
    splits = {"train": _examples({"a": 1}, source=str(data_file)), "dev": [], "test": []}
    before = manifest(splits, files=[extra])
    assert set(before["fingerprints"]) == {str(data_file), str(extra)}
    data_file.write_text('{"text": "y", "label": "a"}\n')
    after = manifest(splits, files=[extra])
    assert after["fingerprints"][str(data_file)] != before["fingerprints"][str(data_file)]
    assert after["fingerprints"][str(extra)] == before["fingerprints"][str(extra)]
    assert changed_files(before) == [str(data_file)]
    extra.unlink()
    assert changed_files(after) == [str(extra)]


def test_example_hash_depends_on_text_and_labels() -> None:
    a = TextExample("hello", ("x",), "s", 1)
    assert example_hash(a) == example_hash(TextExample("hello", ("x",), "other", 9))
    assert example_hash(a) != example_hash(TextExample("hello", ("y",), "s", 1))
    assert example_hash(a) != example_hash(TextExample("hello!", ("x",), "s", 1))
