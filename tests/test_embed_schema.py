"""The embed example contract: pair rows, negatives, the corpus file and the dataset-wide pair checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hone.data import problems as P
from hone.data.problems import DataError, Problem
from hone.tasks.embed_schema import (
    BAD_NEGATIVE,
    DUPLICATE_ID,
    EMBED_CATEGORIES,
    SHARED_POSITIVE,
    CorpusDoc,
    PairExample,
    corpus_from_pairs,
    pair_problems,
    parse_pair_example,
    read_corpus,
)


def parse(record: dict, **fields: str) -> PairExample | list[Problem]:
    return parse_pair_example(record, source="train.jsonl", line=3, **fields)


def categories(result: PairExample | list[Problem]) -> list[tuple[str, str | None]]:
    assert isinstance(result, list), result
    return [(p.category, p.field) for p in result]


def pair(query: str, positive: str, *negatives: str) -> PairExample:
    return PairExample(query, positive, negatives, "train.jsonl", 1)


def test_a_full_row_becomes_a_pair_example_with_generic_keys() -> None:
    ex = parse({"query": "reset password", "positive": "Go to settings.", "negative": ["Call us.", "Call us."]})
    assert ex == PairExample("reset password", "Go to settings.", ("Call us.",), "train.jsonl", 3)
    assert (ex.text, ex.labels, ex.label_key, ex.stratify_key) == ("reset password", (), "Go to settings.", "")


@pytest.mark.parametrize("negative", [None, "absent"])
def test_negatives_are_optional(negative: str | None) -> None:
    record = {"query": "q", "positive": "p"} | ({} if negative == "absent" else {"negative": negative})
    ex = parse(record)
    assert isinstance(ex, PairExample) and ex.negatives == ()


def test_a_single_negative_string_and_custom_field_names() -> None:
    ex = parse({"q": "q", "doc": "p", "neg": "n"}, query_field="q", positive_field="doc", negative_field="neg")
    assert isinstance(ex, PairExample) and ex.negatives == ("n",)


def test_every_problem_of_a_row_is_reported_with_where_and_what() -> None:
    problems = parse({"positive": 3, "negative": {"a": 1}})
    assert categories(problems) == [
        (P.MISSING_FIELD, "query"),
        (P.WRONG_TYPE, "positive"),
        (P.WRONG_TYPE, "negative"),
    ]
    assert str(problems[0]).startswith("train.jsonl:3: error missing_field [query]")
    assert "got dict" in problems[2].message


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"query": "  ", "positive": "p"}, [(P.EMPTY_FIELD, "query")]),
        ({"query": "q", "positive": "p", "negative": ["n", 4]}, [(P.WRONG_TYPE, "negative")]),
        ({"query": "q", "positive": "p", "negative": ["n", " "]}, [(P.EMPTY_FIELD, "negative")]),
        ({"query": "q", "positive": "p", "negative": ["n", " p "]}, [(BAD_NEGATIVE, "negative")]),
        ({"query": "q", "positive": "p", "negative": "p"}, [(BAD_NEGATIVE, "negative")]),
    ],
)
def test_bad_values(record: dict, expected: list[tuple[str, str]]) -> None:
    assert categories(parse(record)) == expected


def test_read_corpus_takes_ids_or_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text('{"id": "a", "text": "alpha"}\n\n{"text": "gamma"}\n{"id": 7, "text": "seven"}\n')
    assert read_corpus(path) == [CorpusDoc("a", "alpha"), CorpusDoc("3", "gamma"), CorpusDoc("7", "seven")]


def test_read_corpus_names_every_bad_row_by_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    rows = [{"id": "a", "text": "x"}, {"id": "b"}, {"id": "a", "text": "y"}, {"id": None, "text": "z"}]
    path.write_text("\n".join(json.dumps(row) for row in rows) + "\nnot json\n")
    with pytest.raises(DataError) as caught:
        read_corpus(path)
    found = [(p.category, p.line) for p in caught.value.problems]
    assert found == [(P.MISSING_FIELD, 2), (DUPLICATE_ID, 3), (P.WRONG_TYPE, 4), (P.INVALID_JSON, 5)]
    assert f"{path}:3: error duplicate_id [id]: id 'a' is already used at line 1" in str(caught.value)


def test_an_empty_corpus_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n")
    with pytest.raises(DataError, match="no documents"):
        read_corpus(path)


def test_corpus_from_pairs_has_each_text_once_with_stable_ids() -> None:
    examples = [pair("q1", "p1", "n1", "p2"), pair("q2", "p2", "n1"), pair("q3", "p1")]
    corpus = corpus_from_pairs(examples)
    assert [doc.text for doc in corpus] == ["p1", "n1", "p2"]
    assert corpus[0].id == "b78f576611ec06f9"  # sha1("p1")[:16]: the same in every run and process
    assert len({doc.id for doc in corpus}) == 3 and corpus == corpus_from_pairs(examples)


def test_pair_problems_warns_about_few_pairs_and_a_shared_positive() -> None:
    many = [pair(f"q{i}", f"p{i}") for i in range(30)]
    assert pair_problems(many, 10.0) == []
    shared = many[:20] + [pair(f"x{i}", "same") for i in range(10)]
    found = pair_problems(shared, 10.0)
    assert [(p.category, p.severity) for p in found] == [(SHARED_POSITIVE, "warning")]
    assert "10 of 30 queries (33%) share one positive ('same')" in found[0].message
    few = pair_problems(many[:5], 10.0)
    assert [(p.category, p.severity) for p in few] == [(P.TOO_FEW, "warning")]


def test_embed_categories_are_new() -> None:
    generic = {v for k, v in vars(P).items() if k.isupper() and isinstance(v, str)}
    assert EMBED_CATEGORIES.isdisjoint(generic)
