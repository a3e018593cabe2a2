"""Entity-level metrics agree with seqeval on hand-written tags; the error table matches a hand count."""

from __future__ import annotations

import warnings

import pytest
from seqeval.metrics import classification_report, f1_score

from hone.evaluate.ner_metrics import error_table, ner_metrics, ner_score, word_tags
from hone.tasks.ner_schema import NerExample, Span, parse_ner_example


def from_tokens(tokens: list[str], tags: list[str]) -> NerExample:
    ex = parse_ner_example({"tokens": tokens, "tags": tags}, source="t", line=1)
    assert isinstance(ex, NerExample)
    return ex


def at(ex: NerExample, surface: str, label: str, nth: int = 0) -> Span:
    """The span of the nth occurrence of `surface` in the example's text."""
    start = -1
    for _ in range(nth + 1):
        start = ex.text.index(surface, start + 1)
    return Span(start, start + len(surface), label)


def cases() -> tuple[list[NerExample], list[list[Span]], list[list[str]], list[list[str]]]:
    """Five examples, their predictions, and the word-level tags written out by hand."""
    ex1 = from_tokens(
        ["Anna", "Maria", "Smith", "visited", "New", "York", "City", "."],
        ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"],
    )
    ex2 = from_tokens(["Paris", "London", "Berlin", "are", "cities"], ["B-LOC", "B-LOC", "B-LOC", "O", "O"])
    text = "Acme Corp hired Bob."
    ex3 = NerExample(text, (Span(0, 9, "ORG"), Span(16, 19, "PER")), "t", 3)  # words: Acme Corp hired Bob .
    ex4 = NerExample("Zürich is big", (Span(0, 6, "LOC"),), "t", 4)
    ex5 = from_tokens(["ask", "Bob"], ["O", "B-PER"])
    gold = [ex1, ex2, ex3, ex4, ex5]
    predicted = [
        [at(ex1, "Anna Maria Smith", "PER"), at(ex1, "New York", "LOC")],
        [at(ex2, "Paris London", "LOC"), at(ex2, "Berlin", "ORG")],
        [Span(0, 4, "ORG"), Span(10, 15, "MISC"), Span(16, 19, "PER")],
        [Span(0, 3, "LOC")],  # 'Zür': widened to the word, so correct
        [],
    ]
    y_true = [
        ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "I-LOC", "O"],
        ["B-LOC", "B-LOC", "B-LOC", "O", "O"],
        ["B-ORG", "I-ORG", "O", "B-PER", "O"],
        ["B-LOC", "O", "O"],
        ["O", "B-PER"],
    ]
    y_pred = [
        ["B-PER", "I-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "O"],
        ["B-LOC", "I-LOC", "B-ORG", "O", "O"],
        ["B-ORG", "O", "B-MISC", "B-PER", "O"],
        ["B-LOC", "O", "O"],
        ["O", "O"],
    ]
    return gold, predicted, y_true, y_pred


def test_word_tags_match_hand_written_tags() -> None:
    gold, predicted, y_true, y_pred = cases()
    assert word_tags(gold, predicted) == (y_true, y_pred)


def test_metrics_agree_with_seqeval() -> None:
    gold, predicted, y_true, y_pred = cases()
    result = ner_metrics(gold, predicted)
    report = classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    assert result["metrics"]["precision"] == pytest.approx(3 / 8)
    assert result["metrics"]["recall"] == pytest.approx(3 / 9)
    assert result["metrics"]["f1"] == pytest.approx(6 / 17) == pytest.approx(f1_score(y_true, y_pred))
    assert result["metrics"]["macro_f1"] == pytest.approx(report["macro avg"]["f1-score"])
    assert set(result["per_type"]) == {"LOC", "MISC", "ORG", "PER"}
    for kind, row in result["per_type"].items():
        assert row["precision"] == pytest.approx(report[kind]["precision"])
        assert row["recall"] == pytest.approx(report[kind]["recall"])
        assert row["f1"] == pytest.approx(report[kind]["f1-score"])
        assert row["support"] == report[kind]["support"]
    assert result["per_type"]["PER"] == {"precision": 1.0, "recall": pytest.approx(2 / 3), "f1": 0.8, "support": 3}
    assert ner_score(gold, predicted) == pytest.approx(6 / 17)


def test_error_table_matches_a_hand_count() -> None:
    gold, predicted, _, _ = cases()
    zero = dict.fromkeys(["correct", "wrong_type", "wrong_boundary", "missed", "spurious"], 0)
    assert ner_metrics(gold, predicted)["errors"] == {
        # ex1 New York City vs New York; ex2 Paris in 'Paris London', London left over, Berlin as ORG; ex4 Zürich.
        "LOC": {**zero, "correct": 1, "wrong_type": 1, "wrong_boundary": 2, "missed": 1},
        "MISC": {**zero, "spurious": 1},  # ex3 'hired'
        "ORG": {**zero, "wrong_boundary": 1},  # ex3 Acme vs Acme Corp
        "PER": {**zero, "correct": 2, "missed": 1},  # ex1, ex3; ex5 Bob
    }


def test_error_table_priorities() -> None:
    gold = [[Span(0, 5, "LOC"), Span(10, 15, "PER")]]
    # The same boundaries with another type beat an overlap with the same type.
    predicted = [[Span(0, 3, "LOC"), Span(0, 5, "ORG"), Span(10, 15, "PER"), Span(10, 12, "PER")]]
    table = error_table(gold, predicted)
    assert table["LOC"] == {"correct": 0, "wrong_type": 1, "wrong_boundary": 0, "missed": 0, "spurious": 1}
    assert table["PER"] == {"correct": 1, "wrong_type": 0, "wrong_boundary": 0, "missed": 0, "spurious": 1}
    assert "ORG" not in table  # a wrong type counts under the gold type


def test_perfect_predictions() -> None:
    gold, _, _, _ = cases()
    result = ner_metrics(gold, [list(ex.spans) for ex in gold])
    assert result["metrics"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "macro_f1": 1.0}
    assert sum(row["correct"] for row in result["errors"].values()) == 9


def test_no_entities_anywhere_is_zero_without_warnings() -> None:
    gold = [NerExample("nothing here", (), "t", 1)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ner_metrics(gold, [[]])
        assert ner_score(gold, [[]]) == 0.0
    assert result == {
        "metrics": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "macro_f1": 0.0},
        "per_type": {},
        "errors": {},
    }


def test_prediction_count_must_match() -> None:
    gold, predicted, _, _ = cases()
    with pytest.raises(ValueError, match="5 gold examples but 4 predictions"):
        ner_metrics(gold, predicted[:4])
