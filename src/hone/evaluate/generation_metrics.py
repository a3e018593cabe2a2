"""Generation metrics for instruction tuning, where predictions and references are free text.

- ``rouge_l``: ROUGE-L F-measure (rouge-score, no stemming) — overlap of the longest common word
  subsequence, 1 for the same words in the same order, 0 for no shared word. Its tokenizer keeps
  only ASCII letters and digits, so non-ASCII text scores 0 unless it matches exactly.
- ``exact_match``: the prediction equals the reference after ``normalize`` (strip, collapse
  whitespace, lowercase).
- ``repetition``: the mean ``repetition_rate`` of predictions — the share of word trigrams that
  repeat an earlier trigram of the same text; degenerate looping output scores near 1.
- ``length_ratio``: mean prediction length over mean reference length, in words; 1 is on target.
- ``empty``: the share of blank predictions.

``error_categories`` counts predictions per failure category (see ``error_categories``); one prediction may
fall in several.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

CATEGORIES = ("too_verbose", "repetitive", "empty", "too_short")
REPETITIVE_ABOVE = 0.3


@cache
def _scorer() -> Any:
    # Built once per process: RougeScorer setup is far costlier than scoring one pair.
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def normalize(text: str) -> str:
    """The text stripped, with whitespace runs collapsed to one space, lowercased."""
    return " ".join(text.split()).lower()


def rouge_l(reference: str, prediction: str) -> float:
    """ROUGE-L F-measure of one prediction against its reference, in [0, 1]."""
    if normalize(reference) == normalize(prediction):
        # rouge-score gives 0 to two empty (or two identical non-ASCII) texts; a match is a match.
        return 1.0
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def repetition_rate(text: str, n: int = 3) -> float:
    """Share of the text's word n-grams that repeat an earlier n-gram of it; 0 below n words."""
    words = normalize(text).split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0.0
    seen: set[tuple[str, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


def error_categories(reference: str, prediction: str) -> list[str]:
    """The failure categories of one prediction, in ``CATEGORIES`` order.

    ``empty``: blank (and then nothing else). ``too_verbose``: more than twice the reference's words
    and more than ten words over it. ``too_short``: under half the reference's words, for references
    of at least four words. ``repetitive``: ``repetition_rate`` above 0.3.
    """
    pred_words = len(prediction.split())
    if pred_words == 0:
        return ["empty"]
    ref_words = len(reference.split())
    found = {
        "too_verbose": pred_words > 2 * ref_words and pred_words > ref_words + 10,
        "repetitive": repetition_rate(prediction) > REPETITIVE_ABOVE,
        "too_short": ref_words >= 4 and pred_words < 0.5 * ref_words,
    }
    return [name for name in CATEGORIES if found.get(name)]


def _check_lengths(references: Sequence[str], predictions: Sequence[str]) -> None:
    if len(references) != len(predictions):
        raise ValueError(
            f"got {len(references)} references but {len(predictions)} predictions; "
            "pass exactly one prediction per reference, in the same order"
        )


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def rouge_l_mean(references: Sequence[str], predictions: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure over pairs (0 for none): the primary score."""
    _check_lengths(references, predictions)
    return _mean([rouge_l(r, p) for r, p in zip(references, predictions, strict=True)])


def _length_ratio(references: Sequence[str], predictions: Sequence[str]) -> float:
    ref_mean = _mean([len(r.split()) for r in references])
    if ref_mean == 0:
        return 0.0
    return _mean([len(p.split()) for p in predictions]) / ref_mean


def generation_metrics(references: Sequence[str], predictions: Sequence[str]) -> dict[str, Any]:
    """All generation metrics and error-category counts as JSON-ready values."""
    _check_lengths(references, predictions)
    pairs = list(zip(references, predictions, strict=True))
    metrics = {
        "rouge_l": rouge_l_mean(references, predictions),
        "exact_match": _mean([float(normalize(r) == normalize(p)) for r, p in pairs]),
        "repetition": _mean([repetition_rate(p) for p in predictions]),
        "length_ratio": _length_ratio(references, predictions),
        "empty": _mean([float(not p.strip()) for p in predictions]),
        "n": len(pairs),
    }
    errors = dict.fromkeys(CATEGORIES, 0)
    for reference, prediction in pairs:
        for name in error_categories(reference, prediction):
            errors[name] += 1
    return {"metrics": metrics, "error_categories": errors}
