"""Stream data rows from JSONL, CSV/TSV, CoNLL or plain-text files, each with the line a user sees in an editor.

`read_rows` yields one item per data row: a `Record` holding the row as a dict, or a `Problem`
saying why the row cannot be read (bad JSON, a non-object row, NaN, Infinity, numbers too large
for a float or duplicate keys, bytes that are not UTF-8, NUL bytes, a byte-order mark in the
middle of a file, a CSV row with the wrong number of fields, a repeated CSV header, an
unterminated quote, a line longer than `MAX_LINE_BYTES`). Files are read
line by line in binary and each line is decoded here, so a bad byte costs one row, not the file,
and memory stays bounded by the longest row, which is capped: a line longer than the cap (a file
without line breaks, a one-line JSON array, binary data) is reported as soon as the cap is passed
and skipped in bounded chunks, never held whole. Line numbers are 1-based and count `\\n`; a CSV row
that spans lines (a quoted field holding newlines) is reported at the line where it starts. A
plain-text file (.txt/.md) holds one document per blank-line-separated block, read as `{"text": block}`
at the block's first line.
"""

from __future__ import annotations

import csv
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, Literal

from hone.data import problems as P
from hone.data.problems import Problem

Format = Literal["auto", "jsonl", "csv", "conll", "text"]

_SUFFIXES = {
    ".jsonl": "jsonl",
    ".json": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".conll": "conll",
    ".bio": "conll",
    ".iob": "conll",
    ".txt": "text",
    ".md": "text",
}
_BOM = b"\xef\xbb\xbf"
# A \uD800-\uDFFF escape; valid pairs are joined by the JSON decoder, so any left are lone halves.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_NUL = b"\x00"
# The csv module refuses fields over 128 KiB by default; a long document is still a valid row.
_CSV_FIELD_LIMIT = 2**31 - 1
# The longest line a reader holds in memory. A row of a long document is a few MiB; a longer line is almost
# always a file that is not one row per line, and holding it whole once took 4.5 GB for a 2 GB file.
MAX_LINE_BYTES = 64 * 2**20
_SKIP_CHUNK = 2**20  # how much of an over-long line is read at a time while skipping it


@dataclass(frozen=True)
class Record:
    """One readable row: where it is and its fields (CSV values are strings)."""

    source: str
    line: int
    data: dict[str, Any] = field(repr=False)


def resolve_format(path: Path, format: Format) -> Literal["jsonl", "csv", "conll", "text"]:
    """The concrete format of `path`: `format` itself, or decided by the file extension."""
    if format != "auto":
        return format
    found = _SUFFIXES.get(path.suffix.lower())
    if found is None:
        raise ValueError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}; "
            "set data.format to `jsonl`, `csv`, `conll` or `text` (or name the file .jsonl/.csv/.tsv/.conll/.txt)"
        )
    return found  # type: ignore[return-value]


def read_rows(
    path: Path, format: Format = "auto", key: str = "data.train/test/dev", max_line_bytes: int = MAX_LINE_BYTES
) -> Iterator[Record | Problem]:
    """Yield a Record or a Problem per data row of `path`; blank JSONL lines are skipped.

    Raises FileNotFoundError (missing file), IsADirectoryError (a folder) and ValueError (unknown
    format) at call time, before the first row is read; their messages name `key`, the config key
    (or option) that gave the path. A line over `max_line_bytes` is a Problem of its own.
    """
    path = Path(path)
    check_data_file(path, key)
    fmt = resolve_format(path, format)
    if fmt == "jsonl":
        return _read_jsonl(path, max_line_bytes)
    if fmt == "conll":
        return _conll_records(path, max_line_bytes)
    if fmt == "text":
        return _read_text(path, max_line_bytes)
    return _read_csv(path, "\t" if path.suffix.lower() == ".tsv" else ",", max_line_bytes)


def check_data_file(path: Path, key: str = "data.train/test/dev") -> None:
    """Raise, naming `key`, unless `path` is a file that can be read as data."""
    if path.is_dir():
        raise IsADirectoryError(
            f"{key}: {path} is a directory: give a .jsonl/.csv/.tsv/.conll/.txt file (one file per split)"
        )
    if not path.exists():
        raise FileNotFoundError(
            f"{key}: data file {path} not found; check the path "
            "(relative paths in a config are resolved against the config file's folder)"
        )
    if not path.is_file():
        raise ValueError(f"{key}: {path} is not a regular file; give a .jsonl/.csv/.tsv/.conll/.txt file")


def _physical_lines(f: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Numbered physical lines (1-based), each with its line break; None for a line longer than `limit` bytes.

    At most `limit` + 1 bytes are read at a time, so memory never holds more of a line than that. An over-long
    line is reported as soon as the cap is passed, then skipped in bounded chunks up to its line break: it
    costs one row, and the rows after it are read as usual.
    """
    number = 0
    while raw := f.readline(limit + 1):
        number += 1
        if len(raw) <= limit:
            yield number, raw
            continue
        yield number, None
        chunk = min(limit + 1, _SKIP_CHUNK)
        while not raw.endswith(b"\n") and (raw := f.readline(chunk)):
            pass


def _too_long(source: str, line: int, limit: int) -> Problem:
    message = (
        f"line {line} of {source} is longer than {_size(limit)}, too long for one row: the file is probably not "
        "one row per line (no line breaks, a JSON array on one line, binary data); the line was skipped"
    )
    return Problem(P.LINE_TOO_LONG, message, source, line)


def _size(n: int) -> str:
    for unit, factor in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= factor:
            return f"{n / factor:g} {unit}"
    return f"{n} bytes"


# --- JSONL -----------------------------------------------------------------------------------


class _NonStandard(ValueError):
    """JSON that Python would accept but other readers reject (NaN, duplicate keys)."""


def _read_jsonl(path: Path, limit: int) -> Iterator[Record | Problem]:
    source = str(path)
    with path.open("rb") as f:
        for line, raw in _lines(f, limit):
            if raw is None:
                yield _too_long(source, line, limit)
            elif raw.strip(b" \t\r\n"):
                yield _parse_json_line(raw, source, line)


def _lines(f: BinaryIO, limit: int) -> Iterator[tuple[int, bytes | None]]:
    """Numbered physical lines without their line ending (None: over `limit`); a leading UTF-8 BOM is dropped."""
    for number, raw in _physical_lines(f, limit):
        if raw is not None and number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        yield number, None if raw is None else raw.rstrip(b"\n").rstrip(b"\r")


def _parse_json_line(raw: bytes, source: str, line: int) -> Record | Problem:
    if (bad := _byte_problem(raw, source, line)) is not None:
        return bad
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return _encoding_problem(exc, source, line)
    try:
        value = json.loads(
            text, parse_constant=_reject_constant, parse_float=_finite_float, object_pairs_hook=_unique_keys
        )
    except _NonStandard as exc:
        return Problem(P.NON_STANDARD_JSON, str(exc), source, line)
    except RecursionError:
        return Problem(P.INVALID_JSON, "JSON nested too deeply to read; flatten the row", source, line)
    except ValueError as exc:  # JSONDecodeError, and int() refusing a number of 4,300+ digits
        return Problem(P.INVALID_JSON, _json_message(exc, text, line), source, line)
    if not isinstance(value, dict):
        return Problem(P.NON_OBJECT, _non_object_message(value, line), source, line)
    if _SURROGATE_ESCAPE.search(raw) and (bad := _find_surrogate(value)) is not None:
        return Problem(P.ENCODING, _surrogate_message(bad), source, line)
    return Record(source, line, value)


def _reject_constant(name: str) -> Any:
    raise _NonStandard(f"{name} is not standard JSON and most tools reject it; write null or a number")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # Python reads 1e999 as inf, which no JSON writer can write back
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise _NonStandard(
            f"the number {shown} is too large for a 64-bit float and would read as infinity; write a "
            "smaller number, or a string if it is an identifier"
        )
    return value


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _NonStandard(
                    f"key {key!r} appears more than once in one object; keep one "
                    "(JSON readers disagree on which value wins)"
                )
            seen.add(key)
    return result


def _json_message(exc: ValueError, text: str, line: int) -> str:
    if isinstance(exc, json.JSONDecodeError):
        message = f"not valid JSON at column {exc.colno}: {exc.msg}{_decode_hint(exc)}"
    else:
        message = f"not valid JSON: {exc}"
    if line == 1 and text.lstrip().startswith("["):
        message += "; " + _ARRAY_HINT
    return message + "; each line must hold one complete JSON object"


def _decode_hint(exc: json.JSONDecodeError) -> str:
    """What the decoder's terse message means for a row, when it is not obvious."""
    if exc.msg.startswith("Invalid control character"):
        return f" {exc.doc[exc.pos]!r} inside a string; escape it (\\t, \\n, \\r) or remove it"
    if exc.msg == "Extra data" and "\r" in exc.doc:
        return " (rows separated by a bare carriage return, old Mac line endings? convert them to \\n)"
    if exc.msg == "Extra data":
        return " (more than one JSON value on the line, or text after the object)"
    return ""


_ARRAY_HINT = "a file holding one JSON array is not JSON Lines; convert it with `jq -c '.[]'`"


def _non_object_message(value: Any, line: int) -> str:
    kind = {list: "an array", str: "a string", bool: "true/false", type(None): "null"}.get(type(value), "a number")
    message = f'the row is {kind}, not a JSON object; write it as {{"text": ..., "label": ...}}'
    if line == 1 and isinstance(value, list):
        message += "; " + _ARRAY_HINT
    return message


def _find_surrogate(value: Any) -> str | None:
    """The first string (key or value) holding a lone surrogate; iterative so depth is no limit."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                return item
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


def _surrogate_message(text: str) -> str:
    at = _SURROGATE.search(text)
    index = at.start() if at else 0
    snippet = text[max(0, index - 20) : index + 20].encode("utf-8", "backslashreplace").decode()
    return (
        f"a \\u escape encodes half of a UTF-16 surrogate pair with no other half "
        f"(near {snippet!r}); it is not text and cannot be saved as UTF-8 — fix or remove it"
    )


def _byte_problem(raw: bytes, source: str, line: int) -> Problem | None:
    """A BOM opening a line after the first (files concatenated), or a NUL byte (UTF-16 or binary data)."""
    if raw.startswith(_BOM):
        message = (
            f"line {line} starts with a UTF-8 byte-order mark (EF BB BF), which only a file's first line may hold; "
            "files were probably concatenated: remove it (and any repeated CSV header)"
        )
        return Problem(P.ENCODING, message, source, line)
    if _NUL in raw:
        message = (
            f"a NUL byte (0x00) at byte {raw.index(_NUL) + 1} of the line: the file is probably UTF-16 or holds "
            "binary data; re-save it as UTF-8 text (e.g. `iconv -f utf-16 -t utf-8`) or remove the byte"
        )
        return Problem(P.ENCODING, message, source, line)
    return None


def _encoding_problem(exc: UnicodeDecodeError, source: str, line: int) -> Problem:
    bad = exc.object[exc.start : exc.end]
    return Problem(
        P.ENCODING,
        f"bytes {bad!r} at byte {exc.start + 1} of the line are not UTF-8; "
        "re-save the file as UTF-8 (e.g. `iconv -f cp1252 -t utf-8`)",
        source,
        line,
    )


# --- CSV / TSV -------------------------------------------------------------------------------


class _LineFeed:
    """Feeds decoded lines to csv.reader and remembers which lines held undecodable bytes."""

    def __init__(self, f: BinaryIO, source: str, limit: int) -> None:
        self.source = source
        self.bad: dict[int, Problem] = {}
        self.count = 0
        self._f = f
        self._limit = limit

    def __iter__(self) -> Iterator[str]:
        for number, raw in _physical_lines(self._f, self._limit):
            self.count = number
            if raw is None:
                self.bad[self.count] = _too_long(self.source, self.count, self._limit)
                yield "\n"  # the row it belongs to reports it
                continue
            if self.count == 1:
                raw = raw.removeprefix(_BOM)  # a BOM is allowed here, and only here
            if (bad := _byte_problem(raw, self.source, self.count)) is not None:
                self.bad[self.count] = bad
                raw = raw.removeprefix(_BOM)  # reported; the rest of the row still parses
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                self.bad[self.count] = _encoding_problem(exc, self.source, self.count)
                yield raw.decode("utf-8", errors="replace")

    def bad_between(self, first: int, last: int) -> Problem | None:
        if not self.bad:
            return None
        # Popped, so memory holds only bad lines not yet reached (a row spans first..last).
        found = [self.bad.pop(n) for n in range(first, last + 1) if n in self.bad]
        return _at_row_start(found[0], first) if found else None


def _read_csv(path: Path, delimiter: str, limit: int) -> Iterator[Record | Problem]:
    csv.field_size_limit(max(csv.field_size_limit(), _CSV_FIELD_LIMIT))
    with path.open("rb") as f:
        feed = _LineFeed(f, str(path), limit)
        reader = csv.reader(feed, delimiter=delimiter, strict=True)
        rows = _csv_rows(reader, feed)
        header = _header(rows, feed.source)
        if isinstance(header, Problem):
            yield header
            return
        if header is None:
            return
        for start, row in rows:
            yield _csv_item(row, header, feed.source, start)


def _csv_rows(reader: Iterator[list[str]], feed: _LineFeed) -> Iterator[tuple[int, list[str] | Problem]]:
    """Non-blank rows with their start line; a row that cannot be parsed becomes a Problem."""
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = feed.count
            feed.bad_between(start, end)  # the parse error is what this row reports
            yield start, Problem(P.CSV_ERROR, _csv_message(exc, start, end), feed.source, start)
            continue
        end = feed.count
        bad = feed.bad_between(start, end)
        if bad is not None or not _blank(row):  # a line that reads as blank may still have been bad
            yield start, bad or row


def _blank(row: list[str]) -> bool:
    """An empty line, or one holding only spaces: skipped like blank JSONL lines."""
    return not row or (len(row) == 1 and not row[0].strip())


def _at_row_start(problem: Problem, start: int) -> Problem:
    """Report a problem found inside a multi-line row at the line where the row starts."""
    if problem.line == start:
        return problem
    message = f"(row from line {start}) line {problem.line}: {problem.message}"
    return Problem(problem.category, message, problem.source, start)


def _csv_message(exc: csv.Error, start: int, end: int) -> str:
    if "unexpected end of data" in str(exc):
        return (
            f"unterminated quote: a quoted field opened on line {start} is never closed and runs "
            f'to the end of the file (line {end}); close the quote or escape it as ""'
        )
    if "new-line character seen in unquoted field" in str(exc):
        return (
            "a bare carriage return (\\r) inside an unquoted field (old Mac line endings?); quote the field or "
            "convert the line endings to \\n"
        )
    return f"cannot parse the row: {exc}; quote fields that hold the delimiter, quotes or newlines"


def _header(rows: Iterator[tuple[int, list[str] | Problem]], source: str) -> list[str] | Problem | None:
    first = next(rows, None)
    if first is None:
        return None
    line, row = first
    if isinstance(row, Problem):
        return Problem(row.category, f"cannot read the header row: {row.message}", source, line)
    names = [name.strip() for name in row]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        return Problem(
            P.CSV_ERROR,
            f"the header names column(s) {dupes} more than once; give each column one name",
            source,
            line,
        )
    return names


_TOO_MANY = "quote fields that contain the delimiter"
_TOO_FEW = "fill in the missing fields (an empty field still needs its delimiter)"


def _csv_item(row: list[str] | Problem, header: list[str], source: str, line: int) -> Record | Problem:
    if isinstance(row, Problem):
        return row
    if [value.strip() for value in row] == header:
        message = "the row repeats the header (files concatenated?); remove it"
        return Problem(P.CSV_ERROR, message, source, line)
    if len(row) != len(header):
        return Problem(
            P.CSV_ERROR,
            f"the row has {len(row)} field(s), the header has {len(header)}; "
            + (_TOO_MANY if len(row) > len(header) else _TOO_FEW),
            source,
            line,
        )
    return Record(source, line, dict(zip(header, row, strict=True)))


# --- CoNLL columns ----------------------------------------------------------------------------


def _conll_records(path: Path, limit: int) -> Iterator[Record | Problem]:
    """CoNLL sentences as rows with `tokens` and `tags` fields (the NER task's default names)."""
    try:
        for line, row in read_conll(path, limit):
            yield Record(str(path), line, row)
    except _Unreadable as exc:
        yield exc.problem


class _Unreadable(ValueError):
    """A CoNLL line that cannot be read; it ends the file (a sentence cannot be told apart from its neighbours)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        super().__init__(f"{problem.source}:{problem.line}: {problem.message}")


def _bad_bytes(path: Path, line: int, reason: str) -> _Unreadable:
    reason = f"bytes that are not UTF-8 ({reason}); re-save the file as UTF-8"
    return _Unreadable(Problem(P.ENCODING, reason, str(path), line))


def read_conll(path: Path, max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, list[str]]]]:
    """Sentences of a CoNLL column file: (line of the first token, {"tokens": [...], "tags": [...]}).

    The token is the first column and the tag the last; a blank line ends a sentence and
    `-DOCSTART-` lines are skipped. Line numbers are 1-based, as an editor shows them.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CoNLL file {path} not found; check data.train/test/dev in the config")
    tokens: list[str] = []
    tags: list[str] = []
    first = 0
    with path.open("rb") as f:
        # a blank line after the last ends its sentence
        for number, raw in chain(_physical_lines(f, max_line_bytes), [(0, b"")]):
            if raw is None:
                raise _Unreadable(_too_long(str(path), number, max_line_bytes))
            columns = _decode(raw, path, number).split()
            if not columns or columns[0] == "-DOCSTART-":
                if tokens:
                    yield first, {"tokens": tokens, "tags": tags}
                tokens, tags = [], []
                continue
            first = first if tokens else number
            tokens.append(columns[0])
            tags.append(columns[-1])


def _decode(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError as e:
        raise _bad_bytes(path, number, e.reason) from e


# --- plain text -------------------------------------------------------------------------------


def _read_text(path: Path, limit: int) -> Iterator[Record | Problem]:
    """One record per blank-line-separated block: `{"text": the block's lines}` at its first line.

    A block holding bytes that are not UTF-8 becomes one problem at the block's first line.
    """
    source = str(path)
    block: list[str] = []
    start = 0
    bad: Problem | None = None
    with path.open("rb") as f:
        for line, raw in chain(_lines(f, limit), [(0, b"")]):  # the empty sentinel ends the last block
            if raw is None:
                start = start if block else line
                bad = bad or _too_long(source, line, limit)
                block.append("")
                continue
            if raw.strip(b" \t\r\n"):
                start = start if block else line
                try:
                    block.append(raw.decode("utf-8"))
                except UnicodeDecodeError as exc:
                    bad = bad or _encoding_problem(exc, source, line)
                    block.append("")
                continue
            if bad is not None:
                yield _at_row_start(bad, start)
            elif block:
                yield Record(source, start, {"text": "\n".join(block)})
            block, bad = [], None
