"""What the data checks report: one Problem per defect, with where it is and what to do."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

# Row-level categories (the row cannot be used).
INVALID_JSON = "invalid_json"
NON_OBJECT = "non_object"
NON_STANDARD_JSON = "non_standard_json"  # NaN/Infinity literals, duplicate keys
ENCODING = "encoding"  # bytes that are not UTF-8, lone surrogates
CSV_ERROR = "csv_error"  # unterminated quotes, wrong column count
LINE_TOO_LONG = "line_too_long"  # a line over the reader's cap: not one row per line
MISSING_FIELD = "missing_field"
EMPTY_FIELD = "empty_field"
WRONG_TYPE = "wrong_type"
UNKNOWN_LABEL = "unknown_label"
ROLE_ORDER = "role_order"  # chat messages out of order, unknown roles, no final answer
# Dataset-level categories (warnings: the rows are usable, the data may not be).
DUPLICATE = "duplicate"
NEAR_DUPLICATE = "near_duplicate"
CONFLICTING_LABELS = "conflicting_labels"
SIMILAR_LABELS = "similar_labels"  # labels that differ only in case or spacing: most often one label typed twice
LEAKAGE = "leakage"
IMBALANCE = "imbalance"
TRUNCATED = "truncated"
TOO_FEW = "too_few"

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One defect. `line` is 1-based in `source`; both are None for dataset-wide findings."""

    category: str
    message: str
    source: str | None = None
    line: int | None = None
    field: str | None = None
    severity: Severity = "error"

    @property
    def where(self) -> str:
        if self.source is None:
            return "(dataset)"
        return f"{self.source}:{self.line}" if self.line is not None else self.source

    def __str__(self) -> str:
        field = f" [{self.field}]" if self.field else ""
        return f"{self.where}: {self.severity} {self.category}{field}: {self.message}"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class DataError(ValueError):
    """Data that cannot be trained on; carries every problem found so none is hidden."""

    def __init__(self, problems: list[Problem], hint: str = "") -> None:
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        shown = "\n".join(f"  {p}" for p in errors[:50])
        more = f"\n  ... and {len(errors) - 50} more (all in the data report)" if len(errors) > 50 else ""
        rows = len({(p.source, p.line) for p in errors if p.line is not None})
        whole = sum(p.line is None for p in errors)
        parts = [f"{rows} bad row(s)" if rows else "", f"{whole} problem(s) of whole files or splits" if whole else ""]
        counted = ", ".join(part for part in parts if part)
        super().__init__(f"{counted} in the data:\n{shown}{more}\n{hint}".rstrip())
