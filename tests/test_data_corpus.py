"""A generated corpus of malformed rows: each defect at its exact line and category, nothing on the clean rows.

Each corpus (classify JSONL, classify CSV/TSV, ner, instruct JSONL and CSV, extract) is written to tmp_path
from a fixed seed: clean rows in the shapes real files have (BOM, CRLF endings, U+2028, emoji, quoted
multi-line CSV fields, blank lines, no final newline) shuffled with defect rows. Each defect row knows the
category `hone check` must report at its first physical line (1-based, counting \\n), so the test compares
the whole report with the corpus: every (file, line, category) expected and nothing else, and every clean
row usable. The streaming tests at the end measure the peak memory of the row pass on large files.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from hone.config.schema import ClassifyConfig, ExtractConfig, InstructConfig, NerConfig, RunConfig
from hone.data import check as data_check
from hone.data import problems as P
from hone.data.check import CheckResult
from hone.data.problems import Problem
from hone.data.read import read_rows
from hone.tasks import ner_schema as N
from hone.tasks import spec_for
from hone.tasks.extract import to_type
from scorecard import record

SEED = 20240610
BOM = b"\xef\xbb\xbf"
CLEAN = "clean"
LABELS = ["billing", "shipping", "account"]
TOPICS = {
    "billing": "invoice charge card payment money refund".split(),
    "shipping": "order delivery package late where address".split(),
    "account": "password login account email reset app".split(),
}
FILLER = "the my is not please help i was".split()
# Categories of a task's row contract: the problem must name the field it is about.
FIELD_CATEGORIES = {P.MISSING_FIELD, P.EMPTY_FIELD, P.WRONG_TYPE, P.UNKNOWN_LABEL, P.ROLE_ORDER} | set(N.NER_CATEGORIES)


def check_data(config: Any, tokenizer: Any = None) -> CheckResult:
    """The data check with the config's own task spec (the data layer takes the spec from its caller)."""
    return data_check.check_data(config, tokenizer, spec=spec_for(config.task))


# --- rows, files, corpora ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """The bytes of one row (it may span lines) and what the check must say about it.

    `category` must be reported at the row's first line, and nothing else there (None: nothing at all);
    `usable` rows must become examples (clean rows and defects that only warn). `kind` names the defect.
    """

    data: bytes
    kind: str = CLEAN
    category: str | None = None
    usable: bool = True


def clean(data: bytes) -> Row:
    return Row(data)


def bad(kind: str, category: str, data: bytes) -> Row:
    return Row(data, kind, category, usable=False)


def warn(kind: str, category: str, data: bytes) -> Row:
    return Row(data, kind, category, usable=True)


def not_a_row(data: bytes) -> Row:
    """Lines that hold no data row (blank lines, a CSV header): no problem and no example."""
    return Row(data, usable=False)


def over_long(kind: str, obj: dict[str, Any]) -> list[Row]:
    """A usable row longer than data.max_length: the truncation warning names its line."""
    return [warn(kind, P.TRUNCATED, dumps(obj) + b"\n")]


@dataclass(frozen=True)
class Written:
    """A written corpus file and the first line of each of its rows."""

    path: Path
    rows: tuple[tuple[int, Row], ...]

    def where(self, line: int) -> tuple[str, int]:
        return str(self.path), line


def write(path: Path, rows: Sequence[Row]) -> Written:
    """Write the rows in order; a row starts at 1 + the newlines before it."""
    placed, line = [], 1
    for row in rows:
        placed.append((line, row))
        line += row.data.count(b"\n")
    path.write_bytes(b"".join(row.data for row in rows))
    return Written(path, tuple(placed))


def mix(rng: random.Random, clean_rows: Sequence[Row], chunks: Sequence[Sequence[Row]]) -> list[Row]:
    """Clean rows and defect chunks in a seeded order; a chunk's rows stay together and in order."""
    items: list[Sequence[Row]] = [[row] for row in clean_rows] + list(chunks)
    rng.shuffle(items)
    return [row for item in items for row in item]


@dataclass(frozen=True)
class Corpus:
    """A run config over written files, and which tiny tokenizer the check measures lengths with."""

    config: RunConfig
    files: tuple[Written, ...]
    tokenizer: str  # "encoder" (WordPiece BERT) or "causal" (byte-level BPE with a ChatML template)

    def rows(self) -> list[tuple[tuple[str, int], Row]]:
        return [(f.where(line), row) for f in self.files for line, row in f.rows]

    def defects(self) -> list[Row]:
        return [row for _, row in self.rows() if row.category]


class Gen:
    """Seeded texts; each ends in a new `ref N`, so no two share a normal form (no false duplicates)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def text(self, label: str | None = None, words: int = 6) -> str:
        self.n += 1
        pool = TOPICS[label] if label else [w for ws in TOPICS.values() for w in ws]
        return " ".join(self.rng.choice(pool + FILLER) for _ in range(words)) + f" ref {self.n}"

    def label(self) -> str:
        return LABELS[self.n % len(LABELS)]

    def long_text(self, words: int) -> str:
        self.n += 1
        return " ".join(self.rng.choice(TOPICS["billing"]) for _ in range(words)) + f" ref {self.n}"

    def ending(self) -> bytes:
        """Mostly \\n, sometimes \\r\\n: CRLF endings must not move any line."""
        return b"\r\n" if self.rng.random() < 0.25 else b"\n"


def dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def jsonl_clean(gen: Gen, obj: dict[str, Any]) -> Row:
    """A valid row in one of the shapes real files have: extra fields, unicode, odd spacing, an escaped pair."""
    shape = gen.rng.randrange(5)
    if shape == 1:
        obj = {**obj, "meta": {"source": "crm", "score": 0.5, "tags": ["a", None, True]}}
    if shape == 2:
        obj = {**obj, "note": "emoji \U0001f600, line sep \u2028, caf\u00e9, nbsp\u00a0"}
    data = json.dumps(obj, separators=(" , ", " : ")) if shape == 3 else dumps(obj).decode()
    if shape == 4:
        data = data[:-1] + ', "pair": "\\ud83d\\ude00"}'  # an escaped surrogate *pair* is one valid character
    return clean(data.encode() + gen.ending())


def blank_lines(gen: Gen, n: int) -> list[list[Row]]:
    return [[not_a_row(gen.rng.choice([b"\n", b"   \r\n", b"\t\n"]))] for _ in range(n)]


# --- defects the JSONL reader catches, whatever the task -----------------------------------------------------

Corrupt = Callable[[bytes], bytes]  # one valid JSON object (no newline) -> the defect's bytes (no newline)


def _note(raw: bytes) -> Corrupt:
    """Raw bytes inside the string value of an extra field (every task ignores extra fields)."""
    return lambda s: s[:-1] + b', "note": "x' + raw + b'y"}'


def _extra(raw: bytes) -> Corrupt:
    return lambda s: s[:-1] + b", " + raw + b"}"


JSONL_READER_DEFECTS: list[tuple[str, str, Corrupt]] = [
    ("truncated object", P.INVALID_JSON, lambda s: s[:-1]),
    ("single quotes", P.INVALID_JSON, lambda s: s.replace(b'"', b"'")),
    ("trailing comma", P.INVALID_JSON, lambda s: s[:-1] + b", }"),
    ("raw tab in a string", P.INVALID_JSON, _note(b"\t")),
    ("bare CR in a string", P.INVALID_JSON, _note(b"\r")),
    ("two objects on one line", P.INVALID_JSON, lambda s: s + b" " + s),
    ("rows joined by a bare CR", P.INVALID_JSON, lambda s: s + b"\r" + s),
    ("text after the object", P.INVALID_JSON, lambda s: s + b" // checked"),
    ("deep nesting", P.INVALID_JSON, lambda s: b"[" * 100_000),
    ("integer of 5000 digits", P.INVALID_JSON, _extra(b'"id": 1' + b"0" * 5000)),
    ("huge line cut short", P.INVALID_JSON, lambda s: s[:-1] + b', "blob": "' + b"x" * 3_000_000 + b'"'),
    ("array row", P.NON_OBJECT, lambda s: b"[" + s + b"]"),
    ("number row", P.NON_OBJECT, lambda s: b"42"),
    ("string row", P.NON_OBJECT, lambda s: dumps(s.decode())),
    ("null row", P.NON_OBJECT, lambda s: b"null"),
    ("NaN", P.NON_STANDARD_JSON, _extra(b'"score": NaN')),
    ("-Infinity", P.NON_STANDARD_JSON, _extra(b'"score": -Infinity')),
    ("float overflow 1e999", P.NON_STANDARD_JSON, _extra(b'"score": 1e999')),
    ("duplicate key", P.NON_STANDARD_JSON, lambda s: b'{"note": 1, ' + s[1:-1] + b', "note": 2}'),
    ("nested duplicate key", P.NON_STANDARD_JSON, _extra(b'"meta": {"a": 1, "a": 2}')),
    ("latin-1 byte", P.ENCODING, _note(b"caf\xe9")),
    ("truncated UTF-8 sequence", P.ENCODING, _note(b"\xe2\x82")),
    ("overlong UTF-8 encoding", P.ENCODING, _note(b"\xc0\xaf")),
    ("UTF-8 encoded surrogate", P.ENCODING, _note(b"\xed\xa0\x80")),
    ("lone surrogate escape", P.ENCODING, _note(b"\\udc00")),
    ("lone surrogate in a key", P.ENCODING, _extra(b'"k\\ud800": 1')),
    ("NUL byte", P.ENCODING, _note(b"\x00")),
    ("BOM in the middle of the file", P.ENCODING, lambda s: BOM + s),
]


def jsonl_reader_defects(gen: Gen, valid: Callable[[], bytes], per_kind: int, task: str) -> list[list[Row]]:
    """`per_kind` corruptions of fresh valid rows for every JSONL reader defect."""
    return [
        [bad(f"{task} jsonl: {kind}", category, corrupt(valid()) + gen.ending())]
        for kind, category, corrupt in JSONL_READER_DEFECTS
        for _ in range(per_kind)
    ]


def row_defects(
    gen: Gen, valid: Callable[[], Any], table: Sequence[tuple[str, str, Callable[[Any], Any]]], per_kind: int, task: str
) -> list[list[Row]]:
    """`per_kind` rows per entry of a task's defect table: (kind, category, valid row -> defective row)."""
    return [
        [bad(f"{task} jsonl: {kind}", category, dumps(make(valid())) + gen.ending())]
        for kind, category, make in table
        for _ in range(per_kind)
    ]


# --- classify, JSONL ---------------------------------------------------------------------------------------------


def _classify_config(train: Path, **data: Any) -> ClassifyConfig:
    settings = {"train": train, "labels": LABELS, "max_length": 32, "on_error": "skip", **data}
    return ClassifyConfig.model_validate({"data": settings})


def _labelled(gen: Gen) -> dict[str, Any]:
    label = gen.label()
    return {"text": gen.text(label), "label": label}


CLASSIFY_DEFECTS: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    ("no text field", P.MISSING_FIELD, lambda r: {"label": r["label"]}),
    ("no label field", P.MISSING_FIELD, lambda r: {"text": r["text"]}),
    ("empty object", P.MISSING_FIELD, lambda r: {}),
    ("text in another field", P.MISSING_FIELD, lambda r: {"body": r["text"], "label": r["label"]}),
    ("empty text", P.EMPTY_FIELD, lambda r: {**r, "text": ""}),
    ("whitespace text", P.EMPTY_FIELD, lambda r: {**r, "text": " \t\n\u3000"}),
    ("blank label", P.EMPTY_FIELD, lambda r: {**r, "label": "  "}),
    ("text is a number", P.WRONG_TYPE, lambda r: {**r, "text": 123}),
    ("text is a list", P.WRONG_TYPE, lambda r: {**r, "text": r["text"].split()}),
    ("label is null", P.WRONG_TYPE, lambda r: {**r, "label": None}),
    ("label is a list", P.WRONG_TYPE, lambda r: {**r, "label": [r["label"]]}),
    ("label is true", P.WRONG_TYPE, lambda r: {**r, "label": True}),
    ("label is an object", P.WRONG_TYPE, lambda r: {**r, "label": {"name": r["label"]}}),
    ("unknown label", P.UNKNOWN_LABEL, lambda r: {**r, "label": "refunds"}),
    ("label in the wrong case", P.UNKNOWN_LABEL, lambda r: {**r, "label": r["label"].upper()}),
    ("label as an index", P.UNKNOWN_LABEL, lambda r: {**r, "label": 2}),
]


def dataset_warnings(gen: Gen, n: int, task: str, encode: Callable[[dict[str, Any]], bytes]) -> list[list[Row]]:
    """Usable rows the dataset checks point at: a later exact or near copy, one text with two labels."""
    chunks: list[list[Row]] = []
    for _ in range(n):
        first = _labelled(gen)
        chunks.append([clean(encode(first)), warn(f"{task}: exact duplicate", P.DUPLICATE, encode(first))])
        second = _labelled(gen)
        near = {**second, "text": "  " + second["text"].upper().replace(" ", "  ") + "!!"}
        chunks.append([clean(encode(second)), warn(f"{task}: near-duplicate", P.NEAR_DUPLICATE, encode(near))])
        third = _labelled(gen)
        other = {**third, "label": LABELS[(LABELS.index(third["label"]) + 1) % len(LABELS)]}
        kind = f"{task}: one text, two labels"  # both rows are flagged: neither can be trusted
        chunks.append(
            [warn(kind, P.CONFLICTING_LABELS, encode(third)), warn(kind, P.CONFLICTING_LABELS, encode(other))]
        )
    return chunks


def classify_jsonl(tmp: Path) -> Corpus:
    """Train and test JSONL files: reader and row defects, dataset warnings, over-long texts, leakage."""
    gen = Gen(SEED)
    objects = [_labelled(gen) for _ in range(150)]
    long_rows = [
        over_long("classify jsonl: over-long text", {"text": gen.long_text(60), "label": "billing"}) for _ in "abc"
    ]
    long_rows.append(over_long("classify jsonl: huge valid line", {"text": gen.long_text(200_000), "label": "account"}))
    chunks = (
        jsonl_reader_defects(gen, lambda: dumps(_labelled(gen)), 2, "classify")
        + row_defects(gen, lambda: _labelled(gen), CLASSIFY_DEFECTS, 2, "classify")
        + dataset_warnings(gen, 2, "classify jsonl", lambda r: dumps(r) + gen.ending())
        + long_rows
        + blank_lines(gen, 6)
    )
    head = [clean(BOM + dumps(_labelled(gen)) + b"\r\n")]
    tail = [clean(dumps(_labelled(gen)))]  # no newline after the last row
    train = write(tmp / "train.jsonl", head + mix(gen.rng, [jsonl_clean(gen, o) for o in objects], chunks) + tail)
    leaks = [[warn("classify jsonl: test row also in train", P.LEAKAGE, dumps(o) + b"\n")] for o in objects[:3]]
    test_chunks = leaks + jsonl_reader_defects(gen, lambda: dumps(_labelled(gen)), 1, "classify")[::4]
    test_chunks.append(over_long("classify jsonl: over-long text", {"text": gen.long_text(50), "label": "shipping"}))
    test = write(tmp / "test.jsonl", mix(gen.rng, [jsonl_clean(gen, _labelled(gen)) for _ in range(30)], test_chunks))
    return Corpus(_classify_config(train.path, test=test.path), (train, test), "encoder")


# --- classify, CSV and TSV ---------------------------------------------------------------------------------------

CsvMake = Callable[[str, str, str], bytes]  # text, label, delimiter -> the row's bytes (no final newline)


def _b(text: str) -> bytes:
    return text.encode()


CSV_DEFECTS: list[tuple[str, str, CsvMake]] = [
    ("too many fields", P.CSV_ERROR, lambda t, lb, d: _b(f"{t}{d}{lb}{d}extra")),
    ("too few fields", P.CSV_ERROR, lambda t, lb, d: _b(t)),
    ("unquoted delimiter in the text", P.CSV_ERROR, lambda t, lb, d: _b(t.replace(" ", d, 1) + d + lb)),
    ("text after a closing quote", P.CSV_ERROR, lambda t, lb, d: _b(f'"{t}"x{d}{lb}')),
    ("space after a closing quote", P.CSV_ERROR, lambda t, lb, d: _b(f'"{t}" {d}{lb}')),
    ("multi-line row with an extra field", P.CSV_ERROR, lambda t, lb, d: _b(f'"{t}\nmore"{d}{lb}{d}x')),
    ("bare CR in an unquoted field", P.CSV_ERROR, lambda t, lb, d: _b(t.replace(" ", "\r", 1) + d + lb)),
    ("header repeated", P.CSV_ERROR, lambda t, lb, d: _b(f"text{d}label")),
    ("BOM and header repeated", P.ENCODING, lambda t, lb, d: BOM + _b(f"text{d}label")),
    ("latin-1 byte", P.ENCODING, lambda t, lb, d: _b(t) + b" caf\xe9" + _b(d + lb)),
    ("bad byte inside a multi-line field", P.ENCODING, lambda t, lb, d: _b(f'"{t}\nsecond') + b' \xff"' + _b(d + lb)),
    ("bad byte in the label", P.ENCODING, lambda t, lb, d: _b(t + d + lb) + b"\x80"),
    ("UTF-8 encoded surrogate", P.ENCODING, lambda t, lb, d: _b(t) + b"\xed\xb0\x80" + _b(d + lb)),
    ("NUL byte", P.ENCODING, lambda t, lb, d: _b(t) + b"\x00" + _b(d + lb)),
    ("empty text", P.EMPTY_FIELD, lambda t, lb, d: _b(d + lb)),
    ("blank text", P.EMPTY_FIELD, lambda t, lb, d: _b(f"   {d}{lb}")),
    ("quoted empty text", P.EMPTY_FIELD, lambda t, lb, d: _b(f'""{d}{lb}')),
    ("empty label", P.EMPTY_FIELD, lambda t, lb, d: _b(t + d)),
    ("only a delimiter", P.EMPTY_FIELD, lambda t, lb, d: _b(d)),
    ("unknown label", P.UNKNOWN_LABEL, lambda t, lb, d: _b(f"{t}{d}refunds")),
    ("label in the wrong case", P.UNKNOWN_LABEL, lambda t, lb, d: _b(f"{t}{d}{lb.title()}")),
    ("columns swapped", P.UNKNOWN_LABEL, lambda t, lb, d: _b(f"{lb}{d}{t}")),
]


def _csv_line(fields: Sequence[str], delimiter: str, ending: bytes) -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\n").writerow(fields)
    return out.getvalue()[:-1].encode() + ending


def csv_clean(gen: Gen, delimiter: str) -> Row:
    """A valid row: plain, quoted with the delimiter or doubled quotes inside, multi-line, padded label."""
    label = gen.label()
    text = gen.text(label)
    shape = gen.rng.randrange(6)
    if shape == 1:
        text = text.replace(" ", f"{delimiter} ", 1)  # quoted by the writer
    if shape == 2:
        text = text.replace(" ", ' "quoted" ', 1)
    if shape == 3:
        text = text.replace(" ", "\r\n" if gen.rng.random() < 0.5 else "\n", 1)
    if shape == 4:
        return clean(_b(f'{text} he said "hi"{delimiter}  {label}  ') + gen.ending())  # mid-field quotes, spaces
    return clean(_csv_line([text, label], delimiter, gen.ending()))


def csv_defects(gen: Gen, delimiter: str, per_kind: int, task: str) -> list[list[Row]]:
    chunks = []
    for kind, category, make in CSV_DEFECTS:
        for _ in range(per_kind):
            label = gen.label()
            chunks.append([bad(f"{task}: {kind}", category, make(gen.text(label), label, delimiter) + gen.ending())])
    return chunks


def _unterminated(gen: Gen, delimiter: str, task: str) -> Row:
    """An opening quote never closed: it swallows the rest of the file, so it is the last row."""
    swallowed = "".join(f"{gen.text()}{delimiter}billing\n" for _ in range(3))
    return bad(f"{task}: unterminated quote", P.CSV_ERROR, _b(f'"{gen.text()}{delimiter}billing\n{swallowed}'))


def _csv_file(gen: Gen, path: Path, header: bytes, chunks: list[list[Row]], n_clean: int) -> Written:
    delimiter = "\t" if path.suffix == ".tsv" else ","
    task = f"classify {path.suffix[1:]}"
    chunks = chunks + csv_defects(gen, delimiter, 1, task) + blank_lines(gen, 3)
    chunks.append(
        [warn(f"{task}: over-long text", P.TRUNCATED, _csv_line([gen.long_text(60), "billing"], delimiter, b"\n"))]
    )
    rows = mix(gen.rng, [csv_clean(gen, delimiter) for _ in range(n_clean)], chunks)
    return write(path, [not_a_row(header)] + rows + [_unterminated(gen, delimiter, task)])


def classify_csv(tmp: Path) -> Corpus:
    """train.csv (BOM, CRLF header), test.csv (leakage) and dev.tsv, each ending in an unterminated quote."""
    gen = Gen(SEED + 1)
    leaked = _labelled(gen)
    encode = lambda r: _csv_line([r["text"], r["label"]], ",", gen.ending())  # noqa: E731
    train_chunks = csv_defects(gen, ",", 1, "classify csv") + dataset_warnings(gen, 2, "classify csv", encode)
    train_chunks += [[clean(encode(leaked))]]
    huge = _b('"' + gen.long_text(150_000) + '",account\n')
    train_chunks.append([warn("classify csv: huge quoted field", P.TRUNCATED, huge)])
    train = _csv_file(gen, tmp / "train.csv", BOM + b"text,label\r\n", train_chunks, 90)
    leak = [[warn("classify csv: test row also in train", P.LEAKAGE, encode(leaked))]]
    test = _csv_file(gen, tmp / "test.csv", b" text , label \n", leak, 40)
    comma_row = [[bad("classify tsv: comma-separated row", P.CSV_ERROR, _b(f"{gen.text()},billing\n"))]]
    dev = _csv_file(gen, tmp / "dev.tsv", b"text\tlabel\n", comma_row, 40)
    return Corpus(_classify_config(train.path, test=test.path, dev=dev.path), (train, test, dev), "encoder")


# --- ner ---------------------------------------------------------------------------------------------------------

PEOPLE = ["Ann Lee", "Bo Chen", "Cy Diaz", "Di Park", "Ed Moss", "Flo Ruiz"]
PLACES = ["Oslo", "Lima", "Quito", "Perth", "Turin", "Dakar"]
ORGS = ["Acme", "Globex", "Initech", "Hooli", "Vandelay", "Soylent"]
ENTITY_TYPES = ["PER", "ORG", "LOC"]


def _entity_words(gen: Gen) -> list[tuple[str, str | None]]:
    """(word, type or None) of one sentence: a person, an organisation and a place, with plain words between."""
    rng = gen.rng
    gen.n += 1
    parts: list[tuple[str, str | None]] = [(w, "PER") for w in rng.choice(PEOPLE).split()]
    parts += [("met", None), (rng.choice(ORGS), "ORG"), ("staff", None), ("in", None), (rng.choice(PLACES), "LOC")]
    return parts + [("ref", None), (str(gen.n), None)]


def ner_spans_row(gen: Gen) -> dict[str, Any]:
    """text + spans, the spans in a shuffled order (valid: order does not matter)."""
    text, spans = "", []
    for word, kind in _entity_words(gen):
        text += (" " if text else "") + word
        start = len(text) - len(word)
        if kind and spans and spans[-1]["label"] == kind and spans[-1]["end"] == start - 1:
            spans[-1]["end"] = len(text)  # the next word of the same entity
        elif kind:
            spans.append({"start": start, "end": len(text), "label": kind})
    gen.rng.shuffle(spans)
    return {"text": text, "spans": spans}


def ner_tokens_row(gen: Gen, bioes: bool = False) -> dict[str, Any]:
    """tokens + IOB2 tags (or BIOES)."""
    words = _entity_words(gen)
    tags = [
        "O" if kind is None else ("I-" if i and words[i - 1][1] == kind else "B-") + kind
        for i, (_, kind) in enumerate(words)
    ]
    return {"tokens": [w for w, _ in words], "tags": to_bioes(tags) if bioes else tags}


def to_bioes(tags: Sequence[str]) -> list[str]:
    """IOB2 tags as BIOES: an entity's last tag becomes E- (S- when it is also its first)."""
    out = []
    for i, tag in enumerate(tags):
        last = i + 1 == len(tags) or tags[i + 1] != "I-" + tag[2:]
        out.append(tag if tag == "O" or not last else ("S-" if tag[0] == "B" else "E-") + tag[2:])
    return out


def _overlap(row: dict[str, Any]) -> dict[str, Any]:
    """A second span of another type over the first span's characters, one shorter."""
    first = row["spans"][0]
    other = {**first, "end": first["end"] - 1, "label": "ORG" if first["label"] != "ORG" else "PER"}
    return {**row, "spans": row["spans"] + [other]}


def _open_bioes(row: dict[str, Any]) -> dict[str, Any]:
    """BIOES tags whose person entity never closes (its E- written as I-)."""
    return {**row, "tags": [t.replace("E-PER", "I-PER") for t in to_bioes(row["tags"])]}


def _with_span(row: dict[str, Any], **change: Any) -> dict[str, Any]:
    spans = [dict(s) for s in row["spans"]]
    spans[0] = {**spans[0], **change}
    return {**row, "spans": spans}


def _tags(row: dict[str, Any], i: int, tag: str | None) -> dict[str, Any]:
    return {**row, "tags": row["tags"][:i] + [tag] + row["tags"][i + 1 :]}


NER_SPAN_DEFECTS: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    ("span end past the text", N.BAD_SPAN, lambda r: _with_span(r, end=len(r["text"]) + 5)),
    ("negative start", N.BAD_SPAN, lambda r: _with_span(r, start=-1)),
    ("empty span", N.BAD_SPAN, lambda r: _with_span(r, end=r["spans"][0]["start"])),
    ("start after end", N.BAD_SPAN, lambda r: _with_span(r, start=r["spans"][0]["end"], end=r["spans"][0]["start"])),
    ("float offsets", N.BAD_SPAN, lambda r: _with_span(r, end=float(r["spans"][0]["end"]))),
    ("string offsets", N.BAD_SPAN, lambda r: _with_span(r, start=str(r["spans"][0]["start"]))),
    ("boolean offset", N.BAD_SPAN, lambda r: _with_span(r, start=False, end=True)),
    ("overlapping spans", N.OVERLAPPING_SPANS, _overlap),
    ("the same span twice", N.OVERLAPPING_SPANS, lambda r: {**r, "spans": r["spans"] + r["spans"][:1]}),
    ("unknown entity type", P.UNKNOWN_LABEL, lambda r: _with_span(r, label="MISC")),
    ("spans not a list", P.WRONG_TYPE, lambda r: {**r, "spans": r["spans"][0]}),
    ("spans null", P.WRONG_TYPE, lambda r: {**r, "spans": None}),
    ("span as a list", P.WRONG_TYPE, lambda r: {**r, "spans": [list(r["spans"][0].values())]}),
    ("span label not a string", P.WRONG_TYPE, lambda r: _with_span(r, label=3)),
    ("span without an end", P.MISSING_FIELD, lambda r: {**r, "spans": [{"start": 0, "label": "PER"}]}),
    ("blank span label", P.EMPTY_FIELD, lambda r: _with_span(r, label=" ")),
    ("text not a string", P.WRONG_TYPE, lambda r: {**r, "text": [r["text"]]}),
    ("empty text", P.EMPTY_FIELD, lambda r: {"text": "", "spans": []}),
    ("neither form", P.MISSING_FIELD, lambda r: {"sentence": r["text"], "entities": r["spans"]}),
]
NER_TAG_DEFECTS: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    ("I- after O (broken BIO)", N.BROKEN_TAGS, lambda r: _tags(r, r["tags"].index("B-ORG"), "I-ORG")),
    ("I- of another type", N.BROKEN_TAGS, lambda r: _tags(r, 1, "I-LOC")),
    ("more tags than tokens", N.BROKEN_TAGS, lambda r: {**r, "tags": r["tags"] + ["O"]}),
    ("fewer tags than tokens", N.BROKEN_TAGS, lambda r: {**r, "tags": r["tags"][:-1]}),
    ("lowercase tags", N.BROKEN_TAGS, lambda r: {**r, "tags": [t.lower() for t in r["tags"]]}),
    ("tag without a type", N.BROKEN_TAGS, lambda r: _tags(r, 0, "B")),
    ("BIOES entity left open", N.BROKEN_TAGS, _open_bioes),
    ("unknown tag type", P.UNKNOWN_LABEL, lambda r: {**r, "tags": [t.replace("LOC", "GPE") for t in r["tags"]]}),
    ("empty token list", P.EMPTY_FIELD, lambda r: {"tokens": [], "tags": []}),
    ("blank token", P.EMPTY_FIELD, lambda r: {**r, "tokens": [" "] + r["tokens"][1:]}),
    ("token not a string", P.WRONG_TYPE, lambda r: {**r, "tokens": [1] + r["tokens"][1:]}),
    ("tag is null", P.WRONG_TYPE, lambda r: _tags(r, 2, None)),
    ("tags a string", P.WRONG_TYPE, lambda r: {**r, "tags": " ".join(r["tags"])}),
    ("tokens without tags", P.MISSING_FIELD, lambda r: {"tokens": r["tokens"]}),
]


def ner_warnings(gen: Gen, n: int) -> list[list[Row]]:
    """Usable rows with span warnings: a span edge on whitespace, a span edge inside a subword."""
    chunks = []
    for _ in range(n):
        row = ner_spans_row(gen)
        loc = next(s for s in row["spans"] if s["label"] == "LOC")
        spaced = {**row, "spans": [s if s is not loc else {**s, "start": s["start"] - 1} for s in row["spans"]]}
        chunks.append([warn("ner jsonl: span edge on whitespace", N.SPAN_WHITESPACE, dumps(spaced) + b"\n")])
        gen.n += 1
        text = f"Ann Lee sent orders to Acme ref {gen.n}"  # the tiny vocabulary splits "orders" as order + ##s
        # ORG over characters 13-17, "orde": its end falls inside the subword "order" (13-18)
        spans = [{"start": 0, "end": 7, "label": "PER"}, {"start": 13, "end": 17, "label": "ORG"}]
        kind = "ner jsonl: span edge inside a subword"
        chunks.append([warn(kind, N.MISALIGNED_SPAN, dumps({"text": text, "spans": spans}) + b"\n")])
    return chunks


def ner_corpus(tmp: Path) -> Corpus:
    """text+spans and tokens+tags rows (IOB2 and BIOES), one very long document, every ner row defect."""
    gen = Gen(SEED + 2)
    makers = [ner_spans_row, ner_tokens_row, lambda g: ner_tokens_row(g, bioes=True)]
    clean_rows = [jsonl_clean(gen, makers[i % 3](gen)) for i in range(120)]
    gen.n += 1
    clean_rows.append(clean(dumps({"text": gen.long_text(30_000) + " in Oslo", "spans": []}) + b"\n"))
    clean_rows.append(clean(dumps({"text": f"nothing to find here ref {gen.n}", "spans": []}) + b"\n"))
    chunks = (
        row_defects(gen, lambda: ner_spans_row(gen), NER_SPAN_DEFECTS, 2, "ner")
        + row_defects(gen, lambda: ner_tokens_row(gen), NER_TAG_DEFECTS, 2, "ner")
        + jsonl_reader_defects(gen, lambda: dumps(ner_spans_row(gen)), 1, "ner")[::3]
        + ner_warnings(gen, 2)
        + blank_lines(gen, 3)
    )
    train = write(
        tmp / "ner.jsonl", [clean(BOM + dumps(ner_spans_row(gen)) + b"\n")] + mix(gen.rng, clean_rows, chunks)
    )
    config = NerConfig.model_validate(
        {"task": "ner", "data": {"train": train.path, "labels": ENTITY_TYPES, "on_error": "skip", "max_length": 32}}
    )
    return Corpus(config, (train,), "encoder")


# --- instruct (chat messages, prompt + completion) and extract -------------------------------------------------


def _chat(*turns: tuple[str, Any]) -> dict[str, Any]:
    return {"messages": [{"role": role, "content": content} for role, content in turns]}


def chat_row(gen: Gen) -> dict[str, Any]:
    """A conversation ending in the answer: one turn, with a system message, or two turns; or prompt+completion."""
    question, answer = gen.text(), f"the {gen.rng.choice(TOPICS['billing'])} is fine"
    shape = gen.rng.randrange(4)
    if shape == 0:
        return {"prompt": question, "completion": answer}
    if shape == 1:
        return _chat(("system", "be brief"), ("user", question), ("assistant", answer))
    if shape == 2:
        return _chat(("user", "hello"), ("assistant", "hi"), ("user", question), ("assistant", answer))
    return _chat(("user", question), ("assistant", answer))


def _turns(gen: Gen) -> tuple[str, str]:
    return gen.text(), "the order is late"


CHAT_DEFECTS: list[tuple[str, str, Callable[[tuple[str, str]], Any]]] = [
    ("unknown role", P.ROLE_ORDER, lambda qa: _chat(("bot", qa[0]), ("assistant", qa[1]))),
    ("role in the wrong case", P.ROLE_ORDER, lambda qa: _chat(("User", qa[0]), ("assistant", qa[1]))),
    ("tool role", P.ROLE_ORDER, lambda qa: _chat(("user", qa[0]), ("tool", "{}"), ("assistant", qa[1]))),
    ("assistant first", P.ROLE_ORDER, lambda qa: _chat(("assistant", qa[1]), ("user", qa[0]))),
    ("ends with the user", P.ROLE_ORDER, lambda qa: _chat(("user", qa[0]))),
    ("two user turns in a row", P.ROLE_ORDER, lambda qa: _chat(("user", qa[0]), ("user", "?"), ("assistant", qa[1]))),
    ("system after the user", P.ROLE_ORDER, lambda qa: _chat(("user", qa[0]), ("system", "s"), ("assistant", qa[1]))),
    ("only a system message", P.ROLE_ORDER, lambda qa: _chat(("system", qa[0]))),
    ("empty user turn", P.EMPTY_FIELD, lambda qa: _chat(("user", ""), ("assistant", qa[1]))),
    ("blank answer", P.EMPTY_FIELD, lambda qa: _chat(("user", qa[0]), ("assistant", " \n "))),
    ("empty system message", P.EMPTY_FIELD, lambda qa: _chat(("system", ""), ("user", qa[0]), ("assistant", qa[1]))),
    (
        "message without content",
        P.WRONG_TYPE,
        lambda qa: {"messages": [{"role": "user", "content": qa[0]}, {"role": "assistant"}]},
    ),
    ("content is null", P.WRONG_TYPE, lambda qa: _chat(("user", qa[0]), ("assistant", None))),
    (
        "content is a list of parts",
        P.WRONG_TYPE,
        lambda qa: _chat(("user", [{"type": "text", "text": qa[0]}]), ("assistant", qa[1])),
    ),
    ("message is a string", P.WRONG_TYPE, lambda qa: {"messages": [qa[0], qa[1]]}),
    ("messages is a string", P.WRONG_TYPE, lambda qa: {"messages": qa[0]}),
    ("messages is empty", P.WRONG_TYPE, lambda qa: {"messages": []}),
    ("no completion", P.MISSING_FIELD, lambda qa: {"prompt": qa[0]}),
    ("no prompt or messages", P.MISSING_FIELD, lambda qa: {"question": qa[0], "answer": qa[1]}),
    ("empty completion", P.EMPTY_FIELD, lambda qa: {"prompt": qa[0], "completion": ""}),
    ("prompt is a number", P.WRONG_TYPE, lambda qa: {"prompt": 7, "completion": qa[1]}),
]


def _long_answer(gen: Gen) -> dict[str, Any]:
    return _chat(("user", gen.text()), ("assistant", gen.long_text(120)))


def instruct_jsonl(tmp: Path) -> Corpus:
    """Chat and prompt+completion rows: role order, empty turns, types, answers max_length would cut."""
    gen = Gen(SEED + 3)
    chunks = (
        row_defects(gen, lambda: _turns(gen), CHAT_DEFECTS, 2, "instruct")
        + jsonl_reader_defects(gen, lambda: dumps(chat_row(gen)), 1, "instruct")[1::3]
        + [over_long("instruct jsonl: answer longer than max_length", _long_answer(gen)) for _ in range(3)]
        + blank_lines(gen, 3)
    )
    for _ in range(2):
        row = dumps(chat_row(gen)) + b"\n"
        chunks.append([clean(row), warn("instruct jsonl: exact duplicate", P.DUPLICATE, row)])
    train = write(tmp / "chat.jsonl", mix(gen.rng, [jsonl_clean(gen, chat_row(gen)) for _ in range(100)], chunks))
    config = InstructConfig.model_validate(
        {"task": "instruct", "data": {"train": train.path, "max_length": 64, "on_error": "skip"}}
    )
    return Corpus(config, (train,), "causal")


def _instruct_csv_defects(gen: Gen) -> list[list[Row]]:
    task = "instruct csv"

    def line(prompt: str, completion: str) -> bytes:
        return _csv_line([prompt, completion], ",", gen.ending())

    return [
        [bad(f"{task}: empty completion", P.EMPTY_FIELD, line(gen.text(), ""))],
        [bad(f"{task}: blank prompt", P.EMPTY_FIELD, line("  ", "the order is late"))],
        [bad(f"{task}: too many fields", P.CSV_ERROR, _b(f"{gen.text()},yes,no\n"))],
        [bad(f"{task}: header repeated", P.CSV_ERROR, b"prompt,completion\n")],
        [bad(f"{task}: latin-1 byte", P.ENCODING, _b(gen.text()) + b",r\xe9sum\xe9\n")],
        [bad(f"{task}: NUL byte", P.ENCODING, _b(gen.text()) + b",\x00\n")],
        [warn(f"{task}: answer longer than max_length", P.TRUNCATED, line(gen.text(), gen.long_text(120)))],
    ]


def instruct_csv(tmp: Path) -> Corpus:
    """prompt,completion CSV rows: empty answers, CSV defects, an over-long answer, an unterminated quote."""
    gen = Gen(SEED + 4)
    chunks = [chunk for _ in range(2) for chunk in _instruct_csv_defects(gen)]
    answers = [f"the {w} is fine" for w in TOPICS["shipping"] * 10]
    rows = mix(gen.rng, [clean(_csv_line([gen.text(), a], ",", gen.ending())) for a in answers], chunks)
    tail = bad("instruct csv: unterminated quote", P.CSV_ERROR, _b(f'{gen.text()},"never closed\n{gen.text()},ok\n'))
    train = write(tmp / "chat.csv", [not_a_row(b"prompt,completion\r\n")] + rows + [tail])
    config = InstructConfig.model_validate(
        {"task": "instruct", "data": {"train": train.path, "max_length": 64, "on_error": "skip"}}
    )
    return Corpus(config, (train,), "causal")


EXTRACT_FIELDS = {
    "brand": {},
    "count": {"type": "integer"},
    "color": {"values": ["red", "blue", "green"]},
    "waterproof": {"type": "boolean"},
}


def extract_row(gen: Gen) -> dict[str, Any]:
    rng = gen.rng
    brand, color, count = rng.choice(ORGS), rng.choice(["red", "blue", "green", None]), rng.randint(1, 9)
    text = f"{brand} sells {count} {color or 'plain'} bags ref {gen.n}"
    gen.n += 1
    fields = {"brand": brand, "count": count if rng.random() < 0.8 else str(count), "color": color}
    if rng.random() < 0.5:
        fields["waterproof"] = rng.choice([True, False, "yes", None])
    return {"text": text, "fields": fields}


def _field(row: dict[str, Any], **change: Any) -> dict[str, Any]:
    return {**row, "fields": {**row["fields"], **change}}


EXTRACT_DEFECTS: list[tuple[str, str, Callable[[dict[str, Any]], Any]]] = [
    ("fields is a list", P.WRONG_TYPE, lambda r: {**r, "fields": list(r["fields"].items())}),
    ("fields is null", P.WRONG_TYPE, lambda r: {**r, "fields": None}),
    ("fields as a JSON string", P.WRONG_TYPE, lambda r: {**r, "fields": json.dumps(r["fields"])}),
    ("no fields", P.MISSING_FIELD, lambda r: {"text": r["text"]}),
    ("no text", P.MISSING_FIELD, lambda r: {"fields": r["fields"]}),
    ("undeclared field", P.UNKNOWN_LABEL, lambda r: _field(r, size="XL")),
    ("value not allowed", P.UNKNOWN_LABEL, lambda r: _field(r, color="purple")),
    ("value is a list", P.WRONG_TYPE, lambda r: _field(r, brand=[r["fields"]["brand"]])),
    ("value is an object", P.WRONG_TYPE, lambda r: _field(r, brand={"name": "x"})),
    ("empty value instead of null", P.EMPTY_FIELD, lambda r: _field(r, brand="")),
    ("integer field holds words", P.WRONG_TYPE, lambda r: _field(r, count="three")),
    ("integer field holds a fraction", P.WRONG_TYPE, lambda r: _field(r, count=2.5)),
    ("boolean field holds a number", P.WRONG_TYPE, lambda r: _field(r, waterproof=1)),
]


def _long_extract(gen: Gen) -> dict[str, Any]:
    return _field(extract_row(gen), brand=gen.long_text(150))


def extract_corpus(tmp: Path) -> Corpus:
    """text + fields rows against declared fields (types, allowed values), and an answer max_length would cut."""
    gen = Gen(SEED + 5)
    chunks = (
        row_defects(gen, lambda: extract_row(gen), EXTRACT_DEFECTS, 2, "extract")
        + jsonl_reader_defects(gen, lambda: dumps(extract_row(gen)), 1, "extract")[2::3]
        + [over_long("extract jsonl: answer longer than max_length", _long_extract(gen)) for _ in range(2)]
    )
    train = write(tmp / "extract.jsonl", mix(gen.rng, [jsonl_clean(gen, extract_row(gen)) for _ in range(80)], chunks))
    data = {"train": train.path, "max_length": 128, "on_error": "skip", "fields": EXTRACT_FIELDS}
    return Corpus(ExtractConfig.model_validate({"task": "extract", "data": data}), (train,), "causal")


CORPORA: dict[str, Callable[[Path], Corpus]] = {
    "classify_jsonl": classify_jsonl,
    "classify_csv": classify_csv,
    "ner_jsonl": ner_corpus,
    "instruct_jsonl": instruct_jsonl,
    "instruct_csv": instruct_csv,
    "extract_jsonl": extract_corpus,
}


# --- comparing the report with the corpus -----------------------------------------------------------------------


def reported(result: CheckResult, corpus: Corpus) -> set[tuple[str, int, str]]:
    """(file, line, category) of every problem; classify's one truncation warning counts for each line it names."""
    found = {(str(p.source), p.line, p.category) for p in result.problems if p.line is not None}
    for p in result.problems:
        if p.line is None and p.category == P.TRUNCATED:
            for f in corpus.files:
                lines = re.findall(re.escape(str(f.path)) + r":(\d+)\b", p.message)
                found |= {(str(f.path), int(n), P.TRUNCATED) for n in lines}
    return found


def assert_exact(result: CheckResult, corpus: Corpus) -> None:
    """Every defect at its line with its category, nothing else anywhere, every usable row an example."""
    kinds = {where: row.kind for where, row in corpus.rows()}
    want = {(*where, row.category) for where, row in corpus.rows() if row.category}
    got = reported(result, corpus)
    missed = sorted((kinds.get((s, n), "?"), n, c) for s, n, c in want - got)
    unexpected = sorted((kinds.get((s, n), "?"), n, c) for s, n, c in got - want)
    assert (missed, unexpected) == ([], []), f"missed {missed}; unexpected {unexpected}"
    clean_rows = {where for where, row in corpus.rows() if row.kind == CLEAN}
    assert [str(p) for p in result.problems if (p.source, p.line) in clean_rows] == []
    lineless = [str(p) for p in result.problems if p.line is None and p.category != P.TRUNCATED]
    assert lineless == []
    usable = {(ex.source, ex.line) for exs in result.splits.values() for ex in exs}
    assert usable == {where for where, row in corpus.rows() if row.usable}
    unnamed = [str(p) for p in result.problems if p.category in FIELD_CATEGORIES and p.line and not p.field]
    assert unnamed == []  # a row-contract problem names its field


@pytest.fixture(scope="module")
def encoder_tokenizer(tiny_encoder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_encoder))


@pytest.fixture(scope="module")
def causal_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from transformers import AutoTokenizer

    from tiny import write_tiny_causal

    return AutoTokenizer.from_pretrained(str(write_tiny_causal(tmp_path_factory.mktemp("corpus-causal"))))


@pytest.mark.parametrize("name", list(CORPORA))
def test_corpus_reports_exactly_the_defects(name: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    corpus = CORPORA[name](tmp_path)
    tokenizer = request.getfixturevalue(f"{corpus.tokenizer}_tokenizer")
    result = check_data(corpus.config, tokenizer)
    assert_exact(result, corpus)
    result.raise_for_errors()  # on_error skip, and no dataset-wide error: the clean rows are a usable dataset


def test_corpus_is_large_and_varied(tmp_path: Path) -> None:
    """The corpus cannot shrink silently: at least 100 defects of 20 kinds, in JSONL and CSV, for every task."""
    corpora = {name: build(_folder(tmp_path / name)) for name, build in CORPORA.items()}
    defects = [row for corpus in corpora.values() for row in corpus.defects()]
    kinds = {row.kind.split(": ", 1)[1] for row in defects}  # "classify csv: NUL byte" -> "NUL byte"
    jsonl = [row for row in defects if " jsonl: " in row.kind]
    assert len(defects) >= 100 and len(kinds) >= 20, (len(defects), len(kinds))
    assert len(jsonl) >= 100 and len(defects) - len(jsonl) >= 50  # the rest are CSV and TSV rows
    assert all(len(corpus.defects()) >= 10 for corpus in corpora.values())
    categories = {row.category for row in defects}
    assert categories >= {
        P.INVALID_JSON, P.NON_OBJECT, P.NON_STANDARD_JSON, P.ENCODING, P.CSV_ERROR, P.MISSING_FIELD,
        P.EMPTY_FIELD, P.WRONG_TYPE, P.UNKNOWN_LABEL, P.ROLE_ORDER, P.TRUNCATED, P.DUPLICATE,
        P.NEAR_DUPLICATE, P.CONFLICTING_LABELS, P.LEAKAGE, N.BAD_SPAN, N.OVERLAPPING_SPANS, N.BROKEN_TAGS,
        N.SPAN_WHITESPACE, N.MISALIGNED_SPAN,
    }  # fmt: skip
    record(
        10,
        f"corpus: {len(defects)} defects ({len(jsonl)} JSONL, {len(defects) - len(jsonl)} CSV/TSV) of {len(kinds)} "
        f"kinds in {len(categories)} categories, each at its line; 0 false positives",
    )


@pytest.mark.parametrize(
    ("name", "data", "category", "says"),
    [
        ("a.jsonl", b'{"a": 1}\n' + BOM + b'{"a": 2}\n', P.ENCODING, "byte-order mark"),
        ("a.csv", b"text,label\nx,y\n" + BOM + b"text,label\n", P.ENCODING, "concatenated"),
        ("a.jsonl", b'{"a": 1}\n{"a": "\x00"}\n', P.ENCODING, "UTF-16"),
        ("a.csv", b"text,label\nx,y\nx\x00,y\n", P.ENCODING, "UTF-16"),
        ("a.jsonl", b'{"a": 1}\n{"a": 1e999}\n', P.NON_STANDARD_JSON, "infinity"),
        ("a.csv", b"text,label\nx,y\ntext , label\n", P.CSV_ERROR, "repeats the header"),
        ("a.csv", b"text,label\nx,y\nx\ry,z\n", P.CSV_ERROR, "carriage return"),
        ("a.jsonl", b'{"a": 1}\n{"a": "\t"}\n', P.INVALID_JSON, "escape it"),
        ("a.jsonl", b'{"a": 1}\n{"a": 1}\r{"a": 2}\n', P.INVALID_JSON, "bare carriage return"),
    ],
    ids=[
        "jsonl-bom",
        "csv-bom",
        "jsonl-nul",
        "csv-nul",
        "jsonl-1e999",
        "csv-header",
        "csv-cr",
        "jsonl-tab",
        "jsonl-cr",
    ],
)
def test_reader_messages_say_what_is_wrong(tmp_path: Path, name: str, data: bytes, category: str, says: str) -> None:
    """Defects the corpus found undetected or explained in the decoder's words: reported at line 2 or 3, with a fix."""
    (path := tmp_path / name).write_bytes(data)
    (problem,) = [item for item in read_rows(path) if isinstance(item, Problem)]
    assert (problem.line, problem.category) == (data.count(b"\n"), category)
    assert says in problem.message and f"{path}:{problem.line}: error {category}" in str(problem)


def test_extract_type_message_reads_well() -> None:
    with pytest.raises(ValueError, match="'three' is not an integer"):
        to_type("three", "integer")


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


# --- streaming: the row pass keeps memory flat ------------------------------------------------------------------

# Runs in a fresh interpreter, so the peak resident memory it reports belongs to this pass and not to other tests.
ROW_PASS = r"""
import gc, json, re, resource, sys, time
from collections import Counter
from hone.config.schema import ClassifyConfig
from hone.data.check import check_rows
from hone.tasks import spec_for

def reset_peak():
    # Linux: writing 5 to clear_refs resets VmHWM (the peak) to the current resident size, so the imports'
    # peak cannot hide the pass's. ru_maxrss is not reset by it once a thread has exited, hence VmHWM.
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        with open("/proc/self/status") as f:
            return bool(re.search(r"VmHWM", f.read()))
    except OSError:
        return False

def peak_mb(reset):
    if reset:
        with open("/proc/self/status") as f:
            return int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

config = ClassifyConfig.model_validate({"data": {"train": sys.argv[1], "labels": sys.argv[2].split(",")}})
spec = spec_for(config.task)
gc.collect()
reset = reset_peak()
base, start = peak_mb(reset), time.perf_counter()
rows, usable, categories = 0, 0, Counter()
for example, problems in check_rows(config.data.train, config.data, spec):
    rows += 1
    usable += example is not None
    categories.update(p.category for p in problems)
seconds = time.perf_counter() - start
print(json.dumps({"base_mb": base, "peak_mb": peak_mb(reset), "reset": reset, "rows": rows, "usable": usable,
                  "categories": categories, "seconds": seconds}))
"""
BLOCK_ROWS = 1000
BLOCK_DEFECTS = {P.INVALID_JSON: 5, P.MISSING_FIELD: 3, P.UNKNOWN_LABEL: 2}  # per block of 1000 rows


def _block(seed: int) -> bytes:
    """1000 rows of about 1 KB: 990 clean, 10 bad (invalid JSON, a missing label, an unknown label)."""
    gen = Gen(seed)
    rows = [dumps(_labelled(gen) | {"text": gen.text(gen.label(), 150)}) for _ in range(BLOCK_ROWS)]
    bad_rows = (
        [b'{"text": "cut'] * 5 + [dumps({"text": gen.text()})] * 3 + [dumps({"text": "x", "label": "refunds"})] * 2
    )
    for i, row in enumerate(bad_rows):
        rows[i * 97 + 13] = row
    return b"\n".join(rows) + b"\n"


def write_big_jsonl(path: Path, megabytes: int) -> int:
    """A JSONL file of about `megabytes` MB made of repeated blocks; returns the number of blocks."""
    block = _block(SEED)
    blocks = -(-megabytes * 2**20 // len(block))
    with path.open("wb") as f:
        for _ in range(blocks):
            f.write(block)
    return blocks


@dataclass(frozen=True)
class Pass:
    """One measured row pass: file size, peak resident memory above the interpreter's own, rows per second."""

    size_mb: float
    growth_mb: float
    seconds: float
    report: dict[str, Any]


def measure_row_pass(path: Path, blocks: int) -> Pass:
    """Run the row pass over `path` in a fresh interpreter; check that it saw every row and every defect."""
    done = subprocess.run(
        [sys.executable, "-c", ROW_PASS, str(path), ",".join(LABELS)], capture_output=True, text=True, check=True
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["rows"] == blocks * BLOCK_ROWS
    assert report["categories"] == {category: n * blocks for category, n in BLOCK_DEFECTS.items()}
    assert report["usable"] == blocks * (BLOCK_ROWS - sum(BLOCK_DEFECTS.values()))
    size = path.stat().st_size / 2**20
    path.unlink()  # large files do not outlive their measurement
    return Pass(size, report["peak_mb"] - report["base_mb"], report["seconds"], report)


def assert_flat(small: Pass, large: Pass) -> None:
    """Peak memory above the interpreter's does not follow the file size: far below the size ratio."""
    figures = (
        f"row pass: {small.size_mb:.0f} MB -> +{small.growth_mb:.1f} MB peak ({small.seconds:.1f} s); "
        f"{large.size_mb:.0f} MB -> +{large.growth_mb:.1f} MB peak ({large.seconds:.1f} s); "
        f"size ratio {large.size_mb / small.size_mb:.0f}; base {small.report['base_mb']:.0f} MB"
    )
    assert large.growth_mb < 0.05 * large.size_mb, figures  # no copy of the rows is kept
    assert large.growth_mb < small.growth_mb * 1.5 + 8, figures  # not size-ratio times more memory
    record(10, figures)


def test_row_pass_memory_is_flat(tmp_path: Path) -> None:
    """Reading and row-checking 100 MB costs no more peak memory than 20 MB.

    What is flat is `check_rows`, the streaming part of `check_data` (and of `hone check`): the reader and
    the task's row contract, one row at a time. `check_data` itself then keeps every usable example, since
    duplicates, leakage and the splits need them all, so its memory grows with the usable rows.
    """
    small = measure_row_pass(tmp_path / "small.jsonl", write_big_jsonl(tmp_path / "small.jsonl", 20))
    large = measure_row_pass(tmp_path / "large.jsonl", write_big_jsonl(tmp_path / "large.jsonl", 100))
    assert_flat(small, large)


@pytest.mark.soak
def test_row_pass_memory_is_flat_on_1_gb(tmp_path: Path) -> None:
    """The same row pass over a 1 GB file: peak memory as on 20 MB (takes about a minute)."""
    small = measure_row_pass(tmp_path / "small.jsonl", write_big_jsonl(tmp_path / "small.jsonl", 20))
    started = time.perf_counter()
    large = measure_row_pass(tmp_path / "large.jsonl", write_big_jsonl(tmp_path / "large.jsonl", 1024))
    assert_flat(small, large)
    print(f"1 GB soak: {time.perf_counter() - started:.0f} s including writing the file")
