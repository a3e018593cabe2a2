"""Readers: one Record or Problem per row, exact editor line numbers, no crash on bad bytes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hone.data import problems as P
from hone.data.problems import Problem
from hone.data.read import Record, read_rows, resolve_format


def _write(path: Path, data: bytes | str) -> Path:
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _items(path: Path, format: str = "auto") -> list[Record | Problem]:
    return list(read_rows(path, format))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jsonl", "jsonl"),
        ("a.JSON", "jsonl"),
        ("a.ndjson", "jsonl"),
        ("a.csv", "csv"),
        ("a.tsv", "csv"),
    ],
)
def test_auto_format_by_extension(name: str, expected: str) -> None:
    assert resolve_format(Path(name), "auto") == expected


def test_unknown_extension_names_the_setting(tmp_path: Path) -> None:
    path = _write(tmp_path / "data.xyz", "x")
    with pytest.raises(ValueError, match="data.format"):
        read_rows(path, "auto")
    assert [r.data for r in _items(_write(tmp_path / "d.txt", '{"a": 1}\n'), "jsonl")] == [{"a": 1}]


def test_missing_file_raises_at_call_time(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        read_rows(tmp_path / "nope.jsonl", "auto")  # no iteration needed


def test_jsonl_lines_are_physical_lines(tmp_path: Path) -> None:
    # U+2028 inside a string and a CRLF ending must not shift the count; blank lines are skipped.
    text = '{"a": "x\u2028y"}\r\n\n   \n{"a": 2}\n\r\n{"a": 3}'
    items = _items(_write(tmp_path / "d.jsonl", text))
    assert [(r.line, r.data["a"]) for r in items] == [(1, "x\u2028y"), (4, 2), (6, 3)]
    assert all(isinstance(r, Record) and r.source == str(tmp_path / "d.jsonl") for r in items)


def test_bom_is_stripped(tmp_path: Path) -> None:
    items = _items(_write(tmp_path / "d.jsonl", b'\xef\xbb\xbf{"a": 1}\n'))
    assert isinstance(items[0], Record) and items[0].data == {"a": 1}
    rows = _items(_write(tmp_path / "d.csv", b"\xef\xbb\xbftext,label\r\nhi,x\r\n"))
    assert isinstance(rows[0], Record) and rows[0].data == {"text": "hi", "label": "x"}


@pytest.mark.parametrize(
    ("line", "category", "in_message"),
    [
        ('{"a": 1', P.INVALID_JSON, "column 8"),
        ('{"a": NaN}', P.NON_STANDARD_JSON, "NaN"),
        ('{"a": Infinity}', P.NON_STANDARD_JSON, "Infinity"),
        ('{"a": -Infinity}', P.NON_STANDARD_JSON, "-Infinity"),
        ('{"a": 1, "a": 2}', P.NON_STANDARD_JSON, "'a' appears more than once"),
        ('{"o": {"k": 1, "k": 1}}', P.NON_STANDARD_JSON, "'k'"),
        ("[1, 2]", P.NON_OBJECT, "an array"),
        ("7", P.NON_OBJECT, "a number"),
        ('"s"', P.NON_OBJECT, "a string"),
        ("null", P.NON_OBJECT, "null"),
        ('{"a": "\\udc00"}', P.ENCODING, "surrogate"),
        ('{"a": ["x", {"\\ud800": 1}]}', P.ENCODING, "surrogate"),
        ("[" * 200_000, P.INVALID_JSON, "nested"),
        ('{"a": 1' + "0" * 5000 + "}", P.INVALID_JSON, "not valid JSON"),
    ],
)
def test_jsonl_defects(tmp_path: Path, line: str, category: str, in_message: str) -> None:
    path = _write(tmp_path / "d.jsonl", '{"ok": 1}\n' + line + "\n")
    ok, bad = _items(path)
    assert isinstance(ok, Record)
    assert isinstance(bad, Problem), bad
    assert (bad.line, bad.category, bad.severity) == (2, category, "error")
    assert in_message in bad.message


def test_valid_surrogate_pair_is_fine(tmp_path: Path) -> None:
    (item,) = _items(_write(tmp_path / "d.jsonl", '{"a": "\\ud83d\\ude00"}\n'))
    assert isinstance(item, Record) and item.data["a"] == "\U0001f600"


def test_bad_bytes_cost_one_row(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", b'{"a": "caf\xe9"}\n{"a": 2}\n')
    bad, ok = _items(path)
    assert isinstance(bad, Problem) and (bad.line, bad.category) == (1, P.ENCODING)
    assert "byte 11" in bad.message and "UTF-8" in bad.message
    assert isinstance(ok, Record) and ok.line == 2


def test_huge_lines_are_read(tmp_path: Path) -> None:
    text = "word " * 1_000_000  # 5 MB
    (row,) = _items(_write(tmp_path / "d.jsonl", json.dumps({"text": text}) + "\n"))
    assert isinstance(row, Record) and row.data["text"] == text
    (row,) = _items(_write(tmp_path / "d.csv", f'text,label\n"{text}",x\n'))
    assert isinstance(row, Record) and row.data["text"] == text


def test_csv_multiline_fields_report_start_lines(tmp_path: Path) -> None:
    data = 'text,label\r\n"one\r\ntwo",a\r\n\r\nthree,b\r\n"x\ny\nz",c,extra\nfour,d\n'
    items = _items(_write(tmp_path / "d.csv", data))
    assert [(i.line, type(i).__name__) for i in items] == [
        (2, "Record"),
        (5, "Record"),
        (6, "Problem"),
        (9, "Record"),
    ]
    assert items[0].data == {"text": "one\r\ntwo", "label": "a"}  # type: ignore[union-attr]
    assert "3 field(s), the header has 2" in items[2].message  # type: ignore[union-attr]


def test_csv_defects(tmp_path: Path) -> None:
    data = b'text,label\nfine,a\nmore,b,c\nfew\n"bad"quote,a\ncaf\xe9,b\n"multi\nbad \xff",a\nend,b\n"open,a\nrest,b\n'
    items = _items(_write(tmp_path / "d.csv", data))
    got = [(i.line, i.category if isinstance(i, Problem) else None) for i in items]
    assert got == [
        (2, None),
        (3, P.CSV_ERROR),
        (4, P.CSV_ERROR),
        (5, P.CSV_ERROR),
        (6, P.ENCODING),
        (7, P.ENCODING),
        (9, None),
        (10, P.CSV_ERROR),
    ]
    assert "line 8" in items[5].message  # type: ignore[union-attr]
    assert "unterminated quote" in items[-1].message  # type: ignore[union-attr]


def test_csv_header_problems(tmp_path: Path) -> None:
    (item,) = _items(_write(tmp_path / "d.csv", "text,label,text\na,b,c\n"))
    assert isinstance(item, Problem) and (item.line, item.category) == (1, P.CSV_ERROR)
    assert "['text']" in item.message
    assert _items(_write(tmp_path / "e.csv", "")) == []
    (row,) = _items(_write(tmp_path / "f.csv", " text , label \nhi,x\n"))
    assert isinstance(row, Record) and row.data == {"text": "hi", "label": "x"}


def test_tsv_uses_tabs(tmp_path: Path) -> None:
    (row,) = _items(_write(tmp_path / "d.tsv", "text\tlabel\nhello, world\tgreet\n"))
    assert isinstance(row, Record) and row.data == {"text": "hello, world", "label": "greet"}


def test_reading_is_lazy(tmp_path: Path) -> None:
    path = _write(tmp_path / "d.jsonl", "".join(f'{{"i": {i}}}\n' for i in range(1000)))
    rows = read_rows(path, "jsonl")
    first = next(rows)
    assert isinstance(first, Record) and first.data == {"i": 0}
    rows.close()  # type: ignore[attr-defined]


def test_a_folder_is_named_with_its_key_before_any_row_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "dev.jsonl"
    folder.mkdir()
    with pytest.raises(IsADirectoryError) as refused:
        read_rows(folder, "auto", key="data.dev")
    message = str(refused.value)
    assert message.startswith("data.dev:") and str(folder) in message and "is a directory" in message
    assert ".jsonl" in message and "\n" not in message


CAP = 64 * 1024  # a small cap, so a file a little over it shows whether memory follows the line or the cap

LONG_LINE_FILES = {  # name: (content around a long line at line 2, the rows read on either side)
    "d.jsonl": (b'{"a": 1}\n', b'\n{"a": 3}\n', [1, 3]),
    "d.csv": (b"a,b\n", b"\n3,4\n", [3]),
    "d.txt": (b"first block\n\n", b"\n\nthird block\n", [1, 5]),
    "d.conll": (b"Paris B-LOC\n\n", b"\n", [1]),
}


def _peak_while_reading(path: Path, cap: int) -> tuple[list[Record | Problem], int]:
    import tracemalloc

    tracemalloc.start()
    try:
        items = list(read_rows(path, "auto", max_line_bytes=cap))
        return items, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", sorted(LONG_LINE_FILES))
@pytest.mark.parametrize("size", [CAP + 1, 64 * CAP])
def test_a_line_over_the_cap_is_one_problem_and_memory_follows_the_cap(tmp_path: Path, name: str, size: int) -> None:
    before, after, rows = LONG_LINE_FILES[name]
    path = _write(tmp_path / name, before + b"x" * size + after)
    items, peak = _peak_while_reading(path, CAP)
    (problem,) = [item for item in items if isinstance(item, Problem)]
    line = before.count(b"\n") + 1
    assert (problem.category, problem.line) == (P.LINE_TOO_LONG, line)
    assert problem.message.startswith(f"line {line} of {path} is longer than 64 KiB")
    assert [r.line for r in items if isinstance(r, Record)] == rows  # one row lost, not the rest of the file
    # a few copies of the cap at most (the line read up to the cap, the next chunk), never the 4 MiB line
    assert peak < 8 * CAP, f"{peak:,} bytes held reading a {size:,}-byte line (cap {CAP:,})"


def test_a_line_at_the_cap_is_a_row(tmp_path: Path) -> None:
    row = b'{"a": "' + b"x" * (CAP - 10) + b'"}'
    path = _write(tmp_path / "d.jsonl", row + b"\n" * (CAP - len(row)))  # line 1 ends exactly at the cap
    (first,) = [item for item in read_rows(path, "auto", max_line_bytes=CAP) if item is not None][:1]
    assert isinstance(first, Record) and len(first.data["a"]) == CAP - 10
