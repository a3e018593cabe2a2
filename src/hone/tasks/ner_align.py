"""From character spans to subword labels and back, for documents of any length.

A document is tokenised once, whole, with a fast tokenizer's offset mapping, then cut into
overlapping windows that fit the model. Labels are IOB2 per subword (specials -100). After
prediction, each subword takes its scores from the window where it had the most context on both
sides, so an entity that crosses a window border is predicted once; the merged labels decode back
to character spans of the original text.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hone.tasks.ner_schema import Span, iob2_chunks

IGNORE = -100  # the label of positions the loss skips (special tokens)
Offsets = list[tuple[int, int]]


@dataclass
class Window:
    """One model input cut from a document.

    `offsets` are character offsets in the original text, (0, 0) for special tokens; `token_index`
    is each position's index in the document's full subword sequence, -1 for specials.
    """

    input_ids: list[int]
    offsets: Offsets
    token_index: list[int]


def label_list(types: Iterable[str]) -> list[str]:
    """The IOB2 label space of some entity types: O, then B-/I- of each type in sorted order."""
    return ["O", *[f"{prefix}-{kind}" for kind in sorted(set(types)) for prefix in ("B", "I")]]


def tokenize_document(text: str, tokenizer: Any) -> tuple[list[int], Offsets]:
    """Subword ids and their character offsets for the whole text: no special tokens, no truncation."""
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(
            f"{type(tokenizer).__name__} is not a fast tokenizer, and ner needs character offsets "
            "(return_offsets_mapping); use a model that ships a tokenizer.json"
        )
    encoded = tokenizer(text, add_special_tokens=False, truncation=False, return_offsets_mapping=True, verbose=False)
    return list(encoded["input_ids"]), [(int(a), int(b)) for a, b in encoded["offset_mapping"]]


def special_tokens(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The ids the tokenizer puts before and after one sequence (e.g. [CLS] and [SEP])."""
    build = getattr(tokenizer, "build_inputs_with_special_tokens", None)
    if build is not None:
        marker = -1  # an id no tokenizer emits, to find where the sequence goes
        built = list(build([marker]))
        at = built.index(marker)
        return built[:at], built[at + 1 :]
    plain = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    full = list(tokenizer("a")["input_ids"])
    for at in range(len(full) - len(plain) + 1):
        if full[at : at + len(plain)] == plain:
            return full[:at], full[at + len(plain) :]
    ids = (tokenizer.cls_token_id, tokenizer.sep_token_id)
    return [ids[0]] if ids[0] is not None else [], [ids[1]] if ids[1] is not None else []


def make_windows(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], tokenizer: Any, max_length: int, stride: int
) -> list[Window]:
    """Windows of at most `max_length` positions (specials included); neighbours share `stride` tokens."""
    prefix, suffix = special_tokens(tokenizer)
    body = max_length - len(prefix) - len(suffix)
    if body <= stride or stride < 0:
        raise ValueError(
            f"max_length {max_length} leaves {body} tokens per window after {len(prefix) + len(suffix)} special "
            f"token(s), which must be more than the stride {stride}; raise data.max_length or lower the stride"
        )
    windows, start = [], 0
    while True:
        end = min(start + body, len(ids))
        windows.append(_window(ids, offsets, start, end, prefix, suffix))
        if end == len(ids):
            return windows
        start = end - stride


def _window(
    ids: Sequence[int], offsets: Sequence[tuple[int, int]], start: int, end: int, prefix: list[int], suffix: list[int]
) -> Window:
    pad_before, pad_after = [(0, 0)] * len(prefix), [(0, 0)] * len(suffix)
    return Window(
        input_ids=[*prefix, *ids[start:end], *suffix],
        offsets=[*pad_before, *offsets[start:end], *pad_after],
        token_index=[-1] * len(prefix) + list(range(start, end)) + [-1] * len(suffix),
    )


def _is_special(offset: tuple[int, int]) -> bool:
    return offset[0] == offset[1]


def token_labels(
    offsets: Sequence[tuple[int, int]], spans: Sequence[Span], label_to_id: Mapping[str, int]
) -> list[int]:
    """An IOB2 label id per subword: B- on a span's first subword, I- on the rest, O outside, -100 on specials.

    A subword that overlaps a span at all is inside it, so a span cut mid-subword still labels it.
    """
    labels = [IGNORE if _is_special(o) else label_to_id["O"] for o in offsets]
    content = [i for i, o in enumerate(offsets) if not _is_special(o)]
    ends = [offsets[i][1] for i in content]
    for span in sorted(spans, key=lambda s: s.start):
        k = bisect.bisect_right(ends, span.start)  # the first subword that ends after the span starts
        first = True
        while k < len(content) and offsets[content[k]][0] < span.end:
            labels[content[k]] = label_to_id[("B-" if first else "I-") + span.label]
            first, k = False, k + 1
    return labels


def window_labels(window: Window, doc_labels: Sequence[int]) -> list[int]:
    """A window's slice of the document's labels, so a window that starts mid-entity starts with I-."""
    return [doc_labels[i] if i >= 0 else IGNORE for i in window.token_index]


def misaligned_spans(text: str, spans: Sequence[Span], offsets: Sequence[tuple[int, int]]) -> list[Span]:
    """Spans (edges trimmed of whitespace) whose start or end falls inside a subword, or that cover none."""
    starts = {a for a, b in offsets if b > a}
    ends = {b for a, b in offsets if b > a}
    found = []
    for span in spans:
        surface = text[span.start : span.end]
        start = span.start + len(surface) - len(surface.lstrip())
        end = span.end - (len(surface) - len(surface.rstrip()))
        if start >= end or start not in starts or end not in ends:
            found.append(span)
    return found


def merge_windows(windows: Sequence[Window], window_scores: Sequence[np.ndarray], n_tokens: int) -> np.ndarray:
    """Scores (n_tokens, n_labels) for the whole document, each token from its most-central window.

    A token's distance to a window edge counts only edges that cut the document: the document's
    own start and end are not edges, since no window could give more context there.
    """
    if not windows or len(windows) != len(window_scores):
        raise ValueError(f"{len(windows)} windows but {len(window_scores)} score arrays; give one per window")
    merged = np.zeros((n_tokens, window_scores[0].shape[1]), dtype=window_scores[0].dtype)
    best = np.full(n_tokens, -1)
    for window, scores in zip(windows, window_scores, strict=True):
        if scores.shape[0] != len(window.token_index):
            raise ValueError(f"scores have {scores.shape[0]} rows for a window of {len(window.token_index)} positions")
        index = np.asarray(window.token_index)
        positions = np.flatnonzero(index >= 0)
        if positions.size == 0:
            continue
        tokens = index[positions]
        left = tokens - tokens[0] if tokens[0] > 0 else np.full(tokens.size, n_tokens)
        right = tokens[-1] - tokens if tokens[-1] < n_tokens - 1 else np.full(tokens.size, n_tokens)
        distance = np.minimum(left, right)
        better = distance > best[tokens]
        merged[tokens[better]] = scores[positions[better]]
        best[tokens[better]] = distance[better]
    if (best < 0).any():
        raise ValueError(f"token {int(np.argmax(best < 0))} is in no window; the windows do not cover the document")
    return merged


def decode_spans(
    token_label_ids: Sequence[int],
    offsets: Sequence[tuple[int, int]],
    id_to_label: Mapping[int, str] | Sequence[str],
    text: str,
) -> list[Span]:
    """Character spans from IOB2 label ids per subword, trimmed of surrounding whitespace.

    Lenient: an I-X that does not continue an X entity starts a new one. Specials (offset (0, 0)
    or a negative id) are skipped.
    """
    kept = [(int(i), o) for i, o in zip(token_label_ids, offsets, strict=True) if i >= 0 and not _is_special(o)]
    tags = [id_to_label[i] for i, _ in kept]
    spans = []
    for a, b, kind in iob2_chunks(tags):
        start, end = kept[a][1][0], kept[b][1][1]
        while start < end and text[start].isspace():
            start += 1
        while end > start and text[end - 1].isspace():
            end -= 1
        if start < end:
            spans.append(Span(start, end, kind))
    return spans


def snap_to_words(spans: Sequence[Span], words: Sequence[tuple[int, int]]) -> list[Span]:
    """Widen each span to the whole words it touches; spans that then overlap merge (same type) or
    the later one is dropped (another type)."""
    ends = [end for _, end in words]
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        start, end = span.start, span.end
        i = bisect.bisect_right(ends, start)
        if i < len(words) and words[i][0] < end:
            start = min(start, words[i][0])
        j = bisect.bisect_left(ends, end)  # the word holding the span's last character, if any
        if j < len(words) and words[j][0] < end:
            end = max(end, words[j][1])
        _add_snapped(out, Span(start, end, span.label))
    return out


def _add_snapped(out: list[Span], span: Span) -> None:
    if not out or span.start >= out[-1].end:
        out.append(span)
    elif span.label == out[-1].label:
        out[-1] = Span(out[-1].start, max(out[-1].end, span.end), span.label)
