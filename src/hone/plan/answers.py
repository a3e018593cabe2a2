"""What `hone advise` reasons over: the questionnaire's answers, the evidence a run directory gives, and the
checklist's items (shared by `hone.plan.advise`, which scores, and `hone.plan.checklist`, which fills the list).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Answers(BaseModel):
    """The questionnaire. Unknown answers stay None; the advice then says what it assumed."""

    model_config = ConfigDict(extra="forbid")

    task: Literal["classify", "ner", "extract", "generate", "retrieval", "qa", "other"] = Field(
        "classify",
        description="What the system must do: classify, ner, extract (fields from text), generate (text in a "
        "house style), retrieval (find the right chunk), qa (answer questions from documents), other.",
    )
    labelled_examples: int = Field(0, ge=0, description="Labelled input/output examples you have today.")
    sensitive_data: bool = Field(
        False, description="The data may not leave your machines (privacy, contracts): the model must run on-prem."
    )
    latency_ms: float | None = Field(None, gt=0, description="Target p95 latency per request in milliseconds.")
    daily_volume: int | None = Field(None, ge=0, description="Requests a day in production.")
    knowledge_in_documents: bool = Field(
        False, description="The answers depend on facts already written in documents (manuals, wikis, catalogues)."
    )
    facts_change: bool = Field(False, description="Those facts change often (prices, stock, policies).")
    needs_tools: bool = Field(
        False, description="The job needs actions or live data from tools/APIs (look up an order, call a service)."
    )
    success_metric: str | None = Field(None, description="How success is measured, e.g. macro-F1 or field exact match.")
    target: float | None = Field(None, description="The value of success_metric that makes the project a success.")
    label_guidelines: bool = Field(False, description="Written labelling guidelines exist for this task.")
    annotator_agreement: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Share of examples two labellers label the same way (0-1); it caps the score any model can reach.",
    )
    house_style: bool = Field(
        False, description="Outputs must follow a house tone or fixed format that prompting alone keeps missing."
    )
    timeline_weeks: float | None = Field(None, gt=0, description="Weeks until it must be in production.")
    compute: Literal["cpu", "gpu"] | None = Field(
        None, description="What you can train on: cpu or gpu (CPU suits small encoders and LoRA on ~135M models)."
    )
    other_tasks: list[str] = Field(
        default_factory=list, description="Other jobs the same model is expected to do (scope creep shows here)."
    )


@dataclass
class Evidence:
    """What a run directory says: the best baseline's score, and the tuned model's comparison if evaluated."""

    metric: str
    higher_is_better: bool
    best_baseline: str
    baseline_score: float
    tuned: dict[str, Any] | None = None
    data_errors: int = 0
    data_warnings: int = 0


@dataclass
class Item:
    """One checklist line: its status, why, and what to do about it (empty when nothing)."""

    name: str
    status: Literal["ok", "missing", "warning"]
    why: str
    action: str = ""
