"""Check a run's data before anything trains on it, and draw the missing splits.

`check_data` reads every configured file, turns rows into examples through the task's contract
(its `TaskSpec`, which the caller passes: the data layer sits below the tasks and never imports them), and
reports each unusable row as an error. It then looks at the data as a whole and
warns about what makes scores lie or training weak: duplicates and near-duplicates, one text
with conflicting labels, class imbalance, test or dev texts that also occur in train (leakage)
and texts longer than `data.max_length` tokens. Finally it draws the test/dev splits that were
not given as files. The result carries everything (examples, problems, statistics); the caller
decides whether to stop, through `CheckResult.raise_for_errors`.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from hone.config.schema import DataFiles, RunConfig
from hone.data import problems as P
from hone.data.lengths import length_stats, token_lengths
from hone.data.problems import DataError, Problem
from hone.data.read import check_data_file, read_rows
from hone.data.split import SPLITS, label_counts, normalise_text, split_examples, subsample

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

    from hone.tasks.schema_classify import TextExample
    from hone.tasks.spec import TaskSpec

MIN_TRAIN_EXAMPLES = 10
MAX_COLUMNS = 200  # field names collected per file for the "no such column" message
SHOWN = 10  # problems per severity in the printed summary, example lines in one warning
ABORT_HINT = "fix these rows, or set data.on_error: skip to drop them (each is recorded in the data report)"
SKIP_HINT = "skipping rows cannot fix this; add training examples or fix the data files"


@dataclass
class CheckResult:
    """The checked data: usable examples per split, every problem found, and statistics."""

    splits: dict[str, list[TextExample]]
    problems: list[Problem]
    stats: dict[str, Any]
    on_error: Literal["abort", "skip"] = "abort"

    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def raise_for_errors(self) -> None:
        """Raise DataError when `data.on_error` is abort and errors exist.

        Dataset-wide errors (too few examples, a single label) raise under `skip` too: dropping
        rows cannot fix them.
        """
        if fatal := self._dataset_errors():  # first: its hint must not suggest skipping rows
            raise DataError(self.problems if self.on_error == "abort" else fatal, hint=SKIP_HINT)
        if self.on_error == "abort" and self.errors():
            raise DataError(self.problems, hint=ABORT_HINT)

    def _dataset_errors(self) -> list[Problem]:
        return [p for p in self.errors() if p.line is None]

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe report: counts by severity and category, statistics, every problem."""
        return {
            "ok": not self.errors(),
            "on_error": self.on_error,
            "counts": {
                "errors": _by_category(self.errors()),
                "warnings": _by_category(self.warnings()),
            },
            "stats": self.stats,
            "problems": [p.to_json() for p in self.problems],
        }

    def summary_lines(self) -> list[str]:
        """Human-readable lines for the terminal; the full list is in `to_json()`."""
        lines = _file_lines(self.stats) + _split_lines(self.stats)
        lines += _problem_lines("error", self.errors()) + _problem_lines("warning", self.warnings())
        return lines + [self._verdict()]

    def _verdict(self) -> str:
        if self._dataset_errors():
            return f"data not usable: dataset-wide error(s) above; {SKIP_HINT}"
        rows = len({(p.source, p.line) for p in self.errors()})
        if not rows:
            return "data ok: no bad rows"
        if self.on_error == "skip":
            return f"{rows} bad row(s) skipped (data.on_error: skip); each is in the data report"
        return f"{rows} bad row(s): stopping (data.on_error: abort); {ABORT_HINT}"


def check_data(config: RunConfig, tokenizer: PreTrainedTokenizerBase | None = None, *, spec: TaskSpec) -> CheckResult:
    """Read, validate and split the configured data through the task's `spec`; with a tokenizer, also measure
    lengths."""
    data: DataFiles = config.data  # type: ignore[attr-defined]
    files = {name: path for name, path in _data_files(data).items() if path is not None}
    for name, path in files.items():  # every path first: a folder given as data.test fails before train is read
        check_data_file(path, f"data.{name}")
    problems: list[Problem] = []
    given: dict[str, list[TextExample]] = {}
    file_stats: dict[str, dict[str, Any]] = {}
    for name, path in files.items():
        given[name], file_stats[str(path)] = _read_examples(name, path, data, spec, problems)
    problems += _dataset_problems(given, data, spec, str(files["train"]))
    splits = _split(given, config)
    problems += _label_coverage(splits, data)
    stats: dict[str, Any] = {
        "files": file_stats,
        "rows_read": sum(s["rows"] for s in file_stats.values()),
        "rows_usable": sum(s["usable"] for s in file_stats.values()),
        "split_from": {name: "file" if name in files else "train" for name in SPLITS},
        "seed": _split_seed(config),
        "splits": {name: len(exs) for name, exs in splits.items()},
        "labels": {name: label_counts(exs) for name, exs in splits.items()},
        "tokens": None,
    }
    if spec.entity_counts is not None:  # labels mark spans: count the spans too, not only texts holding one
        stats["entities"] = {name: spec.entity_counts(exs) for name, exs in splits.items()}
    if tokenizer is not None:
        examples = [ex for name in SPLITS for ex in splits[name]]
        if spec.token_check is not None:
            stats["tokens"], found = spec.token_check(examples, tokenizer, data)
            problems += found
        else:
            stats["tokens"], truncated = _truncation(examples, tokenizer, data.max_length)
            problems += truncated if spec.long_inputs == "truncate" else []
        problems += spec.token_problems(examples, tokenizer)
    return CheckResult(splits=splits, problems=problems, stats=stats, on_error=data.on_error)


def _data_files(data: DataFiles) -> dict[str, Path | None]:
    return {"train": data.train, "test": data.test, "dev": data.dev}


def check_rows(
    path: Path, data: DataFiles, spec: TaskSpec, key: str = "data.train/test/dev", columns: set[str] | None = None
) -> Iterator[tuple[Any | None, list[Problem]]]:
    """Per data row of `path`: (its example, or None when unusable; the row's problems, errors and warnings).

    This is the streaming part of `check_data`: it holds one row at a time, so its memory does not grow
    with the file (tests/test_data_corpus.py measures it). `check_data` then keeps every usable example,
    which the dataset-wide checks and the splits need. `columns`, when given, collects the field names the
    rows hold (up to `MAX_COLUMNS`), for the message when a configured field is in no row at all.
    """
    for item in read_rows(path, data.format, key):
        if isinstance(item, Problem):
            yield None, [item]
            continue
        if columns is not None and len(columns) < MAX_COLUMNS and isinstance(item.data, dict):
            columns.update(k for k in item.data if isinstance(k, str))
        parsed = spec.parse(item.data, data, item.source, item.line)
        if isinstance(parsed, list):
            yield None, parsed
        else:
            yield parsed, spec.example_warnings(parsed)


def _read_examples(
    name: str, path: Path, data: DataFiles, spec: TaskSpec, problems: list[Problem]
) -> tuple[list[TextExample], dict[str, Any]]:
    """Usable examples of one file; its bad rows are appended to `problems`."""
    rows = 0
    examples: list[TextExample] = []
    columns: set[str] = set()
    found_here: list[Problem] = []
    for example, found in check_rows(path, data, spec, f"data.{name}", columns):
        rows += 1
        found_here.extend(found)
        if example is not None:
            examples.append(example)
    problems.extend(_absent_columns(found_here, rows, columns, path, data))
    return examples, {"split": name, "rows": rows, "usable": len(examples)}


def _absent_columns(found: list[Problem], rows: int, columns: set[str], path: Path, data: DataFiles) -> list[Problem]:
    """`found`, with a field missing from every row of the file said once for the file (with the columns it has)
    instead of once per row: 1,200 identical lines hide the one fact that matters, and the fix is one setting."""
    missing = Counter(p.field for p in found if p.category == P.MISSING_FIELD and p.line is not None)
    absent = {f for f, n in missing.items() if f is not None and n >= rows > 0}
    if not absent:
        return found
    kept = [p for p in found if not (p.category == P.MISSING_FIELD and p.field in absent)]
    return [_absent(field, rows, columns, path, data) for field in sorted(absent)] + kept


def _absent(field: str, rows: int, columns: set[str], path: Path, data: DataFiles) -> Problem:
    setting = next((f"data.{k}" for k, v in data if k.endswith("_field") and v == field), None)
    have = ", ".join(sorted(columns)) or "(none)"
    guess = difflib.get_close_matches(field, sorted(columns), n=1, cutoff=0.5)
    if guess:
        fix = f"did you mean {guess[0]!r}? set {setting or 'the field name'}: {guess[0]}"
    else:
        fix = f"set {setting} to one of them" if setting else "rename the column or the field"
    message = f"no column {field!r} in {path.name} (in none of its {rows:,} rows); its columns are: {have} — {fix}"
    return Problem(P.MISSING_FIELD, message, str(path), None, field)


def _split(given: dict[str, list[TextExample]], config: RunConfig) -> dict[str, list[TextExample]]:
    """Given files pass through; a missing test or dev split is drawn from train."""
    share = config.data.split  # type: ignore[attr-defined]
    test = 0.0 if "test" in given else share.test
    dev = 0.0 if "dev" in given else share.dev
    if not test and not dev:
        splits = {name: given.get(name, []) for name in SPLITS}
    else:
        splits = split_examples(given["train"], test, dev, share.stratify, _split_seed(config))
        for name in ("test", "dev"):
            if name in given:
                splits[name] = given[name]
    if share.train_fraction < 1:
        splits["train"] = subsample(splits["train"], share.train_fraction, config.seed, share.stratify)
    return splits


def _split_seed(config: RunConfig) -> int:
    pinned = config.data.split.seed  # type: ignore[attr-defined]
    return config.seed if pinned is None else pinned


# --- dataset-level findings -------------------------------------------------------------------


def _dataset_problems(
    given: dict[str, list[TextExample]], data: DataFiles, spec: TaskSpec, train_source: str
) -> list[Problem]:
    norms = {name: [normalise_text(ex.text) for ex in exs] for name, exs in given.items()}
    found: list[Problem] = []
    for name, exs in given.items():
        found += duplicate_problems(exs, norms[name], name)
    found += spec.label_problems(given["train"], data.imbalance_ratio)
    found += _leakage(given, norms)
    if len(given["train"]) < MIN_TRAIN_EXAMPLES:
        found.append(
            Problem(
                P.TOO_FEW,
                f"only {len(given['train'])} usable training example(s); at least "
                f"{MIN_TRAIN_EXAMPLES} are needed (and about 100 per label to learn well) — "
                "add examples or fix the bad rows",
                train_source,
            )
        )
    return found


# What an exact copy does in each split it can be found in.
COPY_EFFECT = {
    "train": "a copy counts twice in training",
    "dev": "a copy counts twice in the dev score that picks the best checkpoint",
    "test": "a copy is scored twice, so it weighs double in the test score and its interval",
}


def duplicate_problems(examples: Sequence[TextExample], norms: Sequence[str], split: str = "train") -> list[Problem]:
    """Warn at every later copy of a text in one split's file: exact (same text and labels) or near (same normal
    form).

    A later row with the same text but other labels is left to the conflicting-labels check.
    """
    exact: dict[tuple[str, str], TextExample] = {}
    near: dict[str, TextExample] = {}
    found: list[Problem] = []
    for ex, norm in zip(examples, norms, strict=True):
        first = exact.setdefault((ex.text, ex.label_key), ex)
        if first is not ex:
            found.append(
                _warning(
                    P.DUPLICATE,
                    f"duplicate of {_where(first)} (same text and label); remove one — {COPY_EFFECT[split]}",
                    ex,
                )
            )
            continue
        other = near.setdefault(norm, ex)
        if other is not ex and other.text != ex.text:
            found.append(_warning(P.NEAR_DUPLICATE, _near_message(other, ex), ex))
    return found


def _near_message(first: TextExample, ex: TextExample) -> str:
    message = f"near-duplicate of {_where(first)}: the texts differ only in case, spacing or punctuation"
    if first.label_key != ex.label_key:
        message += f"; the labels differ too ({first.label_key!r} vs {ex.label_key!r}) — decide on one"
    return message


def _leakage(given: dict[str, list[TextExample]], norms: dict[str, list[str]]) -> list[Problem]:
    """Test or dev texts whose normal form also occurs in train: their scores would be inflated."""
    train: dict[str, TextExample] = {}
    for ex, norm in zip(given["train"], norms["train"], strict=True):
        train.setdefault(norm, ex)
    found: list[Problem] = []
    for name in ("test", "dev"):
        for ex, norm in zip(given.get(name, []), norms.get(name, []), strict=True):
            if norm in train:
                effect = (
                    "evaluation leaves it out of the test score (eval.leaked: exclude, the default)"
                    if name == "test"
                    else "it inflates the dev score that picks the checkpoint — remove it from one of the files"
                )
                message = f"this {name} text is also in train at {_where(train[norm])}; {effect}"
                found.append(_warning(P.LEAKAGE, message, ex))
    return found


def _label_coverage(splits: dict[str, list[TextExample]], data: DataFiles) -> list[Problem]:
    """Labels the model cannot learn: declared but absent from train, or only in test/dev."""
    if not splits["train"]:
        return []  # already an error: too few training examples
    train_labels = {label for ex in splits["train"] for label in ex.labels}
    missing = [label for label in data.labels or [] if label not in train_labels]
    found = [
        Problem(
            P.TOO_FEW,
            f"label {label!r} is in data.labels but has no training examples; add some or remove it from data.labels",
            severity="warning",
        )
        for label in missing
    ]
    for name in ("test", "dev"):
        unseen = sorted({label for ex in splits[name] for label in ex.labels} - train_labels)
        if unseen:
            message = (
                f"label(s) {unseen} occur in {name} but never in train; "
                "the model cannot predict them — add training examples"
            )
            found.append(Problem(P.UNKNOWN_LABEL, message, severity="warning"))
    return found


# --- token lengths ----------------------------------------------------------------------------


def _truncation(
    examples: list[TextExample], tokenizer: PreTrainedTokenizerBase, max_length: int
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Length statistics, and one warning when some examples exceed `max_length` tokens."""
    lengths = token_lengths([ex.text for ex in examples], tokenizer)
    if not lengths:
        return None, []
    long = [ex for ex, n in zip(examples, lengths, strict=True) if n > max_length]
    stats = {
        **length_stats(lengths),
        "max_length": max_length,
        "truncated": len(long),
        "truncated_share": len(long) / len(lengths),
    }
    if not long:
        return stats, []
    shown = ", ".join(_where(ex) for ex in long[:SHOWN]) + (", ..." if len(long) > SHOWN else "")
    message = (
        f"{len(long)} of {len(lengths)} examples ({len(long) / len(lengths):.1%}) are longer than "
        f"data.max_length={max_length} tokens and will be cut (e.g. {shown}); raise "
        f"data.max_length (longest: {stats['max']}, p95: {stats['p95']}) or shorten the texts"
    )
    return stats, [Problem(P.TRUNCATED, message, severity="warning")]


# --- helpers for messages and the summary -----------------------------------------------------


def _warning(category: str, message: str, ex: TextExample) -> Problem:
    return Problem(category, message, ex.source, ex.line, severity="warning")


def _where(ex: TextExample) -> str:
    return f"{ex.source}:{ex.line}"


def _by_category(problems: list[Problem]) -> dict[str, int]:
    return dict(sorted(Counter(p.category for p in problems).items()))


def _file_lines(stats: dict[str, Any]) -> list[str]:
    return [f"{s['split']}: {src}: {s['rows']:,} row(s), {s['usable']:,} usable" for src, s in stats["files"].items()]


def _split_lines(stats: dict[str, Any]) -> list[str]:
    sizes = ", ".join(f"{name} {stats['splits'][name]:,}" for name in SPLITS)
    drawn = [name for name in ("test", "dev") if stats["split_from"][name] == "train"]
    origin = f" ({' and '.join(drawn)} drawn from train, seed {stats['seed']})" if drawn else ""
    lines = [f"splits: {sizes}{origin}"]
    if "entities" in stats:
        entities, holding = _counts(stats["entities"]["train"]), _counts(stats["labels"]["train"])
        lines.append(f"entities in train, per type: {entities}; sentences with at least one: {holding}")
    elif stats["labels"]["train"]:
        lines.append(f"labels in train: {_counts(stats['labels']['train'])}")
    tokens = stats["tokens"]
    if tokens and "summary" in tokens:  # a task's own token check says what matters for it
        lines += tokens["summary"]
    elif tokens:
        lines.append(
            f"tokens: min {tokens['min']}, median {tokens['median']:g}, p95 {tokens['p95']}, "
            f"max {tokens['max']}; {tokens['truncated']:,} ({tokens['truncated_share']:.1%}) "
            f"longer than max_length {tokens['max_length']}"
        )
    return lines


def _counts(counts: dict[str, int]) -> str:
    """ "a 12, b 3, ... 4 more": the most frequent first."""
    ranked = sorted(counts.items(), key=lambda kv: -kv[1])
    more = f", ... {len(ranked) - SHOWN} more" if len(ranked) > SHOWN else ""
    return ", ".join(f"{k} {v:,}" for k, v in ranked[:SHOWN]) + more or "none"


def _problem_lines(kind: str, problems: list[Problem]) -> list[str]:
    if not problems:
        return []
    counts = ", ".join(f"{cat} {n:,}" for cat, n in _by_category(problems).items())
    lines = [f"{kind}s: {len(problems):,} ({counts})"]
    lines += [f"  {p}" for p in problems[:SHOWN]]
    if len(problems) > SHOWN:
        lines.append(f"  ... and {len(problems) - SHOWN:,} more in the data report")
    return lines
