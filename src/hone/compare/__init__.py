"""`hone compare`: pairwise judgments of several systems' answers to the same prompts, and ratings from them.

Systems come from generation runs (tuned model + baselines) and `--outputs` files (`hone.compare.outputs`);
every pair of systems is judged on every shared prompt by a judge (`hone.compare.judges`, or a person in
the browser, `hone.compare.human`); Bradley–Terry ratings with bootstrap intervals and judge agreement come
from `hone.compare.ratings`. Everything lands in `<out>/`: judgments.jsonl (appended as judged),
outputs.jsonl (what was judged), compare.json and compare.html.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.compare.judges import JudgmentLog, ModelJudge, ReferenceJudge
from hone.compare.outputs import Pair, Systems, gather, plan_pairs, write_outputs

JUDGES = ("auto", "reference", "model", "human")


@dataclass
class Comparison:
    """The systems, the planned pairs, and where judgments go: everything a judge needs."""

    systems: Systems
    pairs: list[Pair]
    out: Path
    seed: int = 0
    resamples: int = 200

    @property
    def log(self) -> JudgmentLog:
        return JudgmentLog(self.out / "judgments.jsonl")

    def pending(self, judge: str) -> list[Pair]:
        """Planned pairs `judge` has not decided yet, in plan order."""
        done = self.log.decided(judge)
        return [p for p in self.pairs if p.key not in done]

    def result(self, judge: str) -> dict[str, Any]:
        """compare.json: every verdict on these systems so far, ratings from `judge`'s, agreement with humans."""
        return build_result(self, judge)

    def write(self, judge: str) -> dict[str, Any]:
        """Write compare.json and compare.html; returns the result."""
        from hone.compare.view import write_html
        from hone.runs.rundir import write_json

        result = self.result(judge)
        write_json(self.out / "compare.json", result)
        write_html(result, self.out / "compare.html")
        return result


def default_out(runs: Sequence[Path]) -> Path:
    """`<runs_dir>/compare` of the first run, else runs/compare."""
    if runs:
        from hone.pipeline import Run

        return Path(Run(runs[0]).config.runs_dir) / "compare"
    return Path("runs/compare")


def open_comparison(
    runs: Sequence[Path] = (),
    outputs: Sequence[Path] = (),
    out: Path | None = None,
    seed: int = 0,
    pairs_per_prompt: int | None = None,
    limit: int | None = None,
    resamples: int = 200,
) -> Comparison:
    """Gather every system's answers (generating a run's test answers once, cached in `out`) and plan pairs."""
    out = Path(out) if out is not None else default_out(runs)
    systems = gather([Path(r) for r in runs], [Path(f) for f in outputs], cache=out)
    write_outputs(systems, out / "outputs.jsonl")
    pairs = plan_pairs(systems, seed, pairs_per_prompt, limit)
    return Comparison(systems, pairs, out, seed, resamples)


def make_judge(
    kind: str,
    systems: Systems,
    margin: float = 0.02,
    judge_url: str | None = None,
    judge_model: str | None = None,
    api_key: str | None = None,
    timeout: float = 60.0,
    retries: int = 3,
) -> Any:
    """The judge for `--judge` (auto: reference when every prompt has a reference)."""
    if kind not in JUDGES or kind == "human":
        raise ValueError(f"--judge {kind!r}: choose one of {', '.join(JUDGES)} (human runs through `human_app`)")
    if kind == "auto":
        if all(systems.reference(pid) for pid in systems.prompt_ids()):
            kind = "reference"
        else:
            raise ValueError("some prompts have no reference answer; pick a judge: --judge model or --judge human")
    if kind == "reference":
        return ReferenceJudge(margin)
    if not judge_url or not judge_model:
        raise ValueError("--judge model needs --judge-url (e.g. http://127.0.0.1:8000/v1) and --judge-model NAME")
    return ModelJudge(judge_url, judge_model, api_key, timeout, retries)


def run_judge(comparison: Comparison, judge: Any, progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Judge every pending pair (appending each verdict as made), then write compare.json/html."""
    pending = comparison.pending(judge.name)
    judge.check(comparison.systems, pending)
    log = comparison.log
    for k, pair in enumerate(pending, 1):
        log.append(judge(pair, comparison.systems))
        if progress is not None:
            progress(k, len(pending))
    return comparison.write(judge.name)


def compare(
    runs: Sequence[Path] = (),
    outputs: Sequence[Path] = (),
    judge: str = "auto",
    out: Path | None = None,
    seed: int = 0,
    pairs_per_prompt: int | None = None,
    limit: int | None = None,
    resamples: int = 200,
    **judge_settings: Any,
) -> dict[str, Any]:
    """Compare systems with an automatic judge; `judge_settings` go to `make_judge` (margin, judge_url, ...)."""
    comparison = open_comparison(runs, outputs, out, seed, pairs_per_prompt, limit, resamples)
    return run_judge(comparison, make_judge(judge, comparison.systems, **judge_settings))


def build_result(comparison: Comparison, judge: str) -> dict[str, Any]:
    from hone.compare.ratings import agreement, ratings, win_rate  # numpy: not at `import hone` time

    systems = comparison.systems
    names = systems.names
    rows = [r for r in comparison.log.read() if r["a"] in systems.outputs and r["b"] in systems.outputs]
    decided = [r for r in rows if r.get("winner") in ("a", "b", "tie")]
    judges = list(dict.fromkeys(r["judge"] for r in rows))
    by_judge = {j: [r for r in decided if r["judge"] == j] for j in judges}
    mine = by_judge.get(judge, [])
    fields = ("prompt_id", "a", "b", "winner", "judge", "shown_first")
    return {
        "kind": "compare",
        "systems": [{"name": n, "source": systems.sources[n]} for n in names],
        "prompts": len(systems.prompt_ids()),
        "pairs_planned": len(comparison.pairs),
        "judges": judges,
        "rated_by": judge,
        "judgments": [{k: r[k] for k in fields} for r in decided],
        "unparsed": {j: _unparsed(rows, j) for j in judges if _unparsed(rows, j)},
        "ratings": ratings(names, mine, comparison.resamples, comparison.seed),
        "win_rate": win_rate(names, mine),
        "ratings_by_judge": {
            j: ratings(names, js, comparison.resamples, comparison.seed) for j, js in by_judge.items() if j != judge
        },
        "agreement": agreement(decided),
    }


def _unparsed(rows: list[dict[str, Any]], judge: str) -> int:
    """Pairs whose only replies from `judge` could not be read as a verdict."""
    decided = {(r["prompt_id"], r["a"], r["b"]) for r in rows if r["judge"] == judge and r.get("winner")}
    return len(
        {(r["prompt_id"], r["a"], r["b"]) for r in rows if r["judge"] == judge and not r.get("winner")} - decided
    )


__all__ = ["Comparison", "compare", "make_judge", "open_comparison", "run_judge"]
