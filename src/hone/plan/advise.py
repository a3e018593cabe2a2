"""`hone advise`: should this team prompt, retrieve, build an agent, or fine-tune — and is it ready to commit?

The advice is a deterministic score over five approaches. Each rule in `RULES` looks at the answers
(and a run's baseline results, when given) and adds points to one approach with the reason in words,
so the output shows why it won and why the runner-up lost. The checklist then says what a team must
have before fine-tuning is worth starting: a success metric, a baseline, clean and consistent data,
compute and time, and no red flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hone.plan.answers import Answers, Evidence, Item

APPROACHES = {
    "prompting": "prompt the base model (zero/few-shot)",
    "rag": "retrieval-augmented generation over your documents",
    "agent": "an agent that calls your tools/APIs",
    "encoder_finetune": "fine-tune a small encoder (classification, NER, embeddings, reranker)",
    "lora_finetune": "LoRA-fine-tune a small causal LM",
}
FEW_LABELS = 100  # below this, labelled data is for evaluation and few-shot prompts, not training
ENOUGH_LABELS = 500  # from here a small specialist usually beats prompting a general model
HIGH_VOLUME = 10_000  # requests a day where a small served model's cost per call dominates
TIGHT_LATENCY_MS = 300  # below this, a large hosted model's round trip rarely fits
ENCODER_TASKS = ("classify", "ner", "retrieval")
GENERATIVE_TASKS = ("extract", "generate")


@dataclass
class Advice:
    recommendation: str
    runner_up: str
    scores: dict[str, float]
    reasons: dict[str, list[str]]
    checklist: list[Item]
    assumptions: list[str] = field(default_factory=list)
    answers: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "recommendation": self.recommendation,
            "summary": APPROACHES[self.recommendation],
            "runner_up": self.runner_up,
            "scores": self.scores,
            "reasons": self.reasons,
            "checklist": [vars(i) for i in self.checklist],
            "assumptions": self.assumptions,
            "thresholds": THRESHOLDS,
            "answers": self.answers,
            "evidence": self.evidence,
        }

    def to_markdown(self) -> str:
        runner_up = f"Runner-up: {APPROACHES[self.runner_up]} ({self.scores[self.runner_up]:+g})."
        lines = [f"# Advice: {APPROACHES[self.recommendation]}", "", runner_up, ""]
        for name in sorted(self.scores, key=lambda n: -self.scores[n]):
            lines.append(f"## {APPROACHES[name]} — score {self.scores[name]:+.0f}")
            lines += [f"- {r}" for r in self.reasons[name]] or ["- nothing for or against"]
            lines.append("")
        lines.append("## Before you commit")
        for i in self.checklist:
            lines.append(f"- [{'x' if i.status == 'ok' else ' '}] **{i.name}** ({i.status}): {i.why}")
            lines += [f"  - to do: {i.action}"] if i.action else []
        if self.assumptions:
            lines += ["", "## Assumed", *[f"- {a}" for a in self.assumptions]]
        lines += ["", "## Thresholds", *[f"- {t}" for t in THRESHOLDS.values()]]
        return "\n".join(lines) + "\n"


Hit = tuple[str, float, str]  # (approach, points — negative is a reason against, the reason in words)
Rule = Callable[[Answers, Evidence | None], list[Hit]]


def _documents(a: Answers, e: Evidence | None) -> list[Hit]:
    if not a.knowledge_in_documents:
        return []
    if not a.facts_change:
        return [("rag", 2, "the facts live in documents: retrieve them at answer time")]
    stale = "facts baked into weights go stale when they change; retrain for every update"
    return [
        ("rag", 4, "the facts live in documents and change often: retrieval stays current without retraining"),
        ("lora_finetune", -2, stale),
    ]


def _qa(a: Answers, e: Evidence | None) -> list[Hit]:
    return [("rag", 3, "question answering over documents is what retrieval is for")] if a.task == "qa" else []


def _tools(a: Answers, e: Evidence | None) -> list[Hit]:
    if not a.needs_tools:
        return []
    return [("agent", 8, "the job needs actions or live data from tools/APIs: no fine-tune supplies those")]


def _few_labels(a: Answers, e: Evidence | None) -> list[Hit]:
    if a.labelled_examples >= FEW_LABELS:
        return []
    why = f"{a.labelled_examples} labelled examples (< {FEW_LABELS})"
    return [
        ("prompting", 4, f"{why}: use them to test prompts and as few-shot examples; label more before training"),
        ("encoder_finetune", -2, f"{why}: too few to train on and still hold out a test set"),
        ("lora_finetune", -2, f"{why}: too few to train on and still hold out a test set"),
    ]


def _enough_labels(a: Answers, e: Evidence | None) -> list[Hit]:
    if a.labelled_examples < FEW_LABELS or a.task not in ENCODER_TASKS + GENERATIVE_TASKS:
        return []
    points = 4 if a.labelled_examples >= ENOUGH_LABELS else 2
    size = f"≥ {ENOUGH_LABELS}" if points == 4 else f"{FEW_LABELS}–{ENOUGH_LABELS}"
    if a.task in ENCODER_TASKS:
        what = "embedding model/reranker" if a.task == "retrieval" else "encoder"
        return [("encoder_finetune", points, f"{a.task} with {a.labelled_examples} ({size}) examples: a small {what} "
                 "learns it")]  # fmt: skip
    style = "a house tone" if a.task == "generate" else "a fixed output format"
    return [("lora_finetune", points, f"{a.task} with {a.labelled_examples} ({size}) examples of {style}: LoRA "
             "learns it cheaply")]  # fmt: skip


def _house_style(a: Answers, e: Evidence | None) -> list[Hit]:
    if not a.house_style or a.task not in GENERATIVE_TASKS:
        return []
    return [("lora_finetune", 2, "a house tone/format that prompts keep missing is what a LoRA adapter learns best")]


def _on_prem(a: Answers, e: Evidence | None) -> list[Hit]:
    if not a.sensitive_data:
        return []
    return [
        (_specialist(a), 2, "the data must stay on your machines: a small model you host beats an external API"),
        ("prompting", -1, "the data must stay on your machines: no hosted LLM API; only a self-hosted model"),
    ]


def _cost_and_speed(a: Answers, e: Evidence | None) -> list[Hit]:
    reasons = []
    if a.latency_ms is not None and a.latency_ms < TIGHT_LATENCY_MS:
        reasons.append(f"a {a.latency_ms:g} ms latency target (< {TIGHT_LATENCY_MS} ms)")
    if a.daily_volume is not None and a.daily_volume >= HIGH_VOLUME:
        reasons.append(f"{a.daily_volume:,} requests a day (≥ {HIGH_VOLUME:,})")
    if not reasons:
        return []
    hits: list[Hit] = [("agent", -1, f"{reasons[0]}: every tool call and model round trip adds up")]
    if a.labelled_examples >= FEW_LABELS:
        hits.append((_specialist(a), 2 * len(reasons), f"{' and '.join(reasons)} favour a small specialised model"))
    return hits


def _baseline_vs_target(a: Answers, e: Evidence | None) -> list[Hit]:
    if e is None or a.target is None:
        return []
    scored = f"the best baseline ({e.best_baseline}) scores {e.baseline_score:.3f} {e.metric}"
    if _meets(e, e.baseline_score, a.target):
        return [
            ("prompting", 8, f"{scored}, meeting the target {a.target:g}: ship the cheaper system, do not fine-tune"),
            (_specialist(a), -3, f"{scored}, already at the target {a.target:g}: a fine-tune has nothing to win"),
        ]
    return [(_specialist(a), 2, f"{scored}, short of the target {a.target:g}: there is room for a tuned model")]


def _tuned_proven(a: Answers, e: Evidence | None) -> list[Hit]:
    if e is None or not e.tuned:
        return []
    low, high = e.tuned["ci95"]
    gain = f"{e.tuned['gain']:+.3f} {e.metric} (95% CI {low:+.3f} to {high:+.3f})"
    if low > 0:  # the whole interval above zero: a gain the test set proves, not noise
        return [(_specialist(a), 5, f"the tuned run beats {e.tuned.get('baseline', e.best_baseline)} by {gain}")]
    return [(_specialist(a), -4, f"the tuned run does not prove a gain over {e.best_baseline}: {gain}")]


def _specialist(a: Answers) -> str:
    """The fine-tune that fits the task: an encoder for labels/spans/ranking, LoRA on a causal LM otherwise."""
    return "encoder_finetune" if a.task in ENCODER_TASKS else "lora_finetune"


RULES: tuple[Rule, ...] = (
    _documents,
    _qa,
    _tools,
    _few_labels,
    _enough_labels,
    _house_style,
    _on_prem,
    _cost_and_speed,
    _baseline_vs_target,
    _tuned_proven,
)
THRESHOLDS = {
    "few_labels": f"< {FEW_LABELS} labelled examples: prompting/few-shot first, label more",
    "enough_labels": f"≥ {ENOUGH_LABELS} labelled examples: a small specialist usually beats prompting",
    "tight_latency": f"< {TIGHT_LATENCY_MS} ms p95: a hosted large model's round trip rarely fits",
    "high_volume": f"≥ {HIGH_VOLUME:,} requests a day: a small served model's cost per call wins",
}


def _meets(e: Evidence, score: float, target: float) -> bool:
    return score >= target if e.higher_is_better else score <= target


def advise(
    answers: Answers | Mapping[str, Any] | str | Path | None = None,
    run: str | Path | None = None,
    **overrides: Any,
) -> Advice:
    """Score every approach for these answers (a model, a mapping or a YAML file; `overrides` win) and a run."""
    a = load_answers(answers, overrides)
    e = read_evidence(Path(run)) if run is not None else None
    scores = dict.fromkeys(APPROACHES, 0.0)
    reasons: dict[str, list[str]] = {name: [] for name in APPROACHES}
    for rule in RULES:
        for name, points, reason in rule(a, e):
            scores[name] += points
            reasons[name].append(f"{'+' if points >= 0 else ''}{points:g}: {reason}")
    ranked = sorted(APPROACHES, key=lambda n: (-scores[n], list(APPROACHES).index(n)))
    from hone.plan.checklist import assumptions, checklist

    evidence = None if e is None else {**vars(e), "run": str(run)}
    return Advice(ranked[0], ranked[1], scores, reasons, checklist(a, e), assumptions(a), a.model_dump(), evidence)


def load_answers(source: Answers | Mapping[str, Any] | str | Path | None, overrides: Mapping[str, Any]) -> Answers:
    """Answers from a model, a mapping or a YAML file, with `overrides` (CLI flags) on top; errors name the key."""
    from hone.config import ConfigError

    where = "answers"
    if isinstance(source, Answers):
        raw: dict[str, Any] = source.model_dump()
    elif isinstance(source, (str, Path)):
        where = str(source)
        try:
            raw = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{where}: cannot read the answers file: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"{where}: expected a mapping of answers, e.g. `task: classify`")
    else:
        raw = dict(source or {})
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Answers.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in exc.errors())
        raise ConfigError(f"{where}: {problems} (`hone advise --template` lists every question)") from exc


def read_evidence(run: Path) -> Evidence:
    """The baseline (and, when evaluated, tuned) results of a run directory."""
    from hone.runs.rundir import RunDir, read_json

    rd = RunDir(run)
    if not rd.baseline.is_file():
        raise FileNotFoundError(f"{rd.baseline} not found: run `hone baseline` on the config first")
    base = read_json(rd.baseline)
    metric, best = base["primary_metric"], base["best"]
    evidence = Evidence(metric, base["higher_is_better"], best, base["baselines"][best]["metrics"][metric])
    if rd.eval.is_file():
        evidence.tuned = read_json(rd.eval).get("comparison")
    if rd.check_report.is_file():
        counts = read_json(rd.check_report)["counts"]
        evidence.data_errors = sum(counts["errors"].values())
        evidence.data_warnings = sum(counts["warnings"].values())
    return evidence


def template() -> str:
    """A commented answers file, every question with its default."""
    lines = ["# hone advise answers: `hone advise --answers this.yaml`"]
    for name, info in Answers.model_fields.items():
        default = info.get_default(call_default_factory=True)
        lines += [f"# {info.description}", f"{name}: {yaml.safe_dump(default, default_flow_style=True).strip()}"]
    return "\n".join(line.replace("\n...", "") for line in lines) + "\n"
