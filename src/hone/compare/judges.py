"""Judges that decide a pair, and the append-only log of their judgments.

- `ReferenceJudge` ("reference"): the answer with the higher ROUGE-L against the prompt's reference wins;
  within `margin` of each other it is a tie.
- `ModelJudge` ("model:<name>"): a model behind an OpenAI-compatible chat completions endpoint (e.g. a
  running `hone serve`) reads the prompt and both answers, in the pair's randomised order, and answers
  "A", "B" or "tie". A reply that says none of them is recorded as unparsed, never guessed.
- the human judge lives in `hone.compare.human`.

Every judgment is appended to judgments.jsonl as soon as it is made, so an interrupted comparison loses
nothing and a rerun skips the pairs that judge already decided.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.compare.outputs import Pair, Systems

JUDGE_PROMPT = """You are judging two answers to the same prompt. Decide which answer is better: more correct, \
more helpful, closer to what the prompt asks for.

Prompt:
{prompt}

Answer A:
{first}

Answer B:
{second}

Reply with exactly one word: A, B, or tie."""

VERDICT = re.compile(r"^\W*(?:answer\s+)?(a|b|tie)\b", re.IGNORECASE)


class JudgmentLog:
    """judgments.jsonl: one JSON object per judgment, appended and flushed as it is made."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        for line_no, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line cut short by a kill mid-write: the rest is still good
                if line_no != len(lines):
                    raise ValueError(f"{self.path}:{line_no}: not JSON; delete the line and rerun") from None
        return rows

    def append(self, record: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()

    def decided(self, judge: str) -> set[tuple[str, str, str]]:
        """Pairs `judge` already gave a verdict on (unparsed replies do not count: a rerun asks again)."""
        return {(r["prompt_id"], r["a"], r["b"]) for r in self.read() if r["judge"] == judge and r.get("winner")}


def judgment(pair: Pair, winner: str | None, judge: str, **detail: Any) -> dict[str, Any]:
    """The record of one verdict; `winner` is "a", "b", "tie", or None for an unparsed reply."""
    return {
        "prompt_id": pair.prompt_id,
        "a": pair.a,
        "b": pair.b,
        "winner": winner,
        "judge": judge,
        "shown_first": pair.shown_first,
        **detail,
    }


def from_shown(pair: Pair, choice: str) -> str:
    """A verdict about the shown order ("A" = shown first) as one about the pair ("a"/"b"/"tie")."""
    choice = choice.lower()
    if choice == "tie":
        return "tie"
    first = "a" if pair.shown_first == pair.a else "b"
    return first if choice == "a" else ("b" if first == "a" else "a")


def shown(pair: Pair, systems: Systems) -> tuple[str, str]:
    """The two answers in the order shown: (answer A, answer B)."""
    second = pair.b if pair.shown_first == pair.a else pair.a
    answers = systems.outputs
    return answers[pair.shown_first][pair.prompt_id].output, answers[second][pair.prompt_id].output


@dataclass
class ReferenceJudge:
    """Higher ROUGE-L against the reference wins; a difference within `margin` is a tie."""

    margin: float = 0.02
    name: str = "reference"

    def check(self, systems: Systems, pairs: Iterable[Pair]) -> None:
        missing = sorted({p.prompt_id for p in pairs if not systems.reference(p.prompt_id)})
        if missing:
            raise ValueError(
                f"the reference judge needs a reference answer for every prompt; {len(missing)} have none "
                f'(e.g. prompt_id {missing[0]}). Add "reference" to --outputs rows, or use --judge model/human'
            )

    def __call__(self, pair: Pair, systems: Systems) -> dict[str, Any]:
        from hone.evaluate.generation_metrics import rouge_l

        reference = systems.reference(pair.prompt_id) or ""
        score_a = rouge_l(reference, systems.outputs[pair.a][pair.prompt_id].output)
        score_b = rouge_l(reference, systems.outputs[pair.b][pair.prompt_id].output)
        winner = "tie" if abs(score_a - score_b) <= self.margin else ("a" if score_a > score_b else "b")
        return judgment(pair, winner, self.name, scores=[round(score_a, 4), round(score_b, 4)])


@dataclass
class ModelJudge:
    """A served model asked which answer is better, over OpenAI-compatible chat completions."""

    url: str
    model: str
    api_key: str | None = None
    timeout: float = 60.0
    retries: int = 3
    max_tokens: int = 8

    @property
    def name(self) -> str:
        return f"model:{self.model}"

    def check(self, systems: Systems, pairs: Iterable[Pair]) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"--judge-url {self.url!r}: give the API base, e.g. http://127.0.0.1:8000/v1")

    def __call__(self, pair: Pair, systems: Systems) -> dict[str, Any]:
        first, second = shown(pair, systems)
        text = JUDGE_PROMPT.format(prompt=systems.prompt(pair.prompt_id), first=first, second=second)
        reply = self._ask(text)
        match = VERDICT.match(reply)
        if match is None:
            return judgment(pair, None, self.name, raw=reply[:200])
        return judgment(pair, from_shown(pair, match.group(1)), self.name, raw=reply[:200])

    def _ask(self, text: str) -> str:
        import httpx

        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": self.max_tokens,
            "temperature": 0,
        }
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        endpoint = self.url.rstrip("/") + "/chat/completions"
        problem = ""
        for attempt in range(self.retries):
            try:
                response = httpx.post(endpoint, json=body, headers=headers, timeout=self.timeout)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.status_code == 200:
                    return _content(response, endpoint)
                problem = f"HTTP {response.status_code}: {response.text[:200]}"
                # any other 4xx means our request is wrong: retrying would not help
                if response.status_code < 500 and response.status_code != 429:
                    raise RuntimeError(
                        f"judge {endpoint} refused the request ({problem}); check --judge-model/--api-key"
                    )
            time.sleep(min(0.5 * 2**attempt, 5.0))
        raise RuntimeError(
            f"judge {endpoint} did not answer after {self.retries} tries ({problem}); is the server up? "
            "Raise --judge-timeout for slow models"
        )


def _content(response: Any, endpoint: str) -> str:
    try:
        return str(response.json()["choices"][0]["message"]["content"] or "")
    except (ValueError, KeyError, IndexError, TypeError):
        raise RuntimeError(
            f"judge {endpoint} answered without choices[0].message.content: {response.text[:200]}"
        ) from None
