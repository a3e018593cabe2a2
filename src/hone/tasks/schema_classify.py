"""The classify task's example contract: which fields a row needs, their types, and label checks."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hone.config.schema import DataConfig
from hone.data import problems as P
from hone.data.problems import Problem
from hone.tasks.fields import required_text, type_name


@dataclass(frozen=True)
class TextExample:
    """One labelled text. `labels` holds one label unless the run is multi-label."""

    text: str
    labels: tuple[str, ...]
    source: str
    line: int

    @property
    def label(self) -> str:
        return self.labels[0]

    @property
    def stratify_key(self) -> str:
        return self.label_key

    @property
    def label_key(self) -> str:
        """A single string naming the label set, for stratification and conflict checks."""
        return "|".join(sorted(self.labels))


def parse_example(record: Mapping[str, Any], data: DataConfig, source: str, line: int) -> TextExample | list[Problem]:
    """Turn one row into a TextExample, or return every problem with the row's fields."""
    problems: list[Problem] = []
    text = required_text(record, data.text_field, "the text", source, line, problems, "data.text_field")
    labels = _labels(record, data, source, line, problems)
    if problems or text is None or labels is None:
        return problems
    return TextExample(text=text, labels=labels, source=source, line=line)


def _problem(category: str, message: str, source: str, line: int, field: str) -> Problem:
    return Problem(category=category, message=message, source=source, line=line, field=field)


def _labels(
    record: Mapping[str, Any], data: DataConfig, source: str, line: int, out: list[Problem]
) -> tuple[str, ...] | None:
    field = data.label_field
    if field not in record:
        out.append(
            _problem(
                P.MISSING_FIELD,
                f"no {field!r} field; each row needs its label in {field!r} (or set data.label_field)",
                source,
                line,
                field,
            )
        )
        return None
    value = record[field]
    values = _label_values(value, data.multi_label, field, source, line, out)
    if values is None:
        return None
    if data.labels is not None:
        unknown = [v for v in values if v not in data.labels]
        if unknown:
            out.append(
                _problem(
                    P.UNKNOWN_LABEL,
                    f"label(s) {unknown} not in data.labels {data.labels}; fix the row or add the label",
                    source,
                    line,
                    field,
                )
            )
            return None
    return tuple(values)


def _label_values(value: Any, multi: bool, field: str, source: str, line: int, out: list[Problem]) -> list[str] | None:
    if multi:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            out.append(
                _problem(
                    P.WRONG_TYPE,
                    f"{field!r} must be a list of strings for a multi-label run, got {type_name(value)}",
                    source,
                    line,
                    field,
                )
            )
            return None
    elif isinstance(value, bool) or not isinstance(value, (str, int)):
        out.append(
            _problem(
                P.WRONG_TYPE,
                f"{field!r} must be a string (or set data.multi_label: true for lists), got {type_name(value)}",
                source,
                line,
                field,
            )
        )
        return None
    values = [str(v).strip() for v in (value if isinstance(value, list) else [value])]
    if not values or not all(values):
        out.append(_problem(P.EMPTY_FIELD, f"{field!r} is empty; give a label or remove the row", source, line, field))
        return None
    return sorted(set(values)) if multi else values


def label_problems(examples: Sequence[TextExample], imbalance_ratio: float) -> list[Problem]:
    """Dataset-wide label findings: one text with conflicting labels, labels that differ only in case or spacing,
    and class imbalance."""
    found: list[Problem] = _similar_labels(examples)
    by_text: dict[str, list[TextExample]] = defaultdict(list)
    for ex in examples:
        by_text[" ".join(ex.text.split()).casefold()].append(ex)
    for group in by_text.values():
        keys = {ex.label_key for ex in group}
        if len(keys) > 1:
            lines = ", ".join(f"{ex.source}:{ex.line}={ex.label_key}" for ex in group)
            for ex in group:
                found.append(
                    Problem(
                        P.CONFLICTING_LABELS,
                        f"the same text has different labels ({lines}); decide on one",
                        ex.source,
                        ex.line,
                        None,
                        "warning",
                    )
                )
    counts = Counter(label for ex in examples for label in ex.labels)
    if len(counts) >= 2:
        (top, n_top), (low, n_low) = counts.most_common()[0], counts.most_common()[-1]
        if n_top >= imbalance_ratio * n_low:
            found.append(
                Problem(
                    P.IMBALANCE,
                    f"{top!r} has {n_top} examples, {low!r} only {n_low} ({n_top / n_low:.1f}x); collect more "
                    f"{low!r} examples or expect weak recall on it",
                    severity="warning",
                )
            )
    if len(counts) == 1:
        found.append(
            Problem(
                P.TOO_FEW, f"only one label ({next(iter(counts))!r}) in the data; classification needs at least two"
            )
        )
    return found


def _similar_labels(examples: Sequence[TextExample]) -> list[Problem]:
    """One warning per group of labels that are equal once case and spacing are ignored (`Spam`, `spam `): the
    model would learn them as different classes. Names where the rarer spellings first occur, to fix them."""
    counts = Counter(label for ex in examples for label in ex.labels)
    groups: dict[str, list[str]] = defaultdict(list)
    for label in counts:
        groups[" ".join(label.split()).casefold()].append(label)
    found = []
    for spellings in (g for g in groups.values() if len(g) > 1):
        spellings.sort(key=lambda label: -counts[label])
        named = " and ".join(f"{label!r} ({counts[label]})" for label in spellings)
        first = {label: next(ex for ex in examples if label in ex.labels) for label in spellings[1:]}
        where = ", ".join(f"{label!r} first at {ex.source}:{ex.line}" for label, ex in first.items())
        message = (
            f"labels {named} differ only in case or spacing; did you mean one label? As written they are "
            f"different classes. Write {spellings[0]!r} in those rows ({where}), or list the labels in data.labels "
            "to have other spellings reported row by row"
        )
        found.append(Problem(P.SIMILAR_LABELS, message, severity="warning"))
    return found
