"""Entity-level NER metrics (seqeval) and an error table that says how each entity went wrong.

Gold and predicted character spans are turned into IOB2 tags over the example's words (its token
offsets when the row came as tokens+tags, else a regex split of the text) after the predictions
are widened to whole words, then scored with seqeval: an entity counts only when its type and
every word match. The error table works on the same word-level entities, so its `correct` column
equals seqeval's true positives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from hone.tasks.ner_align import snap_to_words
from hone.tasks.ner_schema import Span, iob2_to_spans, spans_to_iob2, word_offsets

ERROR_KINDS = ("correct", "wrong_type", "wrong_boundary", "missed", "spurious")
Tags = list[list[str]]  # one IOB2 tag per word, one list per example


class GoldExample(Protocol):
    """What the metrics need of a gold example (NerExample has it)."""

    @property
    def text(self) -> str: ...

    @property
    def spans(self) -> Sequence[Span]: ...

    @property
    def words(self) -> Sequence[tuple[int, int]] | None: ...


def word_tags(gold: Sequence[GoldExample], predicted: Sequence[Sequence[Span]]) -> tuple[Tags, Tags]:
    """Gold and predicted IOB2 tags per example, over the same words (predictions snapped to words)."""
    y_true, y_pred, _ = _tagged(gold, predicted)
    return y_true, y_pred


def _tagged(
    gold: Sequence[GoldExample], predicted: Sequence[Sequence[Span]]
) -> tuple[Tags, Tags, list[list[tuple[int, int]]]]:
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold examples but {len(predicted)} predictions; give one prediction per example")
    words = [list(ex.words) if ex.words is not None else word_offsets(ex.text) for ex in gold]
    y_true = [spans_to_iob2(ex.spans, w) for ex, w in zip(gold, words, strict=True)]
    y_pred = [spans_to_iob2(snap_to_words(spans, w), w) for spans, w in zip(predicted, words, strict=True)]
    return y_true, y_pred, words


def ner_score(gold: Sequence[GoldExample], predicted: Sequence[Sequence[Span]]) -> float:
    """Micro entity-level F1, the primary metric ("f1")."""
    from seqeval.metrics import f1_score

    y_true, y_pred = word_tags(gold, predicted)
    if not _has_entities(y_true, y_pred):
        return 0.0
    return float(f1_score(y_true, y_pred, zero_division=0))


def _has_entities(*sequences: Tags) -> bool:
    return any(tag != "O" for rows in sequences for row in rows for tag in row)


def ner_metrics(gold: Sequence[GoldExample], predicted: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """Micro P/R/F1 and macro-F1, per-type P/R/F1/support, and the per-type error table, JSON-ready."""
    y_true, y_pred, words = _tagged(gold, predicted)
    report = _report(y_true, y_pred)
    micro, macro = report.pop("micro avg"), report.pop("macro avg")
    report.pop("weighted avg")
    metrics = {**_prf(micro), "macro_f1": float(macro["f1-score"])}
    per_type = {kind: {**_prf(row), "support": int(row["support"])} for kind, row in sorted(report.items())}
    gold_spans = [iob2_to_spans(tags, w) for tags, w in zip(y_true, words, strict=True)]
    pred_spans = [iob2_to_spans(tags, w) for tags, w in zip(y_pred, words, strict=True)]
    return {"metrics": metrics, "per_type": per_type, "errors": error_table(gold_spans, pred_spans)}


def _prf(row: dict[str, Any]) -> dict[str, float]:
    return {"precision": float(row["precision"]), "recall": float(row["recall"]), "f1": float(row["f1-score"])}


def _report(y_true: Tags, y_pred: Tags) -> dict[str, dict[str, Any]]:
    from seqeval.metrics import classification_report

    if not _has_entities(y_true, y_pred):  # seqeval averages over no types and warns; nothing to score
        zero = {"precision": 0.0, "recall": 0.0, "f1-score": 0.0, "support": 0}
        return {name: dict(zero) for name in ("micro avg", "macro avg", "weighted avg")}
    return classification_report(y_true, y_pred, output_dict=True, zero_division=0)


def error_table(gold: Sequence[Sequence[Span]], predicted: Sequence[Sequence[Span]]) -> dict[str, dict[str, int]]:
    """Per entity type: how many gold and predicted entities were correct or went wrong, and how.

    Gold and predictions are paired once each, in priority order: correct (same type and
    boundaries), wrong_type (same boundaries, another type), wrong_boundary (same type,
    overlapping). Gold left unpaired is missed; a prediction left unpaired is spurious (counted
    under its own type). So per type, correct + wrong_type + wrong_boundary + missed = gold
    support, and every prediction is counted once.
    """
    table: dict[str, dict[str, int]] = {}
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        _count(list(gold_spans), list(pred_spans), table)
    return dict(sorted(table.items()))


_RULES: tuple[tuple[str, Callable[[Span, Span], bool]], ...] = (
    ("correct", lambda g, p: g == p),
    ("wrong_type", lambda g, p: (g.start, g.end) == (p.start, p.end)),
    ("wrong_boundary", lambda g, p: g.label == p.label and g.start < p.end and p.start < g.end),
)


def _count(gold: list[Span], predicted: list[Span], table: dict[str, dict[str, int]]) -> None:
    free_gold, free_pred = list(range(len(gold))), list(range(len(predicted)))
    for kind, matches in _RULES:
        for g in list(free_gold):
            p = next((p for p in free_pred if matches(gold[g], predicted[p])), None)
            if p is not None:
                _row(table, gold[g].label)[kind] += 1
                free_gold.remove(g)
                free_pred.remove(p)
    for g in free_gold:
        _row(table, gold[g].label)["missed"] += 1
    for p in free_pred:
        _row(table, predicted[p].label)["spurious"] += 1


def _row(table: dict[str, dict[str, int]], kind: str) -> dict[str, int]:
    return table.setdefault(kind, dict.fromkeys(ERROR_KINDS, 0))
