"""Generation metrics match hand-computed ROUGE-L, repetition, length and error-category values."""

from __future__ import annotations

import pytest

from hone.evaluate.generation_metrics import (
    error_categories,
    generation_metrics,
    normalize,
    repetition_rate,
    rouge_l,
    rouge_l_mean,
)


def test_normalize_strips_collapses_and_lowercases() -> None:
    assert normalize("  The\tCat \n sat  ") == "the cat sat"


def test_rouge_l_identical_disjoint_and_partial() -> None:
    assert rouge_l("the cat sat", "the cat sat") == 1.0
    assert rouge_l("the cat sat", "dogs run fast") == 0.0
    # LCS "the cat on mat" = 4 words of 6 and 5: F = 2 * 4 / (6 + 5).
    assert rouge_l("the cat sat on the mat", "the cat on a mat") == pytest.approx(8 / 11)


def test_rouge_l_matches_equal_texts_the_tokenizer_cannot_see() -> None:
    assert rouge_l("", "") == 1.0
    assert rouge_l("日本語", "日本語") == 1.0
    assert rouge_l("日本語", "中文") == 0.0


def test_repetition_rate_of_degenerate_and_clean_text() -> None:
    assert repetition_rate("the the the the") == 0.5  # trigrams: 2, the second repeats the first
    assert repetition_rate("the the the the the the") == 0.75
    assert repetition_rate("a b c d e") == 0.0
    assert repetition_rate("a b") == 0.0  # fewer words than n
    assert repetition_rate("a b A", n=1) == pytest.approx(1 / 3)


def test_error_categories() -> None:
    assert error_categories("some reference words", "   ") == ["empty"]
    ten = " ".join(f"w{i}" for i in range(10))
    assert error_categories(ten, " ".join(f"v{i}" for i in range(21))) == ["too_verbose"]
    assert error_categories(ten, " ".join(f"v{i}" for i in range(20))) == []  # not over 2x
    assert error_categories("a b", " ".join(f"v{i}" for i in range(12))) == []  # not over ref + 10
    assert error_categories("one two three four", "one") == ["too_short"]
    assert error_categories("one two three", "one") == []  # reference under four words
    assert error_categories("go there now please", "go go go go go") == ["repetitive"]


def test_generation_metrics_hand_count() -> None:
    references = ["the cat sat", "hello world", "one two three four", "a b"]
    predictions = ["The  cat sat", "", "one", "go go go go go"]
    result = generation_metrics(references, predictions)
    m = result["metrics"]
    assert m["rouge_l"] == pytest.approx((1 + 0 + 2 * 1 / (4 + 1) + 0) / 4)
    assert m["exact_match"] == 0.25
    assert m["repetition"] == pytest.approx((2 / 3) / 4)
    assert m["length_ratio"] == pytest.approx((9 / 4) / (11 / 4))
    assert m["empty"] == 0.25
    assert m["n"] == 4
    assert result["error_categories"] == {"too_verbose": 0, "repetitive": 1, "empty": 1, "too_short": 1}
    assert rouge_l_mean(references, predictions) == pytest.approx(m["rouge_l"])


def test_empty_inputs_score_zero() -> None:
    assert rouge_l_mean([], []) == 0.0
    m = generation_metrics([], [])["metrics"]
    assert m["n"] == 0 and m["rouge_l"] == 0.0 and m["length_ratio"] == 0.0


def test_length_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="2 references but 1 predictions"):
        generation_metrics(["a", "b"], ["a"])
    with pytest.raises(ValueError, match="one prediction per reference"):
        rouge_l_mean(["a"], [])
