"""Subword alignment and long documents, with the tiny in-process WordPiece tokenizer."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hone.tasks.ner_align import (
    IGNORE,
    Window,
    decode_spans,
    label_list,
    make_windows,
    merge_windows,
    misaligned_spans,
    snap_to_words,
    special_tokens,
    token_labels,
    tokenize_document,
    window_labels,
)
from hone.tasks.ner_schema import Span

LABELS = label_list(["PER", "LOC", "ORG"])
LABEL_TO_ID = {label: i for i, label in enumerate(LABELS)}


@pytest.fixture(scope="module")
def tokenizer(tiny_encoder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_encoder))


def test_label_list() -> None:
    assert label_list(["PER", "LOC", "PER"]) == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def test_tokenize_document_keeps_offsets_and_length(tokenizer: Any) -> None:
    text = "Refund  of $12 to Zurich, please! " * 30
    ids, offsets = tokenize_document(text, tokenizer)
    assert len(ids) == len(offsets) > 128  # longer than the model: nothing truncated
    assert tokenizer.cls_token_id not in ids and tokenizer.sep_token_id not in ids
    tokens = tokenizer.convert_ids_to_tokens(ids[:7])
    assert [text[a:b].lower() for a, b in offsets[:7]] == [t.removeprefix("##") for t in tokens]
    assert offsets[:4] == [(0, 6), (8, 10), (11, 12), (12, 13)]


def test_slow_tokenizer_is_refused() -> None:
    class Slow:
        is_fast = False

    with pytest.raises(ValueError, match="fast tokenizer"):
        tokenize_document("x", Slow())


def test_special_tokens(tokenizer: Any) -> None:
    assert special_tokens(tokenizer) == ([tokenizer.cls_token_id], [tokenizer.sep_token_id])


def test_short_document_is_one_window(tokenizer: Any) -> None:
    ids, offsets = tokenize_document("my order is late", tokenizer)
    (window,) = make_windows(ids, offsets, tokenizer, max_length=32, stride=8)
    assert window.input_ids == [tokenizer.cls_token_id, *ids, tokenizer.sep_token_id]
    assert window.offsets == [(0, 0), *offsets, (0, 0)]
    assert window.token_index == [-1, 0, 1, 2, 3, -1]


def test_empty_document(tokenizer: Any) -> None:
    ids, offsets = tokenize_document("", tokenizer)
    windows = make_windows(ids, offsets, tokenizer, max_length=32, stride=8)
    assert [w.token_index for w in windows] == [[-1, -1]]
    merged = merge_windows(windows, [np.zeros((2, len(LABELS)))], n_tokens=0)
    assert merged.shape == (0, len(LABELS))
    assert decode_spans(merged.argmax(1).tolist(), offsets, LABELS, "") == []


def test_windows_fit_overlap_and_cover(tokenizer: Any) -> None:
    ids = list(range(100, 200))
    offsets = [(2 * i, 2 * i + 1) for i in range(100)]
    windows = make_windows(ids, offsets, tokenizer, max_length=32, stride=8)
    assert all(len(w.input_ids) <= 32 for w in windows)
    assert all(w.input_ids[0] == tokenizer.cls_token_id and w.input_ids[-1] == tokenizer.sep_token_id for w in windows)
    content = [[i for i in w.token_index if i >= 0] for w in windows]
    assert content[0][0] == 0 and content[-1][-1] == 99
    for a, b in zip(content, content[1:], strict=False):
        assert len(set(a) & set(b)) == 8 and b[0] == a[-1] - 7
    for w in windows:
        assert [w.input_ids[p] for p, i in enumerate(w.token_index) if i >= 0] == [
            ids[i] for i in w.token_index if i >= 0
        ]
        assert [w.offsets[p] for p, i in enumerate(w.token_index) if i < 0] == [(0, 0), (0, 0)]


def test_stride_must_leave_room(tokenizer: Any) -> None:
    with pytest.raises(ValueError, match="stride 30"):
        make_windows([1] * 50, [(0, 1)] * 50, tokenizer, max_length=32, stride=30)


def test_token_labels(tokenizer: Any) -> None:
    text = "anna smith was in rome"
    ids, offsets = tokenize_document(text, tokenizer)
    (window,) = make_windows(ids, offsets, tokenizer, max_length=64, stride=8)
    labels = token_labels(window.offsets, [Span(0, 10, "PER"), Span(18, 22, "LOC")], LABEL_TO_ID)
    tags = [LABELS[i] if i != IGNORE else "-" for i in labels]
    pieces = tokenizer.convert_ids_to_tokens(window.input_ids)
    assert list(zip(pieces, tags, strict=True)) == [
        ("[CLS]", "-"),
        *[(p, "B-PER" if p == "a" else "I-PER") for p in ["a", "##n", "##n", "##a", "s", "##m", "##i", "##t", "##h"]],
        ("was", "O"),
        ("in", "O"),
        ("r", "B-LOC"),
        ("##o", "I-LOC"),
        ("##m", "I-LOC"),
        ("##e", "I-LOC"),
        ("[SEP]", "-"),
    ]


def test_window_labels_continue_an_entity() -> None:
    doc_labels = [0, 1, 2, 2, 2, 0]
    window = Window(
        input_ids=[9, 5, 5, 5, 9], offsets=[(0, 0), (3, 4), (4, 5), (5, 6), (0, 0)], token_index=[-1, 2, 3, 4, -1]
    )
    assert window_labels(window, doc_labels) == [IGNORE, 2, 2, 2, IGNORE]


def test_misaligned_spans(tokenizer: Any) -> None:
    text = "refund to zurich now"  # 'refund' is one subword; 'zurich' is z ##u ##r ##i ##c ##h
    _, offsets = tokenize_document(text, tokenizer)
    inside_word = Span(1, 6, "X")  # 'efund'
    only_space = Span(6, 7, "X")  # covers no subword at all
    aligned = [Span(0, 6, "X"), Span(10, 12, "LOC"), Span(13, 16, "LOC"), Span(9, 17, "LOC")]  # last: ' zurich '
    assert misaligned_spans(text, [inside_word, *aligned, only_space], offsets) == [inside_word, only_space]


def test_merge_takes_the_most_central_window() -> None:
    # 10 tokens, two windows: 0-6 and 3-9 (no specials). Scores say which window they came from.
    first = Window(list(range(7)), [(i, i + 1) for i in range(7)], list(range(7)))
    second = Window(list(range(7)), [(i, i + 1) for i in range(3, 10)], list(range(3, 10)))
    merged = merge_windows([first, second], [np.full((7, 2), 1.0), np.full((7, 2), 2.0)], n_tokens=10)
    # token 3: 3 from first's cut end, 0 from second's cut start; token 6: 0 vs 3.
    assert merged[:, 0].tolist() == [1, 1, 1, 1, 1, 2, 2, 2, 2, 2]


def test_merge_checks_shapes() -> None:
    window = Window([1, 2], [(0, 1), (1, 2)], [0, 1])
    with pytest.raises(ValueError, match="3 rows"):
        merge_windows([window], [np.zeros((3, 2))], n_tokens=2)
    with pytest.raises(ValueError, match="in no window"):
        merge_windows([window], [np.zeros((2, 2))], n_tokens=3)


def test_decode_spans() -> None:
    text = "ab cd ef gh ij"
    offsets = [(0, 0), (0, 2), (2, 3), (3, 5), (6, 8), (9, 11), (12, 14), (0, 0)]
    tags = ["O", "B-PER", "I-PER", "I-PER", "I-LOC", "B-LOC", "B-LOC", "O"]
    ids = [LABEL_TO_ID[t] for t in tags]
    ids[0] = ids[-1] = IGNORE
    assert decode_spans(ids, offsets, LABELS, text) == [
        Span(0, 5, "PER"),  # the whitespace token (2, 3) is inside, edges trimmed
        Span(6, 8, "LOC"),  # I-LOC after PER starts a new entity
        Span(9, 11, "LOC"),
        Span(12, 14, "LOC"),  # adjacent B- B- are two entities
    ]
    assert decode_spans([LABEL_TO_ID["B-PER"]], [(2, 3)], dict(enumerate(LABELS)), text) == []  # only whitespace


def test_snap_to_words() -> None:
    words = [(0, 5), (6, 11), (12, 17)]  # "alpha bravo charl"
    assert snap_to_words([Span(2, 8, "X")], words) == [Span(0, 11, "X")]
    assert snap_to_words([Span(6, 11, "X")], words) == [Span(6, 11, "X")]
    assert snap_to_words([Span(0, 2, "X"), Span(3, 5, "X")], words) == [Span(0, 5, "X")]  # same type: merged
    assert snap_to_words([Span(0, 2, "X"), Span(3, 5, "Y")], words) == [Span(0, 5, "X")]  # other type: dropped
    assert snap_to_words([Span(5, 6, "X")], words) == [Span(5, 6, "X")]  # touches no word: kept


# --- a long document ----------------------------------------------------------------------------

FILLER = "the order was late and my refund is not back please help with this invoice".split()
ENTITIES = [
    ("anna smith", "PER"),
    ("bob", "PER"),
    ("zurich", "LOC"),
    ("rio de janeiro", "LOC"),
    ("acme payment bank", "ORG"),
    ("kx", "ORG"),
]


def long_document(seed: int = 3) -> tuple[str, list[Span]]:
    rng = random.Random(seed)
    text, spans = "", []
    while len(text) < 700:
        text += " ".join(rng.choice(FILLER) for _ in range(rng.randint(1, 4))) + " "
        surface, label = rng.choice(ENTITIES)
        spans.append(Span(len(text), len(text) + len(surface), label))
        text += surface + rng.choice([" ", ", ", ". "])
    return text, spans


def one_hot(labels: list[int]) -> np.ndarray:
    scores = np.zeros((len(labels), len(LABELS)), dtype=np.float32)
    scores[np.arange(len(labels)), [LABEL_TO_ID["O"] if i == IGNORE else i for i in labels]] = 1.0
    return scores


def crossing(windows: list[Window], doc_labels: list[int]) -> int:
    """How many windows end inside an entity that goes on past them."""
    count = 0
    for w in windows[:-1]:
        last = max(w.token_index)
        inside_next = LABELS[doc_labels[last + 1]].startswith("I-")
        count += inside_next
    return count


def test_long_document_entities_across_window_borders(tokenizer: Any) -> None:
    text, gold = long_document()
    ids, offsets = tokenize_document(text, tokenizer)
    assert 250 <= len(ids) <= 400
    windows = make_windows(ids, offsets, tokenizer, max_length=32, stride=8)
    doc_labels = token_labels(offsets, gold, LABEL_TO_ID)
    assert crossing(windows, doc_labels) >= 3, "the test document must put entities across window borders"

    # Oracle scores per window, each window labelled on its own (an entity cut by the window's
    # start begins there with B-), and the positions near a cut edge garbled: merging must use
    # each token's most central window, so neither reaches the result.
    rng = np.random.default_rng(0)
    scores = []
    for w in windows:
        s = one_hot(token_labels(w.offsets, gold, LABEL_TO_ID))
        content = [p for p, i in enumerate(w.token_index) if i >= 0]
        edges = ([] if w.token_index[content[0]] == 0 else content[:3]) + (
            [] if w.token_index[content[-1]] == len(ids) - 1 else content[-3:]
        )
        s[edges] = rng.random((len(edges), len(LABELS)))
        scores.append(s)
    predicted = decode_spans(merge_windows(windows, scores, len(ids)).argmax(1).tolist(), offsets, LABELS, text)
    assert predicted == sorted(gold, key=lambda s: s.start)
    assert [text[s.start : s.end] for s in predicted] == [text[s.start : s.end] for s in gold]

    # Decoding each window on its own instead would cut and duplicate the border entities.
    naive = [
        span
        for w, s in zip(windows, scores, strict=True)
        for span in decode_spans(s.argmax(1), w.offsets, LABELS, text)
    ]
    assert len(naive) > len(gold)


def test_long_document_training_labels_round_trip(tokenizer: Any) -> None:
    text, gold = long_document(seed=11)
    ids, offsets = tokenize_document(text, tokenizer)
    windows = make_windows(ids, offsets, tokenizer, max_length=32, stride=8)
    doc_labels = token_labels(offsets, gold, LABEL_TO_ID)
    scores = [one_hot(window_labels(w, doc_labels)) for w in windows]
    merged = merge_windows(windows, scores, len(ids)).argmax(1).tolist()
    assert merged == doc_labels
    assert decode_spans(merged, offsets, LABELS, text) == gold
