"""Words that messages build from run data: "an instruct model", "a classify run"."""

from __future__ import annotations

from typing import Any


def article(noun: Any) -> str:
    """`noun` with its indefinite article: "an instruct", "an extract", "a classify", "a LoRA"."""
    word = str(noun)
    return f"{'an' if word[:1].lower() in 'aeiou' and word[:1] else 'a'} {word}"
