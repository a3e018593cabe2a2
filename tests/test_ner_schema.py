"""The ner example contract: both row forms, every problem category, tag schemes and CoNLL files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hone.data import problems as P
from hone.data.problems import Problem
from hone.tasks.ner_schema import (
    BAD_SPAN,
    BROKEN_TAGS,
    NER_CATEGORIES,
    OVERLAPPING_SPANS,
    RARE_ENTITY_TYPE,
    SPAN_WHITESPACE,
    NerExample,
    Span,
    detect_scheme,
    iob2_to_spans,
    ner_dataset_problems,
    parse_ner_example,
    read_conll,
    span_warnings,
    spans_to_iob2,
    tag_errors,
    to_iob2,
    word_offsets,
)


def parse(record: dict[str, Any], **kwargs: Any) -> NerExample | list[Problem]:
    return parse_ner_example(record, source="data.jsonl", line=7, **kwargs)


def problems_of(record: dict[str, Any], **kwargs: Any) -> list[Problem]:
    result = parse(record, **kwargs)
    assert isinstance(result, list), f"expected problems, got {result}"
    assert all(p.source == "data.jsonl" and p.line == 7 for p in result)
    return result


def only(record: dict[str, Any], category: str, field: str, **kwargs: Any) -> Problem:
    found = problems_of(record, **kwargs)
    assert [(p.category, p.field) for p in found] == [(category, field)], found
    return found[0]


# --- the two row forms ------------------------------------------------------------------------


def test_text_and_spans_row() -> None:
    text = "Anna Smith flew to New York."
    ex = parse(
        {"text": text, "spans": [{"start": 0, "end": 10, "label": "PER"}, {"start": 19, "end": 27, "label": "LOC"}]}
    )
    assert isinstance(ex, NerExample)
    assert ex.spans == (Span(0, 10, "PER"), Span(19, 27, "LOC"))
    assert [text[s.start : s.end] for s in ex.spans] == ["Anna Smith", "New York"]
    assert (ex.source, ex.line, ex.words) == ("data.jsonl", 7, None)


def test_text_row_with_no_entities_is_valid() -> None:
    ex = parse({"text": "nothing here", "spans": []})
    assert isinstance(ex, NerExample) and ex.spans == ()


def test_tokens_and_tags_row() -> None:
    ex = parse(
        {
            "tokens": ["Anna", "Smith", "flew", "to", "New", "York", "."],
            "tags": ["B-PER", "I-PER", "O", "O", "B-LOC", "I-LOC", "O"],
        }
    )
    assert isinstance(ex, NerExample)
    assert ex.text == "Anna Smith flew to New York ."
    assert ex.words == ((0, 4), (5, 10), (11, 15), (16, 18), (19, 22), (23, 27), (28, 29))
    assert ex.spans == (Span(0, 10, "PER"), Span(19, 27, "LOC"))


def test_custom_field_names() -> None:
    ex = parse({"words": ["Paris"], "ner": ["S-LOC"]}, tokens_field="words", tags_field="ner")
    assert isinstance(ex, NerExample) and ex.spans == (Span(0, 5, "LOC"),)


def test_bioes_and_iob1_rows_become_the_same_spans() -> None:
    tokens = ["Anna", "Smith", "met", "Bob", "in", "Rome"]
    bioes = parse({"tokens": tokens, "tags": ["B-PER", "E-PER", "O", "S-PER", "O", "S-LOC"]})
    iob1 = parse({"tokens": tokens, "tags": ["I-PER", "I-PER", "O", "I-PER", "O", "I-LOC"]}, scheme="iob1")
    assert isinstance(bioes, NerExample) and isinstance(iob1, NerExample)
    assert bioes.spans == iob1.spans == (Span(0, 10, "PER"), Span(15, 18, "PER"), Span(22, 26, "LOC"))


# --- row problems, each with its line and field ---------------------------------------------------


def test_missing_every_field() -> None:
    problem = only({"other": 1}, P.MISSING_FIELD, "text")
    assert "'tokens'+'tags'" in problem.message


def test_text_without_spans() -> None:
    only({"text": "hello"}, P.MISSING_FIELD, "spans")


def test_tokens_without_tags() -> None:
    only({"tokens": ["a"]}, P.MISSING_FIELD, "tags")


def test_wrong_types() -> None:
    only({"text": 3, "spans": []}, P.WRONG_TYPE, "text")
    only({"text": "a b", "spans": {"start": 0}}, P.WRONG_TYPE, "spans")
    assert "spans[0]" in only({"text": "a b", "spans": ["a"]}, P.WRONG_TYPE, "spans").message
    assert "tokens[1]" in only({"tokens": ["a", 2], "tags": ["O", "O"]}, P.WRONG_TYPE, "tokens").message
    assert (
        "tags[0] must be a non-blank string, got null"
        in only({"tokens": ["a"], "tags": [None]}, P.WRONG_TYPE, "tags").message
    )


def test_empty_fields() -> None:
    only({"text": "  ", "spans": []}, P.EMPTY_FIELD, "text")
    only({"tokens": [], "tags": ["O"]}, P.EMPTY_FIELD, "tokens")
    assert "tokens[1]" in only({"tokens": ["a", " "], "tags": ["O", "O"]}, P.EMPTY_FIELD, "tokens").message
    only({"text": "a b", "spans": [{"start": 0, "end": 1, "label": " "}]}, P.EMPTY_FIELD, "spans")


def test_span_missing_a_key() -> None:
    problem = only({"text": "a b", "spans": [{"start": 0, "end": 1}]}, P.MISSING_FIELD, "spans")
    assert "spans[0]" in problem.message and "label" in problem.message


@pytest.mark.parametrize(
    ("start", "end", "shown"),
    [
        (0, 99, "end=99"),
        (3, 3, "start=3 end=3"),
        (4, 2, "start=4 end=2"),
        (-1, 2, "start=-1"),
        ("0", 2, "'0'"),
        (True, 2, "True"),
        (0, 2.0, "2.0"),
    ],
)
def test_bad_spans(start: Any, end: Any, shown: str) -> None:
    problem = only({"text": "hello world", "spans": [{"start": start, "end": end, "label": "X"}]}, BAD_SPAN, "spans")
    assert shown in problem.message
    if isinstance(start, int) and isinstance(end, int) and not isinstance(start, bool):
        assert "11-character" in problem.message


def test_overlapping_spans_name_both() -> None:
    spans = [{"start": 6, "end": 10, "label": "LOC"}, {"start": 0, "end": 8, "label": "ORG"}]
    problem = only({"text": "Banco Rioja", "spans": spans}, OVERLAPPING_SPANS, "spans")
    assert "spans[1]" in problem.message and "spans[0]" in problem.message
    assert "'Banco Ri'" in problem.message and "'Rioj'" in problem.message


def test_every_overlap_is_reported() -> None:
    spans = [
        {"start": 0, "end": 10, "label": "A"},
        {"start": 1, "end": 2, "label": "B"},
        {"start": 5, "end": 6, "label": "C"},
    ]
    found = problems_of({"text": "abcdefghijk", "spans": spans})
    assert [p.category for p in found] == [OVERLAPPING_SPANS] * 2
    assert "spans[0]" in found[0].message and "spans[1]" in found[0].message
    assert "spans[0]" in found[1].message and "spans[2]" in found[1].message


def test_every_bad_span_is_reported() -> None:
    spans = [{"start": 0, "end": 99, "label": "X"}, {"start": 2, "end": 1, "label": "X"}]
    found = problems_of({"text": "hello", "spans": spans})
    assert [p.category for p in found] == [BAD_SPAN, BAD_SPAN]
    assert "spans[0]" in found[0].message and "spans[1]" in found[1].message


def test_unknown_label_in_both_forms() -> None:
    problem = only(
        {"text": "Rome", "spans": [{"start": 0, "end": 4, "label": "CITY"}]}, P.UNKNOWN_LABEL, "spans", labels=["LOC"]
    )
    assert "CITY" in problem.message
    only({"tokens": ["Rome"], "tags": ["B-CITY"]}, P.UNKNOWN_LABEL, "tags", labels=["LOC"])
    assert isinstance(parse({"tokens": ["Rome"], "tags": ["B-LOC"]}, labels=["LOC"]), NerExample)


def test_tag_count_mismatch() -> None:
    problem = only({"tokens": ["a", "b", "c"], "tags": ["O", "O"]}, BROKEN_TAGS, "tags")
    assert "3 tokens but 2 tags" in problem.message


def test_i_without_b_is_broken_under_auto_and_iob2() -> None:
    record = {"tokens": ["in", "New", "York"], "tags": ["O", "I-LOC", "I-LOC"]}
    problem = only(record, BROKEN_TAGS, "tags")
    assert "tags[1] = 'I-LOC'" in problem.message and "iob1" in problem.message
    assert "tags[1]" in only(record, BROKEN_TAGS, "tags", scheme="iob2").message
    ex = parse(record, scheme="iob1")
    assert isinstance(ex, NerExample) and ex.spans == (Span(3, 11, "LOC"),)


def test_i_after_another_type_is_broken() -> None:
    problem = only({"tokens": ["a", "b"], "tags": ["B-PER", "I-LOC"]}, BROKEN_TAGS, "tags")
    assert "tags[1] = 'I-LOC'" in problem.message


def test_malformed_tag() -> None:
    problem = only({"tokens": ["a", "b"], "tags": ["O", "PER"]}, BROKEN_TAGS, "tags")
    assert "tags[1] = 'PER'" in problem.message
    only({"tokens": ["a"], "tags": ["B-"]}, BROKEN_TAGS, "tags")
    only({"tokens": ["a"], "tags": ["b-PER"]}, BROKEN_TAGS, "tags")


@pytest.mark.parametrize(
    ("tags", "index"),
    [
        (["E-PER", "O"], 0),  # E- with nothing open
        (["B-PER", "O"], 1),  # B- not closed before O
        (["O", "B-PER"], 1),  # B- not closed at the end
        (["B-PER", "E-LOC"], 1),  # E- of another type
        (["S-PER", "I-PER"], 1),  # I- after a closed single
        (["B-PER", "S-PER"], 1),  # S- while an entity is open
    ],
)
def test_bioes_misuse(tags: list[str], index: int) -> None:
    problem = only({"tokens": ["a", "b"], "tags": tags}, BROKEN_TAGS, "tags", scheme="bioes")
    assert f"tags[{index}] = {tags[index]!r}" in problem.message and "bioes" in problem.message


def test_auto_detects_bioes_per_row() -> None:
    problem = only({"tokens": ["a", "b", "c"], "tags": ["B-PER", "O", "S-LOC"]}, BROKEN_TAGS, "tags")
    assert "tags[1] = 'O'" in problem.message and "bioes" in problem.message


def test_e_tags_under_iob2_are_broken() -> None:
    problem = only({"tokens": ["a"], "tags": ["S-PER"]}, BROKEN_TAGS, "tags", scheme="iob2")
    assert "bioes" in problem.message


def test_many_broken_tags_are_summarised() -> None:
    problem = only({"tokens": list("abcde"), "tags": ["X"] * 5}, BROKEN_TAGS, "tags")
    assert "and 2 more" in problem.message


def test_span_whitespace_is_a_warning() -> None:
    ex = parse({"text": "see New York now", "spans": [{"start": 3, "end": 13, "label": "LOC"}]})
    assert isinstance(ex, NerExample)
    (warning,) = span_warnings(ex)
    assert (warning.category, warning.severity, warning.line, warning.field) == (SPAN_WHITESPACE, "warning", 7, "spans")
    assert "' New York '" in warning.message
    clean = parse({"text": "see New York now", "spans": [{"start": 4, "end": 12, "label": "LOC"}]})
    assert isinstance(clean, NerExample) and span_warnings(clean) == []


def test_ner_categories_are_new() -> None:
    generic = {v for k, v in vars(P).items() if k.isupper() and isinstance(v, str)}
    assert NER_CATEGORIES.isdisjoint(generic)


# --- tag schemes -------------------------------------------------------------------------------


def test_iob1_to_iob2() -> None:
    tags = ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG"]
    assert to_iob2(tags, "iob1") == ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG"]


def test_bioes_to_iob2() -> None:
    tags = ["S-PER", "B-LOC", "I-LOC", "E-LOC", "O", "B-ORG", "E-ORG"]
    assert to_iob2(tags, "bioes") == ["B-PER", "B-LOC", "I-LOC", "I-LOC", "O", "B-ORG", "I-ORG"]
    assert to_iob2(tags, "auto") == to_iob2(tags, "bioes")


def test_detect_scheme() -> None:
    assert detect_scheme(["B-PER", "E-PER"]) == "bioes"
    assert detect_scheme(["S-PER"]) == "bioes"
    assert detect_scheme(["B-PER", "I-PER", "O"]) == "iob2"
    assert detect_scheme(["I-PER", "O"]) == "iob2"  # IOB1 is never guessed
    assert to_iob2(["B-X", "I-X"], "auto") == ["B-X", "I-X"]


def test_valid_tags_have_no_errors() -> None:
    assert tag_errors(["B-PER", "I-PER", "O", "B-LOC", "B-LOC"], "iob2") == []
    assert tag_errors(["I-PER", "B-PER", "O"], "iob1") == []
    assert tag_errors(["B-PER", "I-PER", "E-PER", "S-LOC", "O"], "bioes") == []


def test_iob2_to_spans_is_lenient() -> None:
    words = [(0, 1), (2, 3), (4, 5), (6, 7)]
    assert iob2_to_spans(["I-X", "I-Y", "O", "I-X"], words) == [Span(0, 1, "X"), Span(2, 3, "Y"), Span(6, 7, "X")]


def test_spans_tags_spans_round_trip() -> None:
    text = "Dr. Anna Smith of Acme Corp. met Bob Rome in Rome , Italy"
    words = word_offsets(text)
    spans = [
        Span(4, 14, "PER"),
        Span(18, 28, "ORG"),
        Span(33, 36, "PER"),
        Span(37, 41, "PER"),
        Span(45, 49, "LOC"),
        Span(52, 57, "LOC"),
    ]
    tags = spans_to_iob2(spans, words)
    assert tags == [
        "O",
        "O",
        "B-PER",
        "I-PER",
        "O",
        "B-ORG",
        "I-ORG",
        "I-ORG",
        "O",
        "B-PER",
        "B-PER",
        "O",
        "B-LOC",
        "O",
        "B-LOC",
    ]
    assert iob2_to_spans(tags, words) == spans


def test_spans_to_iob2_widens_to_touched_words() -> None:
    words = word_offsets("Berliner Zeitung")
    assert spans_to_iob2([Span(0, 6, "LOC")], words) == ["B-LOC", "O"]
    assert spans_to_iob2([Span(3, 12, "ORG")], words) == ["B-ORG", "I-ORG"]


# --- CoNLL -------------------------------------------------------------------------------------


def test_read_conll_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "train.conll"
    path.write_text(
        "-DOCSTART- -X- -X- O\n"  # 1
        "\n"  # 2
        "EU NNP B-NP B-ORG\n"  # 3
        "rejects VBZ B-VP O\n"  # 4
        "\n"  # 5
        "\n"  # 6
        "Peter\tB-PER\n"  # 7
        "Blackburn\tI-PER\n"  # 8
        "   \n"  # 9 (whitespace only: a separator)
        "-DOCSTART- -X- -X- O\n"  # 10
        "Rome B-LOC\n"  # 11
        "-DOCSTART- -X- -X- O\n"  # 12
        "Paris B-LOC"  # 13, no final newline
    )
    assert list(read_conll(path)) == [
        (3, {"tokens": ["EU", "rejects"], "tags": ["B-ORG", "O"]}),
        (7, {"tokens": ["Peter", "Blackburn"], "tags": ["B-PER", "I-PER"]}),
        (11, {"tokens": ["Rome"], "tags": ["B-LOC"]}),
        (13, {"tokens": ["Paris"], "tags": ["B-LOC"]}),
    ]


def test_read_conll_rows_parse(tmp_path: Path) -> None:
    path = tmp_path / "a.conll"
    path.write_text("\ufeffAnna B-PER\nSmith I-PER\n\nx I-LOC\n")
    results = [parse_ner_example(row, source=str(path), line=line) for line, row in read_conll(path)]
    assert isinstance(results[0], NerExample) and results[0].spans == (Span(0, 10, "PER"),)
    assert isinstance(results[1], list) and (results[1][0].category, results[1][0].line) == (BROKEN_TAGS, 4)


def test_read_conll_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        list(read_conll(tmp_path / "missing.conll"))
    bad = tmp_path / "bad.conll"
    bad.write_bytes(b"Anna B-PER\n\xff O\n")
    with pytest.raises(ValueError, match=r"bad.conll:2: .*UTF-8"):
        list(read_conll(bad))


# --- dataset-wide findings ------------------------------------------------------------------------


def ex(*labels: str) -> NerExample:
    return NerExample("x" * 10, tuple(Span(i, i + 1, label) for i, label in enumerate(labels)), "d", 1)


def test_no_entities_in_train_is_an_error() -> None:
    (problem,) = ner_dataset_problems([ex(), ex()], imbalance_ratio=10)
    assert (problem.category, problem.severity) == (P.TOO_FEW, "error")
    assert "train" in problem.message
    (problem,) = ner_dataset_problems([ex()], imbalance_ratio=10, split="test")
    assert (problem.category, problem.severity) == (P.TOO_FEW, "warning")


def test_rare_types_and_imbalance() -> None:
    examples = [ex("PER", "PER", "PER", "PER", "PER")] * 4 + [ex("LOC", "ORG")]
    found = ner_dataset_problems(examples, imbalance_ratio=10)
    assert [(p.category, p.severity) for p in found] == [
        (RARE_ENTITY_TYPE, "warning"),
        (RARE_ENTITY_TYPE, "warning"),
        (P.IMBALANCE, "warning"),
    ]
    assert "'LOC' has only 1" in found[0].message and "'ORG'" in found[1].message
    assert "'PER' has 20" in found[2].message


def test_balanced_data_has_no_findings() -> None:
    assert ner_dataset_problems([ex("PER", "LOC")] * 5, imbalance_ratio=10) == []


def test_check_summary_counts_entities_and_sentences_apart(tmp_path: Path) -> None:
    import json

    from hone.config.schema import NerConfig
    from hone.data.check import check_data
    from hone.tasks import spec_for

    def row(i: int) -> dict[str, Any]:  # two places and one company per sentence
        text = f"Paris {i} and Lyon, said Acme"
        spans = [
            (0, 5, "LOC"),
            (len(f"Paris {i} and "), len(f"Paris {i} and Lyon"), "LOC"),
            (len(text) - 4, len(text), "ORG"),
        ]
        return {"text": text, "spans": [{"start": a, "end": b, "label": label} for a, b, label in spans]}

    for name, ids in (("train", range(10)), ("dev", range(10, 12)), ("test", range(12, 14))):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(row(i)) + "\n" for i in ids))
    files = {name: tmp_path / f"{name}.jsonl" for name in ("train", "dev", "test")}
    result = check_data(NerConfig.model_validate({"data": files}), spec=spec_for("ner"))
    lines = result.summary_lines()
    assert "entities in train, per type: LOC 20, ORG 10; sentences with at least one: LOC 10, ORG 10" in lines
    assert not any(line.startswith("labels in train") for line in lines)
    assert result.stats["entities"]["train"] == {"LOC": 20, "ORG": 10}
