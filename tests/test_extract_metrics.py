"""Extraction metrics match a hand count on four documents: slot TP/FP/FN, nulls, grounding, invalid JSON."""

from __future__ import annotations

import pytest

from hone.evaluate.extract_metrics import extract_metrics, field_errors, field_f1_micro, normalize_value

FIELDS = ["name", "date", "amount"]
TEXTS = [
    "Invoice from Acme  Corp dated 2024-01-05 for $300.",
    "Letter from Bob Jones asking $20, no date given.",
    "Receipt: total 12 EUR.",
    "Signed, ZED.",
]
GOLD = [
    {"name": "Acme Corp", "date": "2024-01-05", "amount": "$300"},
    {"name": "Bob Jones", "date": None, "amount": "$20"},
    {"name": None, "date": None, "amount": "12 EUR"},
    {"name": "Zed", "date": None},  # amount missing: None
]
PREDICTED = [
    {"name": "  acme   CORP ", "date": "2024-01-05", "amount": "$500"},  # amount wrong and ungrounded
    {"name": "Bob Jones", "date": "2023-12-01"},  # date invented (ungrounded), amount missed
    None,  # did not parse
    {"name": "zed", "date": None, "amount": None, "extra": "ignored"},  # exact match
]


def test_normalize_value() -> None:
    assert normalize_value("  Acme \n Corp ") == "acme corp"
    assert normalize_value(12) == "12"
    assert normalize_value(None) is None


def test_per_field_counts() -> None:
    per_field = extract_metrics(GOLD, PREDICTED, FIELDS, TEXTS)["per_field"]
    assert per_field["name"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 3, "tp": 3, "fp": 0, "fn": 0}
    date = per_field["date"]
    assert (date["tp"], date["fp"], date["fn"], date["support"]) == (1, 1, 0, 1)
    assert (date["precision"], date["recall"]) == (0.5, 1.0)
    assert date["f1"] == pytest.approx(2 / 3)
    # amount: doc 0 wrong (FP + FN), doc 1 missed (FN), doc 2 unparsed (FN).
    assert per_field["amount"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 3, "tp": 0, "fp": 1, "fn": 3}


def test_document_level_metrics() -> None:
    m = extract_metrics(GOLD, PREDICTED, FIELDS, TEXTS)["metrics"]
    assert m["field_f1_micro"] == pytest.approx(2 * 4 / (2 * 4 + 2 + 3))  # TP 4, FP 2, FN 3
    assert m["field_f1_macro"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["doc_exact_match"] == 0.25
    # Parsed docs' gold-None pairs: doc 1 date (invented), doc 3 date and amount (kept None).
    assert m["null_accuracy"] == pytest.approx(2 / 3)
    assert m["invented"] == 1
    assert m["missed_values"] == 1
    assert m["json_validity"] == 0.75
    # Six predicted values; "$500" and "2023-12-01" are not in their texts.
    assert m["ungrounded"] == 2
    assert m["ungrounded_rate"] == pytest.approx(2 / 6)
    assert m["n"] == 4
    assert field_f1_micro(GOLD, PREDICTED, FIELDS) == m["field_f1_micro"]


def test_normalised_fields_are_never_ungrounded() -> None:
    """A date written in ISO form whatever the text says is not an invented value: grounding skips it."""
    m = extract_metrics(GOLD, PREDICTED, FIELDS, TEXTS, normalised=["date"])["metrics"]
    # Of the six values, the two dates leave the grounding figures; "$500" is still not in its text.
    assert m["ungrounded"] == 1 and m["ungrounded_rate"] == pytest.approx(1 / 4)
    assert m["field_f1_micro"] == extract_metrics(GOLD, PREDICTED, FIELDS, TEXTS)["metrics"]["field_f1_micro"]
    errors = field_errors(GOLD[1], PREDICTED[1], FIELDS, TEXTS[1], normalised=["date"])
    assert [(e["field"], e["ungrounded"]) for e in errors] == [("date", False), ("amount", False)]
    assert field_errors(GOLD[1], PREDICTED[1], FIELDS, TEXTS[1])[0]["ungrounded"] is True


def test_null_accuracy_is_none_without_gold_nulls() -> None:
    gold = [{"name": "Zed"}]
    m = extract_metrics(gold, [{"name": "zed"}], ["name"], ["zed"])["metrics"]
    assert m["null_accuracy"] is None
    assert m["field_f1_micro"] == 1.0 and m["doc_exact_match"] == 1.0 and m["ungrounded_rate"] == 0.0


def test_invalid_json_is_never_an_exact_match() -> None:
    m = extract_metrics([{"name": None}], [None], ["name"], ["text"])["metrics"]
    assert m["doc_exact_match"] == 0.0 and m["json_validity"] == 0.0
    assert m["null_accuracy"] is None  # unparsed documents do not count toward null handling


def test_field_errors() -> None:
    assert field_errors(GOLD[0], PREDICTED[0], FIELDS, TEXTS[0]) == [
        {"field": "amount", "gold": "$300", "predicted": "$500", "kind": "wrong_value", "ungrounded": True}
    ]
    assert field_errors(GOLD[1], PREDICTED[1], FIELDS, TEXTS[1]) == [
        {"field": "date", "gold": None, "predicted": "2023-12-01", "kind": "invented", "ungrounded": True},
        {"field": "amount", "gold": "$20", "predicted": None, "kind": "missed", "ungrounded": False},
    ]
    assert field_errors(GOLD[2], PREDICTED[2], FIELDS, TEXTS[2]) == [
        {"field": None, "gold": None, "predicted": None, "kind": "invalid_json", "ungrounded": False}
    ]
    assert field_errors(GOLD[3], PREDICTED[3], FIELDS, TEXTS[3]) == []


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="2 gold, 1 predicted, 2 texts"):
        extract_metrics(GOLD[:2], PREDICTED[:1], FIELDS, TEXTS[:2])
    with pytest.raises(ValueError, match="one entry per document"):
        field_f1_micro(GOLD, PREDICTED[:3], FIELDS)
