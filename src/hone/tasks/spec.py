"""`TaskSpec`: what the pipeline needs to know about a task before any model exists.

Each task module declares its `SPEC`; `hone.tasks.TASKS` maps a config's `task` to it. A module of its own so
that task modules, the data check and the registry all import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from hone.data.problems import Problem


@dataclass(frozen=True)
class TaskSpec:
    """What the pipeline needs to know about a task before any model exists."""

    task: type
    # record, data config, source, line -> an example (with .text, .labels, .label_key, .source, .line) or problems
    parse: Callable[[Mapping[str, Any], Any, str, int], Any]
    # train examples, imbalance ratio -> dataset-wide findings about labels
    label_problems: Callable[[Sequence[Any], float], list[Problem]]
    # "truncate": inputs over max_length are cut (the check warns); "window": long inputs are split into windows
    long_inputs: Literal["truncate", "window"]
    # config, base model directory, the task -> the baselines a fine-tune must beat
    baselines: Callable[[Any, str, Any], list[Any]]
    # one parsed example -> warnings about it (usable, but suspicious)
    example_warnings: Callable[[Any], list[Problem]] = field(default=lambda example: [])
    # all examples, the model's tokenizer -> findings that need the real tokenizer
    token_problems: Callable[[Sequence[Any], Any], list[Problem]] = field(default=lambda examples, tokenizer: [])
    # config, base model directory, task, training examples -> the examples training sees (e.g. + mined negatives)
    augment: Callable[[Any, str, Any, list[Any]], list[Any]] = field(
        default=lambda config, model_dir, task, train: train
    )
    # examples -> mentions per label, for tasks whose labels mark spans of a text (an example's `labels` are then
    # the types it holds at least once); the data check reports both counts, each named
    entity_counts: Callable[[Sequence[Any]], dict[str, int]] | None = None
    # all examples, tokenizer, data config -> (token statistics, problems); replaces the generic truncation check
    token_check: Callable[[Sequence[Any], Any, Any], tuple[dict[str, Any] | None, list[Problem]]] | None = None
