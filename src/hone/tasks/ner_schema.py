"""The ner task's example contract: character spans over a text, from either form a row may take.

A row is `text` + `spans` ([{start, end, label}], end exclusive) or `tokens` + `tags` (IOB2, IOB1
or BIOES). Both become a NerExample: the text and its character spans; a tokens+tags row joins its
tokens with single spaces and keeps their offsets in `words`, so metrics use the annotator's words.
Also here: tag-scheme conversions, the CoNLL column reader, and the dataset-wide entity checks.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any, Literal

from hone.data import problems as P
from hone.data.problems import Problem, Severity
from hone.data.read import read_conll  # noqa: F401  - re-exported; CoNLL is read with the other formats

# Row-level categories of the ner contract (the generic ones live in hone.data.problems).
BAD_SPAN = "bad_span"
OVERLAPPING_SPANS = "overlapping_spans"
BROKEN_TAGS = "broken_tags"
SPAN_WHITESPACE = "span_whitespace"  # warning: a span starts or ends with whitespace
MISALIGNED_SPAN = "misaligned_span"  # warning (tokenizer-dependent): an edge falls inside a subword
# Dataset-level category: an entity type with too few examples to learn or to measure.
RARE_ENTITY_TYPE = "rare_entity_type"
NER_CATEGORIES = frozenset(
    {BAD_SPAN, OVERLAPPING_SPANS, BROKEN_TAGS, SPAN_WHITESPACE, MISALIGNED_SPAN, RARE_ENTITY_TYPE}
)

MIN_PER_TYPE = 5
Scheme = Literal["auto", "iob2", "iob1", "bioes"]
WordOffsets = Sequence[tuple[int, int]]

_TAG = re.compile(r"^(?:O|[BIES]-\S.*)$")
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class Span:
    """Characters `start` to `end` (exclusive) of a text are an entity of type `label`."""

    start: int
    end: int
    label: str


@dataclass(frozen=True)
class NerExample:
    """One text with its entities. `words` holds the token offsets when the row came as tokens+tags."""

    text: str
    spans: tuple[Span, ...]
    source: str
    line: int
    words: tuple[tuple[int, int], ...] | None = None

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity types present, for label counts and coverage checks."""
        return tuple(sorted({span.label for span in self.spans}))

    @property
    def stratify_key(self) -> str:
        """Split group: which entity types the text holds."""
        return "|".join(self.labels)

    @property
    def label_key(self) -> str:
        """Duplicate and conflict key: the exact entities of the text."""
        return "|".join(f"{s.start}:{s.end}:{s.label}" for s in sorted(self.spans, key=lambda s: (s.start, s.end)))


def word_offsets(text: str) -> list[tuple[int, int]]:
    """Character offsets of the words of `text`: runs of word characters, and each other non-space."""
    return [m.span() for m in _WORD.finditer(text)]


# --- parsing one row ----------------------------------------------------------------------------


@dataclass
class _Row:
    """Where a row is, and the problems found in it so far."""

    source: str
    line: int
    problems: list[Problem] = field(default_factory=list)

    def add(self, category: str, name: str, message: str) -> None:
        self.problems.append(Problem(category, message, self.source, self.line, name))


def parse_ner_example(
    record: Mapping[str, Any],
    *,
    text_field: str = "text",
    spans_field: str = "spans",
    tokens_field: str = "tokens",
    tags_field: str = "tags",
    scheme: Scheme = "auto",
    labels: list[str] | None = None,
    source: str,
    line: int,
) -> NerExample | list[Problem]:
    """Turn one row (text+spans or tokens+tags) into a NerExample, or return every problem in it.

    Span warnings (`span_whitespace`) do not stop a row; ask `span_warnings` for them.
    """
    row = _Row(source, line)
    if spans_field in record or (text_field in record and tokens_field not in record):
        example = _from_text(record, text_field, spans_field, row)
    elif tokens_field in record or tags_field in record:
        example = _from_tokens(record, tokens_field, tags_field, scheme, row)
    else:
        forms = f"{text_field!r}+{spans_field!r} or {tokens_field!r}+{tags_field!r}"
        row.add(P.MISSING_FIELD, text_field, f"no {forms} fields; give one form (or set the field names)")
        return row.problems
    unknown = sorted({span.label for span in example.spans} - set(labels)) if example and labels is not None else []
    if unknown:
        name = spans_field if spans_field in record else tags_field
        row.add(P.UNKNOWN_LABEL, name, f"entity type(s) {unknown} not in data.labels {labels}; fix the row or add them")
    return row.problems if row.problems or example is None else example


def _present(record: Mapping[str, Any], name: str, what: str, row: _Row) -> bool:
    if name not in record:
        row.add(P.MISSING_FIELD, name, f"no {name!r} field; each row needs {what} in {name!r} (or set the field name)")
    return name in record


def _string(record: Mapping[str, Any], name: str, what: str, row: _Row) -> str | None:
    if not _present(record, name, what, row):
        return None
    value = record[name]
    if not isinstance(value, str):
        row.add(P.WRONG_TYPE, name, f"{name!r} must be a string, got {_type(value)}")
        return None
    if not value.strip():
        row.add(P.EMPTY_FIELD, name, f"{name!r} is empty; give the text or remove the row")
        return None
    return value


def _list(record: Mapping[str, Any], name: str, what: str, row: _Row) -> list[Any] | None:
    if not _present(record, name, what, row):
        return None
    value = record[name]
    if not isinstance(value, list):
        row.add(P.WRONG_TYPE, name, f"{name!r} must be a list ({what}), got {_type(value)}")
        return None
    return value


def _type(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _from_text(record: Mapping[str, Any], text_field: str, spans_field: str, row: _Row) -> NerExample | None:
    text = _string(record, text_field, "the text", row)
    items = _list(record, spans_field, "the entities as [{start, end, label}], [] if none", row)
    if text is None or items is None:
        return None
    spans = [_span(item, i, len(text), spans_field, row) for i, item in enumerate(items)]
    if any(span is None for span in spans):
        return None
    valid = [span for span in spans if span is not None]
    _check_overlaps(valid, text, spans_field, row)
    return NerExample(text, tuple(valid), row.source, row.line)


def _span(item: Any, i: int, length: int, name: str, row: _Row) -> Span | None:
    where = f"{name}[{i}]"
    if not isinstance(item, Mapping):
        row.add(P.WRONG_TYPE, name, f"{where} must be an object {{start, end, label}}, got {_type(item)}")
        return None
    missing = [key for key in ("start", "end", "label") if key not in item]
    if missing:
        row.add(P.MISSING_FIELD, name, f"{where} has no {', '.join(missing)}; a span is {{start, end, label}}")
        return None
    start, end, label = item["start"], item["end"], item["label"]
    if not isinstance(label, str) or not label.strip():
        category = P.WRONG_TYPE if not isinstance(label, str) else P.EMPTY_FIELD
        row.add(category, name, f"{where}.label must be a non-empty string, got {label!r}")
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (start, end)):
        row.add(BAD_SPAN, name, f"{where} start/end must be integers, got start={start!r} end={end!r}")
        return None
    if not 0 <= start < end <= length:
        bounds = f"start={start} end={end} is not a span of the {length}-character text"
        row.add(BAD_SPAN, name, f"{where} {bounds} (need 0 <= start < end <= {length}; end is exclusive)")
        return None
    return Span(start, end, label.strip())


def _check_overlaps(spans: Sequence[Span], text: str, name: str, row: _Row) -> None:
    order = sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end))
    reach = order[0] if order else -1  # the span seen so far that ends last
    for b in order[1:]:
        first, second = spans[reach], spans[b]
        if second.start < first.end:
            both = f"{name}[{reach}] {_show(first, text)} overlaps {name}[{b}] {_show(second, text)}"
            row.add(OVERLAPPING_SPANS, name, f"{both}; entities must not overlap: keep one")
        reach = b if second.end > first.end else reach


def _show(span: Span, text: str) -> str:
    return f"({span.start}-{span.end} {span.label} {text[span.start : span.end]!r})"


def _from_tokens(
    record: Mapping[str, Any], tokens_field: str, tags_field: str, scheme: Scheme, row: _Row
) -> NerExample | None:
    tokens = _strings(record, tokens_field, "the tokens", row)
    tags = _strings(record, tags_field, "one tag per token", row)
    if tokens is None or tags is None:
        return None
    if len(tokens) != len(tags):
        row.add(BROKEN_TAGS, tags_field, f"{len(tokens)} tokens but {len(tags)} tags; give exactly one tag per token")
        return None
    resolved = detect_scheme(tags) if scheme == "auto" else scheme
    broken = tag_errors(tags, resolved)
    if broken:
        more = f"; and {len(broken) - 3} more" if len(broken) > 3 else ""
        hint = " (if the file is IOB1, where I- may start an entity, set the scheme to iob1)" * (scheme == "auto")
        row.add(BROKEN_TAGS, tags_field, f"tags break the {resolved} scheme: {'; '.join(broken[:3])}{more}{hint}")
        return None
    starts = accumulate((len(token) + 1 for token in tokens[:-1]), initial=0)  # tokens joined by one space
    words = tuple((start, start + len(token)) for start, token in zip(starts, tokens, strict=True))
    spans = iob2_to_spans(to_iob2(tags, resolved), words)
    return NerExample(" ".join(tokens), tuple(spans), row.source, row.line, words)


def _strings(record: Mapping[str, Any], name: str, what: str, row: _Row) -> list[str] | None:
    values = _list(record, name, what, row)
    if values is None:
        return None
    if not values:
        row.add(P.EMPTY_FIELD, name, f"{name!r} is empty; give {what} or remove the row")
        return None
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            blank = isinstance(value, str)
            got = repr(value) if blank else _type(value)
            row.add(
                P.EMPTY_FIELD if blank else P.WRONG_TYPE, name, f"{name}[{i}] must be a non-blank string, got {got}"
            )
            return None
    return values


def span_warnings(example: NerExample) -> list[Problem]:
    """Warnings about a usable example: spans whose edges are whitespace (`span_whitespace`)."""
    found = []
    for i, span in enumerate(example.spans):
        surface = example.text[span.start : span.end]
        if surface != surface.strip():
            message = f"span {i} {_show(span, example.text)} starts or ends with whitespace; trim start/end"
            found.append(Problem(SPAN_WHITESPACE, message, example.source, example.line, "spans", "warning"))
    return found


# --- tag schemes ------------------------------------------------------------------------------


def detect_scheme(tags: Sequence[str]) -> Literal["iob2", "bioes"]:
    """BIOES when any E-/S- tag is present, else IOB2 (IOB1 is never guessed: it must be declared)."""
    return "bioes" if any(tag[:2] in ("E-", "S-") for tag in tags) else "iob2"


def tag_errors(tags: Sequence[str], scheme: Literal["iob2", "iob1", "bioes"]) -> list[str]:
    """Every place `tags` break `scheme`, as 'tags[i] = tag: why' messages (empty when valid)."""
    found = []
    open_type: str | None = None  # the entity type the previous tag leaves open for an I- (or E-)
    for i, tag in enumerate(tags):
        if not _TAG.match(tag):
            found.append(f"tags[{i}] = {tag!r} is not O or B-/I-/E-/S- + type")
            open_type = None
            continue
        why = _transition_error(open_type, tag, scheme)
        if why:
            found.append(f"tags[{i}] = {tag!r}: {why}")
        open_type = None if tag == "O" or tag[0] in "ES" else tag[2:]
    if scheme == "bioes" and open_type is not None:
        found.append(f"tags[{len(tags) - 1}] = {tags[-1]!r}: the {open_type} entity is not closed with E-{open_type}")
    return found


def _transition_error(open_type: str | None, tag: str, scheme: str) -> str | None:
    prefix, kind = tag[0], tag[2:]
    if scheme != "bioes" and prefix in "ES":
        return f"E-/S- tags belong to BIOES, not {scheme}; set the scheme to bioes"
    if scheme == "iob2" and prefix == "I" and open_type != kind:
        return f"I-{kind} does not continue a {kind} entity; an entity starts with B-{kind}"
    if scheme == "bioes" and prefix in "IE" and open_type != kind:
        return f"{prefix}-{kind} does not continue a {kind} entity; an entity starts with B-{kind} (or is S-{kind})"
    if scheme == "bioes" and prefix in "OBS" and open_type is not None:
        return f"the {open_type} entity before it is not closed with E-{open_type}"
    return None


def to_iob2(tags: Sequence[str], scheme: Scheme) -> list[str]:
    """The same entities in IOB2: BIOES S-/E- become B-/I-; an IOB1 I- that starts an entity becomes B-."""
    scheme = detect_scheme(tags) if scheme == "auto" else scheme
    if scheme == "bioes":
        return [{"S": "B", "E": "I"}.get(tag[0], tag[0]) + tag[1:] if tag != "O" else "O" for tag in tags]
    if scheme == "iob2":
        return list(tags)
    out, previous = [], "O"
    for tag in tags:
        starts = tag[:2] == "I-" and previous[2:] != tag[2:]
        out.append("B" + tag[1:] if starts else tag)
        previous = tag
    return out


def iob2_chunks(tags: Sequence[str]) -> list[tuple[int, int, str]]:
    """(first, last, type) of each entity in IOB2 `tags`; an I-X that continues nothing starts one."""
    chunks: list[tuple[int, int, str]] = []
    for i, tag in enumerate(tags):
        kind = tag[2:]
        if tag[:2] == "I-" and chunks and chunks[-1][1] == i - 1 and chunks[-1][2] == kind:
            chunks[-1] = (chunks[-1][0], i, kind)
        elif tag[:2] in ("B-", "I-"):
            chunks.append((i, i, kind))
    return chunks


def iob2_to_spans(tags: Sequence[str], word_offsets: WordOffsets) -> list[Span]:
    """Character spans of the entities in IOB2 `tags`, one tag per word of `word_offsets`."""
    return [Span(word_offsets[a][0], word_offsets[b][1], kind) for a, b, kind in iob2_chunks(tags)]


def spans_to_iob2(spans: Sequence[Span], word_offsets: WordOffsets) -> list[str]:
    """IOB2 tags over words: every word a span touches is in it; a word already tagged keeps its tag."""
    tags = ["O"] * len(word_offsets)
    ends = [end for _, end in word_offsets]
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        first = True
        i = bisect.bisect_right(ends, span.start)  # the first word that ends after the span starts
        while i < len(word_offsets) and word_offsets[i][0] < span.end:
            if tags[i] == "O":
                tags[i] = ("B-" if first else "I-") + span.label
                first = False
            i += 1
    return tags


# --- CoNLL files ------------------------------------------------------------------------------


# --- dataset-wide checks ----------------------------------------------------------------------


def entity_counts(examples: Sequence[NerExample]) -> dict[str, int]:
    """Entities per type (a sentence with two places counts two)."""
    return dict(sorted(Counter(span.label for ex in examples for span in ex.spans).items()))


def ner_dataset_problems(examples: Sequence[NerExample], imbalance_ratio: float, split: str = "train") -> list[Problem]:
    """Entity findings over one split: no entities at all (an error in train), rare types, imbalance."""
    counts = Counter(span.label for ex in examples for span in ex.spans)
    if not counts:
        severity: Severity = "error" if split == "train" else "warning"
        what = "a model cannot learn" if split == "train" else "the metrics cannot measure"
        message = f"no entities in the {split} split ({len(examples)} rows); {what} entities from it: check the tags"
        return [Problem(P.TOO_FEW, message, severity=severity)]
    found = []
    for label, n in sorted(counts.items()):
        if n < MIN_PER_TYPE:
            message = f"entity type {label!r} has only {n} entities in the {split} split (< {MIN_PER_TYPE})"
            message += "; annotate more or expect unreliable results on it"
            found.append(Problem(RARE_ENTITY_TYPE, message, severity="warning"))
    (top, n_top), (low, n_low) = counts.most_common()[0], counts.most_common()[-1]
    if len(counts) >= 2 and n_top >= imbalance_ratio * n_low:
        message = (
            f"entity type {top!r} has {n_top} entities in the {split} split, {low!r} only {n_low} "
            f"({n_top / n_low:.1f}x); annotate more {low!r} or expect weak recall on it"
        )
        found.append(Problem(P.IMBALANCE, message, severity="warning"))
    return found
