"""Gather the answers to compare: generation runs, their prompting baselines, and external JSONL files.

A *system* is one source of answers: `<run>` (the tuned model of a run directory, answering its test
split), `<run>:<baseline>` (a baseline stored in the run's baseline.json, e.g. `chat:zero_shot`), or a
`system` named in an `--outputs` file of {"system", "prompt_id", "prompt", "output"[, "reference"]} rows.
Prompts are matched by their text where a row has one, else by `prompt_id`, so an external file joins the
runs by putting the same prompt text in its rows.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from hone.grammar import article


@dataclass(frozen=True)
class Output:
    """One system's answer to one prompt."""

    system: str
    prompt_id: str
    prompt: str
    output: str
    reference: str | None = None


@dataclass
class Systems:
    """Every system's answers, by system and prompt id, and where each system came from."""

    outputs: dict[str, dict[str, Output]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def add(self, system: str, source: str, rows: Sequence[Output]) -> None:
        if system in self.outputs:
            raise ValueError(f"system {system!r} comes twice ({self.sources[system]} and {source}); rename one")
        self.outputs[system] = {o.prompt_id: o for o in rows}
        self.sources[system] = source

    @property
    def names(self) -> list[str]:
        return list(self.outputs)

    def prompt_ids(self) -> list[str]:
        """Every prompt answered by at least two systems, in first-seen order."""
        seen: dict[str, int] = {}
        for answers in self.outputs.values():
            for pid in answers:
                seen[pid] = seen.get(pid, 0) + 1
        return [pid for pid, n in seen.items() if n >= 2]

    def partial_overlaps(self) -> list[str]:
        """One line per pair of systems that share only some of their prompts (judged on those only)."""
        lines = []
        for x, y in combinations(self.names, 2):
            mine, theirs = self.outputs[x].keys(), self.outputs[y].keys()
            if mine != theirs:
                shared = len(mine & theirs)
                lines.append(f"{x} and {y} share {shared} of {len(mine)}/{len(theirs)} prompts; judged on those")
        return lines

    def reference(self, prompt_id: str) -> str | None:
        return next((a[prompt_id].reference for a in self.outputs.values() if prompt_id in a), None)

    def prompt(self, prompt_id: str) -> str:
        return next(a[prompt_id].prompt for a in self.outputs.values() if prompt_id in a)


@dataclass(frozen=True)
class Pair:
    """Two systems' answers to one prompt; `shown_first` is the system shown as answer A."""

    prompt_id: str
    a: str
    b: str
    shown_first: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.prompt_id, self.a, self.b)


def prompt_key(prompt: str) -> str:
    """16 hex characters identifying a prompt's text (the same prompt in two runs gets the same id)."""
    return hashlib.sha256(prompt.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def render_prompt(model_input: Any) -> str:
    """A model input as text: a string as is, a conversation as its one user turn or `role: content` lines."""
    if isinstance(model_input, str):
        return model_input
    messages = list(model_input)
    if len(messages) == 1 and messages[0]["role"] == "user":
        return messages[0]["content"]
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def gather(runs: Sequence[Path], files: Sequence[Path], cache: Path | None = None) -> Systems:
    """All systems of `runs` (tuned + baselines) and of `files`, aligned, checked to share prompts."""
    systems = Systems()
    for run in runs:
        for name, source, rows in run_systems(Path(run), cache):
            systems.add(name, source, rows)
    for path in files:
        for name, rows in read_outputs_file(Path(path)).items():
            systems.add(name, str(path), rows)
    _align(systems)
    check_overlap(systems)
    return systems


def _align(systems: Systems) -> None:
    """Give every answer to the same prompt text the same id: the first id seen for that text."""
    by_text: dict[str, str] = {}
    for name, answers in systems.outputs.items():
        aligned = {}
        for o in answers.values():
            pid = by_text.setdefault(o.prompt, o.prompt_id) if o.prompt else o.prompt_id
            aligned[pid] = Output(o.system, pid, o.prompt, o.output, o.reference)
        systems.outputs[name] = aligned


def check_overlap(systems: Systems) -> None:
    """Every pair of systems must answer some prompt in common, else no judgment relates them."""
    if len(systems.outputs) < 2:
        found = ", ".join(systems.names) or "none"
        raise ValueError(
            f"compare needs at least two systems; found {found}. Pass more runs, a run with baseline.json "
            "(`hone baseline`), or --outputs FILE.jsonl"
        )
    for x, y in combinations(systems.names, 2):
        shared = systems.outputs[x].keys() & systems.outputs[y].keys()
        if not shared:
            raise ValueError(
                f"{x} ({systems.sources[x]}, {len(systems.outputs[x])} prompts) and {y} ({systems.sources[y]}, "
                f"{len(systems.outputs[y])} prompts) share 0 prompts; compare answers to the same test "
                "prompts (same data, same split seed) or the same prompt text in --outputs rows"
            )


def plan_pairs(
    systems: Systems, seed: int, pairs_per_prompt: int | None = None, limit: int | None = None
) -> list[Pair]:
    """Every pair of systems on every prompt both answered (or a seeded sample), in a seeded random order.

    Which system is shown first is drawn per pair, so position bias averages out.
    """
    rng = random.Random(seed)
    pairs = []
    for pid in systems.prompt_ids():
        names = sorted(n for n in systems.names if pid in systems.outputs[n])
        candidates = list(combinations(names, 2))
        if pairs_per_prompt is not None and pairs_per_prompt < len(candidates):
            candidates = rng.sample(candidates, pairs_per_prompt)
        pairs += [Pair(pid, a, b, rng.choice((a, b))) for a, b in candidates]
    rng.shuffle(pairs)
    return pairs[:limit] if limit is not None else pairs


# --- run directories ---------------------------------------------------------------------------------


def run_systems(run_path: Path, cache: Path | None = None) -> list[tuple[str, str, list[Output]]]:
    """A generation run's tuned answers on its test split, then one system per text baseline in baseline.json."""
    from hone.pipeline import Run

    run = Run(run_path)
    name = run.path.name
    test, task = _test_split(run)
    prompts = [render_prompt(getattr(ex, "input", ex.text)) for ex in test]
    gold = task.gold(test)
    if not test or not isinstance(gold[0], str):
        kind = type(gold[0]).__name__ if test else "nothing (an empty test split)"
        raise ValueError(
            f"{run.path}: {article(task.name)} run answers with {kind}, not text; "
            "compare judges generated text (instruct runs, or --outputs files)"
        )
    references = [ref if isinstance(ref, str) else None for ref in gold]

    def rows(system: str, answers: Sequence[Any]) -> list[Output]:
        return [
            Output(system, prompt_key(p), p, _as_text(a), r)
            for p, a, r in zip(prompts, answers, references, strict=True)
        ]

    found = []
    if run.dir.model.exists():
        from hone.train.setup import compute_threads

        with compute_threads(run.config.train.threads):
            found.append((name, str(run.path), rows(name, _tuned_answers(run, test, task, cache))))
    for method, answers in _baseline_answers(run, len(test)).items():
        found.append((f"{name}:{method}", f"{run.dir.baseline}", rows(f"{name}:{method}", answers)))
    return found


def _test_split(run: Any) -> tuple[list[Any], Any]:
    """The run's test examples, re-read from its data (nothing written), checked against its manifest."""
    from hone.data.split import example_hash
    from hone.pipeline import check
    from hone.tasks import spec_for

    cfg = run.config
    splits = check(cfg).splits
    test = splits["test"]
    if run.dir.manifest.exists():
        recorded = [e["hash"] for e in json.loads(run.dir.manifest.read_text(encoding="utf-8"))["splits"]["test"]]
        if recorded != [example_hash(ex) for ex in test]:
            raise ValueError(
                f"{run.dir.manifest}: the test split recorded there differs from the data now; restore the "
                "data files or evaluate the run again"
            )
    task = spec_for(cfg.task).task.from_config(cfg, [ex for split in splits.values() for ex in split])
    return test, task


def _as_text(answer: Any) -> str:
    return answer if isinstance(answer, str) else json.dumps(answer, ensure_ascii=False, sort_keys=True)


def _baseline_answers(run: Any, n: int) -> dict[str, list[Any]]:
    if not run.dir.baseline.exists():
        return {}
    stored = json.loads(run.dir.baseline.read_text(encoding="utf-8"))
    if stored.get("n") != n:
        raise ValueError(
            f"{run.dir.baseline}: n={stored.get('n')} but the test split has {n}; run `hone baseline` again"
        )
    return {method: b["predictions"] for method, b in stored["baselines"].items() if "predictions" in b}


def _tuned_answers(run: Any, test: list[Any], task: Any, cache: Path | None) -> list[Any]:
    """Stored predictions (eval.json "predictions"), cached ones from an earlier compare, or generated now."""
    if run.dir.eval.exists():
        stored = json.loads(run.dir.eval.read_text(encoding="utf-8")).get("predictions")
        if isinstance(stored, list) and len(stored) == len(test):
            return stored
    stamp = _model_stamp(run.dir.model)
    cached = _read_cache(cache, str(run.path), stamp, len(test))
    if cached is not None:
        return cached
    from hone.tasks.base import model_inputs

    answers, _ = run.predictor(task=task).predict(model_inputs(test))
    _write_cache(cache, str(run.path), stamp, list(answers))
    return list(answers)


def _model_stamp(model_dir: Path) -> str:
    """Changes whenever the model's files do: names, sizes and modification times."""
    parts = sorted(f"{p.name}:{s.st_size}:{s.st_mtime_ns}" for p in model_dir.rglob("*") if (s := p.stat()))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def _read_cache(cache: Path | None, source: str, stamp: str, n: int) -> list[Any] | None:
    if cache is None or not (cache / "generated.jsonl").exists():
        return None
    for line in (cache / "generated.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["source"] == source and row["stamp"] == stamp and len(row["answers"]) == n:
            return row["answers"]
    return None


def _write_cache(cache: Path | None, source: str, stamp: str, answers: list[Any]) -> None:
    if cache is None:
        return
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / "generated.jsonl").open("a", encoding="utf-8") as f:
        f.write(json.dumps({"source": source, "stamp": stamp, "answers": answers}) + "\n")


# --- external files ----------------------------------------------------------------------------------

REQUIRED = ("system", "output")


def read_outputs_file(path: Path) -> dict[str, list[Output]]:
    """Rows of {"system", "prompt_id" or "prompt", "output"[, "reference"]} by system; bad rows name their line."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such outputs file")
    found: dict[str, list[Output]] = {}
    for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = _parse_row(path, line_no, line)
        found.setdefault(row.system, []).append(row)
    if not found:
        raise ValueError(f"{path}: no rows; write one JSON object per line with system, prompt_id, prompt, output")
    return found


def _parse_row(path: Path, line_no: int, line: str) -> Output:
    where = f"{path}:{line_no}"
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{where}: not JSON ({exc.msg}); write one JSON object per line") from None
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
    missing = [k for k in REQUIRED if not isinstance(row.get(k), str)]
    if missing or not (isinstance(row.get("prompt_id"), str) or isinstance(row.get("prompt"), str)):
        fields = missing or ["prompt_id or prompt"]
        raise ValueError(f"{where}: field {', '.join(fields)} missing or not a string")
    prompt = row.get("prompt") or ""
    reference = row.get("reference")
    return Output(row["system"], row.get("prompt_id") or prompt_key(prompt), prompt, row["output"], reference)


def write_outputs(systems: Systems, path: Path) -> None:
    """Every gathered answer as an --outputs file (what was judged, reusable as input)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(asdict(o), ensure_ascii=False) for answers in systems.outputs.values() for o in answers.values()
    ]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
