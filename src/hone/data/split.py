"""Deterministic train/dev/test splits, and the manifest that records them in the run directory.

A split depends only on the examples and the seed, never on file order: every example is placed
by `sha256(f"{seed}:{normalised text}")`, so texts that are equal after normalisation (case,
spacing, punctuation) always land in the same split — duplicates cannot leak from train into test.
With stratification each label set keeps its share in every split. The manifest lists each split's
rows by source, line and content hash, with a fingerprint of every input file so a later stage can
refuse to resume on data that changed.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hone.tasks.schema_classify import TextExample

SPLITS = ("train", "dev", "test")


def normalise_text(text: str) -> str:
    """The form near-duplicates share: NFKC, casefolded, punctuation removed, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold().translate(_PUNCTUATION)
    return " ".join(folded.split())


class _PunctuationTable(dict[int, int | None]):
    """A str.translate table deleting Unicode punctuation (category P*), filled on first sight.

    Filling lazily costs one lookup per distinct character instead of a scan of all 1.1M code
    points up front.
    """

    def __missing__(self, cp: int) -> int | None:
        value = None if unicodedata.category(chr(cp)).startswith("P") else cp
        self[cp] = value
        return value


_PUNCTUATION = _PunctuationTable()


@dataclass
class _Unit:
    """Examples sharing one normalised text; they move between splits together."""

    hash: str
    size: int = 0
    groups: set[str] = field(default_factory=set)


def split_examples(
    examples: Sequence[TextExample],
    test: float,
    dev: float,
    stratify: bool,
    seed: int,
    key: Callable[[TextExample], str] | None = None,
) -> dict[str, list[TextExample]]:
    """Split into train/dev/test: `test` of each group to test, `dev` of the rest to dev.

    Groups are label sets (`TextExample.label_key`) when `stratify`, one group otherwise; `key`
    replaces the grouping. Texts that normalise alike form one unit placed in one split; a unit
    whose members fall in several groups is counted in the smallest group key. Rounding keeps at
    least one example of every group of two or more in train, and gives test at least one example
    of every group with `1 / test` examples or more. Each split keeps the input order.
    """
    # A task may group by something coarser than its labels (NER: the entity types present).
    group_of = key or ((lambda ex: getattr(ex, "stratify_key", ex.label_key)) if stratify else (lambda ex: ""))
    norms = [normalise_text(ex.text) for ex in examples]
    units: dict[str, _Unit] = {}
    for ex, norm in zip(examples, norms, strict=True):
        unit = units.get(norm)
        if unit is None:
            unit = units[norm] = _Unit(_position(seed, norm))
        unit.size += 1
        unit.groups.add(group_of(ex))
    placed = _place(units, test, dev)
    out: dict[str, list[TextExample]] = {name: [] for name in SPLITS}
    for ex, norm in zip(examples, norms, strict=True):
        out[placed[norm]].append(ex)
    return out


def subsample(examples: Sequence[TextExample], fraction: float, seed: int, stratify: bool) -> list[TextExample]:
    """`fraction` of `examples` (of each label set when `stratify`, at least one of each), chosen by a seeded hash
    of the text, in input order: the same seed always picks the same rows, and a larger fraction a superset."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, ex in enumerate(examples):
        groups[str(ex.label_key) if stratify else ""].append(i)
    keep: set[int] = set()
    for members in groups.values():
        ranked = sorted(members, key=lambda i: _position(seed, f"{i}:{normalise_text(examples[i].text)}"))
        keep.update(ranked[: max(1, round(fraction * len(members)))])
    return [ex for i, ex in enumerate(examples) if i in keep]


def _position(seed: int, norm: str) -> str:
    return hashlib.sha256(f"{seed}:{norm}".encode("utf-8", "surrogatepass")).hexdigest()


def _place(units: dict[str, _Unit], test: float, dev: float) -> dict[str, str]:
    """Split name per normalised text, stratum by stratum in hash order."""
    strata: dict[str, list[tuple[str, _Unit]]] = defaultdict(list)
    for norm, unit in units.items():
        strata[min(unit.groups)].append((norm, unit))
    placed: dict[str, str] = {}
    for members in strata.values():
        members.sort(key=lambda item: item[1].hash)
        n = sum(unit.size for _, unit in members)
        n_test, n_dev = _quota(n, test, dev)
        names = _names([unit for _, unit in members], n_test, n_dev)
        placed.update((norm, name) for (norm, _), name in zip(members, names, strict=True))
    return placed


def _quota(n: int, test: float, dev: float) -> tuple[int, int]:
    """Examples of an n-example group for test and dev; n >= 2 keeps one for train."""
    n_test = _round_half_up(test * n)
    if n >= 2:
        n_test = min(n_test, n - 1)
    n_dev = _round_half_up(dev * (n - n_test))
    if n >= 2:
        n_dev = min(n_dev, n - n_test - 1)
    return n_test, max(n_dev, 0)


def _round_half_up(x: float) -> int:
    # round() rounds half to even (round(2.5) == 2); a split share should not depend on parity.
    # The epsilon absorbs float error such as 0.1 * 5 == 0.5000000000000001 or 0.7 * 5 < 3.5.
    return int(x + 0.5 + 1e-9)


def _names(units: list[_Unit], n_test: int, n_dev: int) -> list[str]:
    """Fill test, then dev, in hash order; the last unit goes to train if train is still empty."""
    names: list[str] = []
    taken = {"test": 0, "dev": 0}
    for i, unit in enumerate(units):
        if i == len(units) - 1 and i > 0 and "train" not in names:
            name = "train"
        elif taken["test"] < n_test:
            name = "test"
        elif taken["dev"] < n_dev:
            name = "dev"
        else:
            name = "train"
        taken[name] = taken.get(name, 0) + unit.size
        names.append(name)
    return names


# --- manifest ---------------------------------------------------------------------------------


def example_hash(example: TextExample) -> str:
    """16 hex characters identifying an example's text and labels."""
    content = f"{example.text}\x1f{example.label_key}".encode("utf-8", "surrogatepass")
    return hashlib.sha256(content).hexdigest()[:16]


def file_fingerprint(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def manifest(splits: dict[str, list[TextExample]], files: Iterable[Path | str] = ()) -> dict[str, Any]:
    """What each split holds (source, line, hash), label counts, and input file fingerprints.

    Fingerprints cover every source named by an example plus `files` (pass the configured data
    files so one whose rows were all unusable is still covered).
    """
    sources = {ex.source for exs in splits.values() for ex in exs} | {str(f) for f in files}
    return {
        "splits": {
            name: [{"source": ex.source, "line": ex.line, "hash": example_hash(ex)} for ex in exs]
            for name, exs in splits.items()
        },
        "counts": {name: label_counts(exs) for name, exs in splits.items()},
        "fingerprints": {src: file_fingerprint(Path(src)) for src in sorted(sources)},
    }


def label_counts(examples: Iterable[TextExample]) -> dict[str, int]:
    """Examples per label (a multi-label example counts once for each of its labels)."""
    counts = Counter(label for ex in examples for label in ex.labels)
    return dict(sorted(counts.items()))


def changed_files(recorded: dict[str, Any]) -> list[str]:
    """Files in a manifest whose bytes differ now, or that are gone; empty when all match."""
    changed = []
    for src, digest in recorded["fingerprints"].items():
        path = Path(src)
        if not path.is_file() or file_fingerprint(path) != digest:
            changed.append(src)
    return changed
