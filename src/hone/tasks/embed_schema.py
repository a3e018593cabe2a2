"""The embed task's example contract: (query, positive, negatives) pairs, and the corpus searched at eval.

A row is `query` + `positive` (the passage that answers it) with optional hard `negative`s (a
string or a list of strings; null means none). It becomes a PairExample whose `text` is the query,
so the generic duplicate, near-duplicate and leakage checks work on queries, and whose `label_key`
is the positive, so an exact duplicate is the same query with the same positive.

The corpus is either a JSONL file of `{"id", "text"}` documents (`read_corpus`) or, when none is
given, every distinct positive and negative of the pairs (`corpus_from_pairs`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.data import problems as P
from hone.data.problems import DataError, Problem
from hone.data.read import read_rows
from hone.tasks.fields import required_text, type_name

# Row-level category of the embed contract: a negative that is the positive itself.
BAD_NEGATIVE = "bad_negative"
# Dataset-level category: one positive answers a large share of the queries.
SHARED_POSITIVE = "shared_positive"
# Corpus-level category: two documents with the same id.
DUPLICATE_ID = "duplicate_id"
EMBED_CATEGORIES = frozenset({BAD_NEGATIVE, SHARED_POSITIVE, DUPLICATE_ID})

MIN_PAIRS = 20
MAX_SHARED_POSITIVE = 0.2  # share of the examples one positive may answer before it is worth a warning
ID_HEX_CHARS = 16


@dataclass(frozen=True)
class PairExample:
    """A query, the passage that answers it, and passages that look related but do not."""

    query: str
    positive: str
    negatives: tuple[str, ...]
    source: str
    line: int

    @property
    def text(self) -> str:
        """The query: what the generic duplicate and leakage checks compare."""
        return self.query

    @property
    def labels(self) -> tuple[str, ...]:
        """No labels: retrieval has no classes to count or cover."""
        return ()

    @property
    def label_key(self) -> str:
        """The positive: an exact duplicate is the same query with the same positive."""
        return self.positive

    @property
    def stratify_key(self) -> str:
        """One group: pairs are split at random (rows of one query still stay together)."""
        return ""


@dataclass(frozen=True)
class CorpusDoc:
    """One searchable document."""

    id: str
    text: str


# --- parsing one row ----------------------------------------------------------------------------


def parse_pair_example(
    record: Mapping[str, Any],
    *,
    query_field: str = "query",
    positive_field: str = "positive",
    negative_field: str = "negative",
    source: str,
    line: int,
) -> PairExample | list[Problem]:
    """Turn one row into a PairExample, or return every problem in it."""
    found: list[Problem] = []
    query = required_text(record, query_field, "the query", source, line, found)
    positive = required_text(record, positive_field, "the passage that answers the query", source, line, found)
    negatives = _negatives(record.get(negative_field), negative_field, source, line, found)
    if positive is not None and negatives is not None:
        _check_negatives(negatives, positive, negative_field, source, line, found)
    if found or query is None or positive is None or negatives is None:
        return found
    return PairExample(query, positive, negatives, source, line)


def _negatives(value: Any, name: str, source: str, line: int, out: list[Problem]) -> tuple[str, ...] | None:
    """The row's negatives, first occurrence of each kept; None (absent or null) means none."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        message = f"{name!r} must be a string or a list of strings, got {type_name(value)}"
        out.append(Problem(P.WRONG_TYPE, message, source, line, name))
        return None
    for i, item in enumerate(items):
        where = name if isinstance(value, str) else f"{name}[{i}]"
        if not isinstance(item, str):
            out.append(Problem(P.WRONG_TYPE, f"{where} must be a string, got {type_name(item)}", source, line, name))
            return None
        if not item.strip():
            message = f"{where} is empty; give a passage that does not answer the query, or drop it"
            out.append(Problem(P.EMPTY_FIELD, message, source, line, name))
            return None
    return tuple(dict.fromkeys(items))


def _check_negatives(
    negatives: Sequence[str], positive: str, name: str, source: str, line: int, out: list[Problem]
) -> None:
    for i, negative in enumerate(negatives):
        if negative.strip() == positive.strip():
            message = f"{name}[{i}] is the positive itself; a negative must not answer the query — remove it"
            out.append(Problem(BAD_NEGATIVE, message, source, line, name))


# --- the corpus -------------------------------------------------------------------------------


def read_corpus(path: Path) -> list[CorpusDoc]:
    """Documents of a JSONL corpus file: `{"id", "text"}` per line; a missing id is the line number.

    Raises DataError listing every bad row and every repeated id, each as file:line.
    """
    docs: list[CorpusDoc] = []
    found: list[Problem] = []
    first_line: dict[str, int] = {}  # id -> the line that used it first
    for item in read_rows(Path(path), "jsonl"):
        if isinstance(item, Problem):
            found.append(item)
            continue
        doc = _doc(item.data, item.source, item.line, found)
        if doc is not None and _new_id(doc.id, item.source, item.line, first_line, found):
            docs.append(doc)
    if not docs and not found:
        found.append(Problem(P.TOO_FEW, "the corpus has no documents; add one {id, text} object per line", str(path)))
    if found:
        raise DataError(found, f"fix the corpus file {path} (one JSON object {{id, text}} per line)")
    return docs


def _doc(data: Mapping[str, Any], source: str, line: int, out: list[Problem]) -> CorpusDoc | None:
    text = required_text(data, "text", "the document text", source, line, out)
    doc_id = data.get("id", line)
    if isinstance(doc_id, bool) or not isinstance(doc_id, (str, int)):
        out.append(
            Problem(P.WRONG_TYPE, f"'id' must be a string or integer, got {type_name(doc_id)}", source, line, "id")
        )
        return None
    if isinstance(doc_id, str) and not doc_id.strip():
        out.append(Problem(P.EMPTY_FIELD, "'id' is empty; give an id or leave the key out", source, line, "id"))
        return None
    return None if text is None else CorpusDoc(str(doc_id), text)


def _new_id(doc_id: str, source: str, line: int, first_line: dict[str, int], out: list[Problem]) -> bool:
    if doc_id in first_line:
        message = f"id {doc_id!r} is already used at line {first_line[doc_id]}; give every document its own id"
        out.append(Problem(DUPLICATE_ID, message, source, line, "id"))
        return False
    first_line[doc_id] = line
    return True


def doc_id(text: str) -> str:
    """A stable id for a text: the first 16 hex characters of its SHA-1."""
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:ID_HEX_CHARS]


def corpus_from_pairs(examples: Sequence[PairExample]) -> list[CorpusDoc]:
    """Every distinct positive and negative text, in first-seen order, with content-derived ids."""
    texts = dict.fromkeys(text for ex in examples for text in (ex.positive, *ex.negatives))
    return [CorpusDoc(doc_id(text), text) for text in texts]


@dataclass(frozen=True)
class Copies:
    """The corpus's text-identical documents: one passage stored under several ids.

    Any copy of a positive answers its query as well as the positive itself does, so every copy is
    relevant (`ids`), and scoring counts the copies of one passage as one passage (`merge`), found at the
    rank of its first copy. Text is compared exactly (a copy that differs in whitespace is another text).
    """

    ids_of: dict[str, tuple[str, ...]]  # text -> every id holding it, in corpus order
    first: dict[str, str]  # id of a later copy -> id of the first copy (documents without copies are absent)

    @classmethod
    def of(cls, corpus: Sequence[CorpusDoc]) -> Copies:
        ids_of: dict[str, list[str]] = {}
        for doc in corpus:
            ids_of.setdefault(doc.text, []).append(doc.id)
        first = {later: ids[0] for ids in ids_of.values() for later in ids[1:]}
        return cls({text: tuple(ids) for text, ids in ids_of.items()}, first)

    def ids(self, text: str) -> set[str]:
        """Every id whose document is `text` (empty when the corpus does not hold it)."""
        return set(self.ids_of.get(text, ()))

    def merge(
        self, ranked: Sequence[Sequence[str]], relevant: Sequence[set[str]]
    ) -> tuple[list[list[str]], list[set[str]]]:
        """Rankings and relevant sets with each copy's id replaced by its first copy's id; a ranking keeps the
        first place of each passage (the metrics count a repeated id once)."""
        if not self.first:
            return [list(r) for r in ranked], [set(rel) for rel in relevant]
        same = self.first
        rankings = [list(dict.fromkeys(same.get(d, d) for d in ranking)) for ranking in ranked]
        return rankings, [{same.get(d, d) for d in rel} for rel in relevant]


# --- dataset-wide checks ----------------------------------------------------------------------


def pair_problems(examples: Sequence[PairExample], imbalance_ratio: float) -> list[Problem]:
    """Findings over the train pairs: too few of them, or one positive answering many queries.

    `imbalance_ratio` is part of the task-registry signature; retrieval has no classes to balance.
    """
    found: list[Problem] = []
    n = len(examples)
    if 0 < n < MIN_PAIRS:
        message = f"only {n} pair(s) in train (< {MIN_PAIRS}); add pairs or expect the tuned model to overfit"
        found.append(Problem(P.TOO_FEW, message, severity="warning"))
    counts = Counter(ex.positive for ex in examples)
    if counts:
        positive, shared = counts.most_common(1)[0]
        if shared >= 2 and shared > MAX_SHARED_POSITIVE * n:
            message = (
                f"{shared} of {n} queries ({shared / n:.0%}) share one positive ({_clip(positive)!r}); in-batch "
                "negatives then often contain the positive itself — add pairs with other positives or deduplicate"
            )
            found.append(Problem(SHARED_POSITIVE, message, severity="warning"))
    return found


def _clip(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
