"""Structured-extraction metrics: each document has declared fields, each a value or None (absent).

Values compare after ``normalize_value`` (strip, collapse whitespace, lowercase); a field missing
from a dict counts as None. A predicted document may itself be None: the model's output did not
parse.

- Per field, the slot-filling convention: TP = gold has a value and the prediction equals it;
  FP = a predicted value that is wrong or where gold has none; FN = a gold value that was missed or
  got wrong. A wrong value is both an FP and an FN. Precision, recall and F1 are 0 when undefined, so
  a field never filled in gold nor predicted has F1 0 in the macro mean (scikit-learn's convention).
- ``field_f1_micro``: F1 of counts summed over fields (the primary score); ``field_f1_macro``: the
  mean of per-field F1 over the declared fields.
- ``doc_exact_match``: share of documents whose every declared field matches (None == None counts).
- ``json_validity``: share of predictions that parsed (are not None).

An unparseable prediction counts as missing every gold value in the F1 scores and never as an exact
match. The rest are measured over parsed predictions only, so they describe the model's choices
rather than its formatting failures (which ``json_validity`` reports):

- ``null_accuracy``: over (document, field) pairs whose gold is None, the share predicted None;
  None (JSON null) when there are no such pairs.
- ``invented``: count of those pairs where the model predicted a value anyway.
- ``missed_values``: count of pairs where gold has a value and the model predicted None.
- ``ungrounded`` / ``ungrounded_rate``: predicted values whose normalized text does not occur in the
  normalized source text — count, and share of all predicted values (0 when none were predicted).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

Document = Mapping[str, Any]


def normalize_value(value: Any) -> str | None:
    """``str(value)`` stripped, whitespace runs collapsed, lowercased; None stays None."""
    if value is None:
        return None
    return " ".join(str(value).split()).lower()


def _value(doc: Document | None, field: str) -> str | None:
    return None if doc is None else normalize_value(doc.get(field))


def _grounded(value: str, text: str) -> bool:
    return value in " ".join(text.split()).lower()


def _check_lengths(**sequences: Sequence[Any]) -> None:
    lengths = {name: len(seq) for name, seq in sequences.items()}
    if len(set(lengths.values())) > 1:
        given = ", ".join(f"{n} {name}" for name, n in lengths.items())
        raise ValueError(f"got {given}; pass one entry per document, in the same order")


def _counts(
    gold: Sequence[Document], predicted: Sequence[Document | None], fields: Sequence[str]
) -> dict[str, dict[str, int]]:
    counts = {field: {"tp": 0, "fp": 0, "fn": 0} for field in fields}
    for gold_doc, pred_doc in zip(gold, predicted, strict=True):
        for field in fields:
            g, p = _value(gold_doc, field), _value(pred_doc, field)
            c = counts[field]
            c["tp"] += g is not None and p == g
            c["fp"] += p is not None and p != g
            c["fn"] += g is not None and p != g
    return counts


def _f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / (2 * tp + fp + fn) if tp else 0.0


def field_f1_micro(gold: Sequence[Document], predicted: Sequence[Document | None], fields: Sequence[str]) -> float:
    """F1 over (document, field) slots, counts summed over fields: the primary score."""
    _check_lengths(gold=gold, predicted=predicted)
    counts = _counts(gold, predicted, fields).values()
    return _f1(*(sum(c[k] for c in counts) for k in ("tp", "fp", "fn")))


def _per_field(counts: dict[str, int]) -> dict[str, float | int]:
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    return {
        "precision": tp / (tp + fp) if tp else 0.0,
        "recall": tp / (tp + fn) if tp else 0.0,
        "f1": _f1(tp, fp, fn),
        "support": tp + fn,
        "tp": tp,
        "fp": fp,
        "fn": fn,
    }


def _doc_matches(gold_doc: Document, pred_doc: Document | None, fields: Sequence[str]) -> bool:
    return pred_doc is not None and all(_value(gold_doc, f) == _value(pred_doc, f) for f in fields)


def _choices(
    gold: Sequence[Document],
    predicted: Sequence[Document | None],
    fields: Sequence[str],
    texts: Sequence[str],
    normalised: Collection[str] = (),
) -> dict[str, int]:
    """Null handling and grounding tallies over parsed predictions."""
    tally = {"gold_null": 0, "kept_null": 0, "invented": 0, "missed": 0, "values": 0, "ungrounded": 0}
    for gold_doc, pred_doc, text in zip(gold, predicted, texts, strict=True):
        if pred_doc is None:
            continue
        for field in fields:
            g, p = _value(gold_doc, field), _value(pred_doc, field)
            tally["gold_null"] += g is None
            tally["kept_null"] += g is None and p is None
            tally["invented"] += g is None and p is not None
            tally["missed"] += g is not None and p is None
            if field in normalised:  # written in a normal form, not copied: nothing to ground
                continue
            tally["values"] += p is not None
            tally["ungrounded"] += p is not None and not _grounded(p, text)
    return tally


def extract_metrics(
    gold: Sequence[Document],
    predicted: Sequence[Document | None],
    fields: Sequence[str],
    texts: Sequence[str],
    normalised: Collection[str] = (),
) -> dict[str, Any]:
    """All extraction metrics and per-field P/R/F1 with counts, as JSON-ready values. Fields in `normalised` are
    left out of the grounding figures (`ungrounded`, `ungrounded_rate`)."""
    _check_lengths(gold=gold, predicted=predicted, texts=texts)
    n = len(gold)
    per_field = {field: _per_field(c) for field, c in _counts(gold, predicted, fields).items()}
    tally = _choices(gold, predicted, fields, texts, normalised)
    exact = sum(_doc_matches(g, p, fields) for g, p in zip(gold, predicted, strict=True))
    metrics = {
        "field_f1_micro": field_f1_micro(gold, predicted, fields),
        "field_f1_macro": sum(f["f1"] for f in per_field.values()) / len(fields) if fields else 0.0,
        "doc_exact_match": exact / n if n else 0.0,
        "null_accuracy": tally["kept_null"] / tally["gold_null"] if tally["gold_null"] else None,
        "json_validity": sum(p is not None for p in predicted) / n if n else 0.0,
        "ungrounded_rate": tally["ungrounded"] / tally["values"] if tally["values"] else 0.0,
        "ungrounded": tally["ungrounded"],
        "invented": tally["invented"],
        "missed_values": tally["missed"],
        "n": n,
    }
    return {"metrics": metrics, "per_field": per_field}


def _kind(gold_value: str | None, pred_value: str | None) -> str:
    if gold_value is None:
        return "invented"
    return "missed" if pred_value is None else "wrong_value"


def field_errors(
    gold_doc: Document,
    predicted_doc: Document | None,
    fields: Sequence[str],
    text: str,
    normalised: Collection[str] = (),
) -> list[dict[str, Any]]:
    """One document's wrong fields, for worst-example tables.

    Each entry is ``{"field", "gold", "predicted", "kind", "ungrounded"}`` with the raw values and
    ``kind`` one of "invented" (gold None, a value predicted), "missed" (gold value, None predicted)
    or "wrong_value". An unparseable prediction is one entry with kind "invalid_json" and field None.
    ``ungrounded`` says the predicted value does not occur in the source text.
    """
    if predicted_doc is None:
        return [{"field": None, "gold": None, "predicted": None, "kind": "invalid_json", "ungrounded": False}]
    errors = []
    for field in fields:
        g, p = _value(gold_doc, field), _value(predicted_doc, field)
        if g == p:
            continue
        errors.append(
            {
                "field": field,
                "gold": gold_doc.get(field),
                "predicted": predicted_doc.get(field),
                "kind": _kind(g, p),
                "ungrounded": p is not None and field not in normalised and not _grounded(p, text),
            }
        )
    return errors
