"""check_data: every bad row reported at its line, dataset warnings, splits, on_error."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hone.config.schema import ClassifyConfig
from hone.data import check as data_check
from hone.data import problems as P
from hone.data.check import CheckResult
from hone.data.problems import DataError
from hone.tasks import spec_for

GOOD = "good"  # marks a chunk that must yield a usable example and no problem at all


def check_data(config: Any, tokenizer: Any = None) -> CheckResult:
    """The data check with the config's own task spec (the data layer takes the spec from its caller)."""
    return data_check.check_data(config, tokenizer, spec=spec_for(config.task))


def _config(train: Path, **data: Any) -> ClassifyConfig:
    return ClassifyConfig.model_validate({"data": {"train": train, **data}})


def _build(path: Path, chunks: list[tuple[bytes, str | set[str] | None]]) -> dict[int, Any]:
    """Write the chunks; return {line where each chunk starts: expected categories or GOOD}."""
    expected: dict[int, Any] = {}
    line = 1
    for data, what in chunks:
        if what is not None:
            expected[line] = what
        line += data.count(b"\n")
    path.write_bytes(b"".join(data for data, _ in chunks))
    return expected


def _jsonl(text: str, label: str = "pos") -> bytes:
    return json.dumps({"text": text, "label": label}).encode() + b"\n"


def _good_rows(kind: str, n: int) -> list[tuple[bytes, str]]:
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima".split()
    rows = []
    for i in range(n):
        text, label = f"{kind} {words[i]} example", "pos" if i % 2 else "neg"
        row = _jsonl(text, label) if kind == "json" else f"{text},{label}\n".encode()
        rows.append((row, GOOD))
    return rows


def _assert_exact(result: CheckResult, expected: dict[int, Any]) -> None:
    want = {
        (line, cat)
        for line, what in expected.items()
        if what != GOOD
        for cat in ({what} if isinstance(what, str) else what)
    }
    got = {(p.line, p.category) for p in result.errors()}
    assert got == want
    good_lines = {line for line, what in expected.items() if what == GOOD}
    assert [str(p) for p in result.problems if p.line in good_lines] == []
    usable = {ex.line for exs in result.splits.values() for ex in exs}
    assert usable == good_lines


JSONL_DEFECTS: list[tuple[bytes, str | set[str] | None]] = [
    (b'{"text": "truncated object", "label": "pos"\n', P.INVALID_JSON),
    (b"{text: 'single quotes', label: pos}\n", P.INVALID_JSON),
    (b'{"text": "raw\ttab in a string", "label": "pos"}\n', P.INVALID_JSON),
    (b'{"text": "trailing comma", "label": "pos",}\n', P.INVALID_JSON),
    (b"[" * 100_000 + b"\n", P.INVALID_JSON),
    (b'["an", "array", "row"]\n', P.NON_OBJECT),
    (b"42\n", P.NON_OBJECT),
    (b'"just a string"\n', P.NON_OBJECT),
    (b"null\n", P.NON_OBJECT),
    (b'{"text": "nan score", "label": "pos", "score": NaN}\n', P.NON_STANDARD_JSON),
    (b'{"text": "inf score", "label": "pos", "score": Infinity}\n', P.NON_STANDARD_JSON),
    (b'{"text": "dup key", "text": "dup key 2", "label": "pos"}\n', P.NON_STANDARD_JSON),
    (b'{"text": "caf\xe9 in latin-1", "label": "pos"}\n', P.ENCODING),
    (b'{"text": "lone \\ud800 surrogate", "label": "pos"}\n', P.ENCODING),
    (b'{"label": "pos"}\n', P.MISSING_FIELD),
    (b'{"text": "no label at all"}\n', P.MISSING_FIELD),
    (b"{}\n", P.MISSING_FIELD),
    (b'{"text": "", "label": "pos"}\n', P.EMPTY_FIELD),
    (b'{"text": " \\t\\n ", "label": "pos"}\n', P.EMPTY_FIELD),
    (b'{"text": "empty label", "label": ""}\n', P.EMPTY_FIELD),
    (b'{"text": 123, "label": "pos"}\n', P.WRONG_TYPE),
    (b'{"text": "dict label", "label": {"a": 1}}\n', P.WRONG_TYPE),
    (b'{"text": "list label", "label": ["pos"]}\n', P.WRONG_TYPE),
    (b'{"text": "null label", "label": null}\n', P.WRONG_TYPE),
    (b'{"text": "bool label", "label": true}\n', P.WRONG_TYPE),
    (b'{"text": "unknown label", "label": "maybe"}\n', P.UNKNOWN_LABEL),
    (b'{"text": 5, "label": null}\n', P.WRONG_TYPE),
]


def test_jsonl_corpus_reports_exactly_the_bad_lines(tmp_path: Path) -> None:
    good = _good_rows("json", 12)
    chunks: list[tuple[bytes, str | set[str] | None]] = [
        (b"\xef\xbb\xbf" + _jsonl("bom first row", "neg"), GOOD),
        (_jsonl("crlf row", "pos")[:-1] + b"\r\n", GOOD),
        (b"\n", None),
        (b"   \r\n", None),
        (_jsonl("huge " * 600_000, "neg"), GOOD),
        (_jsonl("emoji \U0001f600 and line sep \u2028 inside"), GOOD),
        (b'{"text": "escaped pair \\ud83d\\ude00", "label": "neg"}\n', GOOD),
    ]
    for i, defect in enumerate(JSONL_DEFECTS):
        chunks += [defect, good[i % len(good)]] if i < len(good) else [defect]
    chunks.append((_jsonl("last row without newline", "pos")[:-1], GOOD))
    expected = _build(tmp_path / "train.jsonl", chunks)
    result = check_data(_config(tmp_path / "train.jsonl", labels=["pos", "neg"], on_error="skip"))
    _assert_exact(result, expected)
    assert result.stats["files"][str(tmp_path / "train.jsonl")]["rows"] == len(expected)
    result.raise_for_errors()  # on_error skip: no raise


CSV_DEFECTS: list[tuple[bytes, str | set[str] | None]] = [
    (b"too,many,fields\n", P.CSV_ERROR),
    (b",,,\n", P.CSV_ERROR),
    (b"too few fields\n", P.CSV_ERROR),
    (b'"one quoted field"\n', P.CSV_ERROR),
    (b'"bad"quote,pos\n', P.CSV_ERROR),
    (b'"multi\nline, then an extra",pos,extra\n', P.CSV_ERROR),
    (b",pos\n", P.EMPTY_FIELD),
    (b"   ,neg\n", P.EMPTY_FIELD),
    (b"no label,\n", P.EMPTY_FIELD),
    (b",\n", P.EMPTY_FIELD),
    (b"unknown label,maybe\n", P.UNKNOWN_LABEL),
    (b'list as label,"[""pos""]"\n', P.UNKNOWN_LABEL),
    (b"caf\xe9 latin-1,pos\n", P.ENCODING),
    (b'"multi line with\na bad \xff byte",pos\n', P.ENCODING),
    (b"label in \xfe,pos\xff\n", P.ENCODING),
    (b"ok text,\x80\n", P.ENCODING),
]


def test_csv_corpus_reports_exactly_the_bad_lines(tmp_path: Path) -> None:
    good = _good_rows("csv", 12)
    chunks: list[tuple[bytes, str | set[str] | None]] = [
        (b"\xef\xbb\xbftext,label\r\n", None),
        (b"crlf row,pos\r\n", GOOD),
        (b'"multi-line\r\nquoted, with comma",neg\r\n', GOOD),
        (b"\n", None),
        (b'"embedded ""quotes"" are fine",pos\n', GOOD),
        (b'he said "hi" mid-field,neg\n', GOOD),
        (b'"' + b"huge " * 600_000 + b'",pos\n', GOOD),
        (b"  spaced label  ,  neg  \n", GOOD),
        (b'"three\nline\nfield",pos\n', GOOD),
    ]
    for i, defect in enumerate(CSV_DEFECTS):
        chunks += [defect, good[i % len(good)]] if i < len(good) else [defect]
    chunks.append((b'"unterminated quote,pos\nswallowed,neg\nto the end,pos\n', P.CSV_ERROR))
    expected = _build(tmp_path / "train.csv", chunks)
    result = check_data(_config(tmp_path / "train.csv", labels=["pos", "neg"], on_error="skip"))
    _assert_exact(result, expected)


# --- dataset-level warnings ---------------------------------------------------------------------


def _write_jsonl(path: Path, rows: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"text": t, "label": lb}) + "\n" for t, lb in rows))
    return path


def _base_rows(n: int = 12) -> list[tuple[str, str]]:
    return [(f"distinct sentence {i} about {'cats' if i % 2 else 'dogs'}", "ab"[i % 2]) for i in range(n)]


def _warnings(result: CheckResult, category: str) -> list[tuple[int | None, str]]:
    return [(p.line, p.message) for p in result.warnings() if p.category == category]


def test_duplicates_near_duplicates_and_conflicts(tmp_path: Path) -> None:
    rows = _base_rows() + [
        ("Refund my order", "a"),  # 13
        ("Refund my order", "a"),  # 14: exact duplicate of 13
        ("refund, my   ORDER!", "a"),  # 15: near-duplicate of 13
        ("Refund my order", "b"),  # 16: conflict with 13 and 14
        ("Refund my order", "a"),  # 17: exact duplicate of 13
    ]
    train = _write_jsonl(tmp_path / "train.jsonl", rows)
    result = check_data(_config(train))
    assert not result.errors()
    dupes = _warnings(result, P.DUPLICATE)
    assert [line for line, _ in dupes] == [14, 17]
    assert all(f"duplicate of {train}:13" in message for _, message in dupes)
    ((line, message),) = _warnings(result, P.NEAR_DUPLICATE)
    assert line == 15 and f"{train}:13" in message
    conflicts = _warnings(result, P.CONFLICTING_LABELS)
    assert {line for line, _ in conflicts} >= {13, 14, 16, 17}
    assert f"{train}:16=b" in conflicts[0][1]


def test_duplicates_say_what_a_copy_does_in_its_split(tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", _base_rows() + [("distinct sentence 0 about dogs", "a")])
    test = _write_jsonl(tmp_path / "test.jsonl", [("new one", "a"), ("other", "b"), ("new one", "a")])
    dev = _write_jsonl(tmp_path / "dev.jsonl", [("a dev text", "a"), ("a dev text", "a"), ("more", "b")])
    result = check_data(_config(train, test=test, dev=dev))
    by_source = {p.source: p.message for p in result.warnings() if p.category == P.DUPLICATE}
    assert "counts twice in training" in by_source[str(train)]
    assert "training" not in by_source[str(test)] and "test score" in by_source[str(test)]
    assert "training" not in by_source[str(dev)] and "dev score" in by_source[str(dev)]


def test_leakage_from_test_and_dev_files(tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", _base_rows())
    test = _write_jsonl(tmp_path / "test.jsonl", [("new one", "a"), ("Distinct sentence 3 about CATS.", "b")])
    dev = _write_jsonl(tmp_path / "dev.jsonl", [("distinct sentence 0 about dogs", "a"), ("other", "b")])
    result = check_data(_config(train, test=test, dev=dev))
    leaks = [(p.source, p.line, p.message) for p in result.warnings() if p.category == P.LEAKAGE]
    assert [(src, line) for src, line, _ in leaks] == [(str(test), 2), (str(dev), 1)]
    assert f"{train}:4" in leaks[0][2] and f"{train}:1" in leaks[1][2]
    assert result.stats["split_from"] == {"train": "file", "dev": "file", "test": "file"}
    assert [len(result.splits[n]) for n in ("train", "dev", "test")] == [12, 2, 2]


def test_imbalance_and_too_few(tmp_path: Path) -> None:
    rows = [(f"common {i}", "big") for i in range(40)] + [
        ("rare one", "small"),
        ("rare two", "small"),
    ]
    result = check_data(_config(_write_jsonl(tmp_path / "train.jsonl", rows), imbalance_ratio=10))
    ((line, message),) = _warnings(result, P.IMBALANCE)
    assert line is None and "'big' has 40" in message and "'small' only 2" in message
    small = check_data(_config(_write_jsonl(tmp_path / "small.jsonl", _base_rows(5))))
    (too_few,) = small.errors()
    assert too_few.category == P.TOO_FEW and "only 5 usable" in too_few.message


def test_labels_differing_only_in_case_are_one_finding(tmp_path: Path) -> None:
    rows = [(f"offer number {i}", "Spam") for i in range(20)] + [(f"hello friend {i}", "ham") for i in range(20)]
    rows += [("cheap pills now", "spam"), ("win a prize", "spam"), ("lunch at noon", " Ham")]
    result = check_data(_config(_write_jsonl(tmp_path / "train.jsonl", rows)))
    found = sorted(message for line, message in _warnings(result, P.SIMILAR_LABELS))
    assert len(found) == 2 and all(line is None for line, _ in _warnings(result, P.SIMILAR_LABELS))
    spam = next(m for m in found if "'Spam'" in m)
    assert "'Spam' (20) and 'spam' (2) differ only in case" in spam and "did you mean one label" in spam
    assert f"{tmp_path / 'train.jsonl'}:41" in spam  # where the rarer spelling is, to fix it
    assert "'ham' (20) and 'Ham' (1)" in next(m for m in found if "'ham'" in m)  # the label is read stripped


def test_labels_the_model_cannot_learn(tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", _base_rows())
    test = _write_jsonl(tmp_path / "test.jsonl", [("something else", "c")])
    result = check_data(_config(train, test=test, labels=["a", "b", "c"]))
    ((line, message),) = _warnings(result, P.TOO_FEW)
    assert line is None and message.startswith("label 'c' is in data.labels but has no training")
    assert "['c'] occur in test but never in train" in _warnings(result, P.UNKNOWN_LABEL)[0][1]


def _tokenizer() -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "word": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", model_max_length=8)


def test_truncation(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # 12 texts of 3..14 words: with [CLS]/[SEP], 5..16 tokens; max_length 8 cuts those over 8.
    rows = [(" ".join(["word"] * (i + 3)) + f" n{i}", "ab"[i % 2]) for i in range(12)]
    train = _write_jsonl(tmp_path / "train.jsonl", rows)
    result = check_data(_config(train, max_length=8), tokenizer=_tokenizer())
    tokens = result.stats["tokens"]
    assert (tokens["min"], tokens["max"], tokens["median"], tokens["p95"]) == (6, 17, 11.5, 17)
    assert tokens["truncated"] == 9 and tokens["truncated_share"] == 0.75
    ((line, message),) = _warnings(result, P.TRUNCATED)
    assert line is None and "9 of 12 examples (75.0%)" in message
    assert f"{train}:4" in message and f"{train}:3," not in message
    assert "Token indices sequence length" not in caplog.text
    assert check_data(_config(train, max_length=8)).stats["tokens"] is None


# --- on_error, splits, report --------------------------------------------------------------------


def _with_bad_rows(tmp_path: Path) -> Path:
    path = _write_jsonl(tmp_path / "train.jsonl", _base_rows(20))
    with path.open("a") as f:
        f.write('{"text": "broken"\n{"label": "a"}\n')
    return path


def test_abort_raises_listing_rows(tmp_path: Path) -> None:
    result = check_data(_config(_with_bad_rows(tmp_path)))
    with pytest.raises(DataError) as caught:
        result.raise_for_errors()
    message = str(caught.value)
    assert "2 bad row(s)" in message and "train.jsonl:21" in message and "train.jsonl:22" in message
    assert "data.on_error: skip" in message
    assert {(p.line, p.category) for p in caught.value.problems if p.severity == "error"} == {
        (21, P.INVALID_JSON),
        (22, P.MISSING_FIELD),
    }


def test_skip_drops_bad_rows_and_keeps_them_listed(tmp_path: Path) -> None:
    result = check_data(_config(_with_bad_rows(tmp_path), on_error="skip"))
    result.raise_for_errors()
    assert sum(len(exs) for exs in result.splits.values()) == 20
    assert len(result.errors()) == 2
    assert any("skipped" in line for line in result.summary_lines())


def test_dataset_errors_raise_even_when_skipping(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "train.jsonl", _base_rows(6))
    with path.open("a") as f:
        f.write("not json\n")
    result = check_data(_config(path, on_error="skip"))
    with pytest.raises(DataError, match="only 6 usable") as caught:
        result.raise_for_errors()
    assert [p.category for p in caught.value.problems] == [P.TOO_FEW]
    assert "train.jsonl:7" not in str(caught.value)  # the skipped row is not what stops the run
    assert result.summary_lines()[-1].startswith("data not usable")


def test_splits_drawn_from_train(tmp_path: Path) -> None:
    train = _write_jsonl(tmp_path / "train.jsonl", _base_rows(50))
    result = check_data(_config(train))
    assert [result.stats["splits"][n] for n in ("train", "dev", "test")] == [36, 4, 10]
    assert result.stats["split_from"] == {"train": "file", "dev": "train", "test": "train"}
    again = check_data(_config(train))
    assert [[ex.line for ex in again.splits[n]] for n in again.splits] == [
        [ex.line for ex in result.splits[n]] for n in result.splits
    ]
    test = _write_jsonl(tmp_path / "test.jsonl", [("held out a", "a"), ("held out b", "b")])
    with_test = check_data(_config(train, test=test))
    assert [with_test.stats["splits"][n] for n in ("train", "dev", "test")] == [44, 6, 2]
    assert with_test.stats["split_from"]["dev"] == "train"


def test_report_is_json_safe(tmp_path: Path) -> None:
    result = check_data(_config(_with_bad_rows(tmp_path)), tokenizer=_tokenizer())
    report = json.loads(json.dumps(result.to_json()))
    assert report["ok"] is False
    assert report["counts"]["errors"] == {P.INVALID_JSON: 1, P.MISSING_FIELD: 1}
    assert report["stats"]["rows_read"] == 22 and report["stats"]["rows_usable"] == 20
    assert report["stats"]["labels"]["train"] == {"a": 7, "b": 7}
    first = report["problems"][0]
    assert set(first) == {"category", "message", "source", "line", "field", "severity"}
    lines = result.summary_lines()
    assert all(isinstance(line, str) for line in lines)
    assert any(line.startswith("splits: train 14, dev 2, test 4") for line in lines)
    assert lines[-1].startswith("2 bad row(s): stopping")


def test_missing_data_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="missing.jsonl"):
        check_data(_config(tmp_path / "missing.jsonl"))


# --- retrieval: passages measured apart from queries ---------------------------------------------


def _pair_tokenizer() -> Any:
    """Whitespace words, BERT's markers for one text and for a pair, and no length limit of its own."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "word": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]")


def _words(n: int, tag: int) -> str:
    return " ".join(["word"] * (n - 1) + [f"w{tag}"])


def test_embed_check_reports_passages_cut_at_max_length(tmp_path: Path) -> None:
    from hone.config.schema import EmbedConfig

    # queries of 3 words (5 tokens); passages of 4 words (6 tokens) or 20 words (22 tokens): 9 of 12 long
    rows = [{"query": _words(3, i), "positive": _words(20 if i % 4 else 4, 100 + i)} for i in range(12)]
    train = tmp_path / "pairs.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"c{i}", "text": _words(30, 200 + i)}) + "\n" for i in range(4)))
    config = EmbedConfig.model_validate({"task": "embed", "data": {"train": train, "corpus": corpus, "max_length": 8}})
    result = check_data(config, tokenizer=_pair_tokenizer())
    passages, queries = result.stats["tokens"]["passages"], result.stats["tokens"]["queries"]
    assert (queries["max"], queries["truncated"]) == (5, 0)
    assert passages["distinct"] == 16 and passages["truncated"] == 13 and passages["max"] == 32
    ((line, message),) = _warnings(result, P.TRUNCATED)
    assert line is None and "81% of passages (13 of 16)" in message
    assert "raise data.max_length to about 32" in message and "split long passages" in message
    assert any("passage tokens" in line and "13 (81.2%) cut at 8" in line for line in result.summary_lines())

    short = EmbedConfig.model_validate({"task": "embed", "data": {"train": train, "max_length": 64}})
    quiet = check_data(short, tokenizer=_pair_tokenizer())
    assert quiet.stats["tokens"]["passages"]["truncated"] == 0 and not _warnings(quiet, P.TRUNCATED)


def test_rerank_check_measures_passages_against_the_room_the_query_leaves(tmp_path: Path) -> None:
    from hone.config.schema import RerankConfig

    # queries of 3 words; with max_length 16 a pair [CLS] q [SEP] p [SEP] leaves 10 words for the passage
    rows = [
        {"query": _words(3, i // 2), "passage": _words(10 if i % 2 else 11, 100 + i), "label": i % 2} for i in range(24)
    ]
    train = tmp_path / "pairs.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = RerankConfig.model_validate({"task": "rerank", "data": {"train": train, "max_length": 16}})
    result = check_data(config, tokenizer=_pair_tokenizer())
    passages = result.stats["tokens"]["passages"]
    assert passages["room"] == 12 and passages["truncated"] == 12  # the 11-word ones: 13 tokens alone
    ((_, message),) = _warnings(result, P.TRUNCATED)
    assert "50% of passages (12 of 24)" in message and "beside its query" in message and "reranked" in message
