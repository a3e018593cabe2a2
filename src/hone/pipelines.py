"""Chains of trained runs. `EntityLinker`: NER finds mentions, embed retrieves candidate entries
from a gazetteer, rerank (optional) picks one — each step loaded from its own run directory.

    linker = EntityLinker.from_runs("runs/ner", "runs/embed", "runs/rerank", corpus="gazetteer_corpus.jsonl")
    linker.link(["Flooding closed roads near Perth, Western Australia."])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SENTENCE = re.compile(r"[^.!?]*(?:[.!?]+|$)")


@dataclass(frozen=True)
class Link:
    """A mention (character span of the text) and the corpus entry it was linked to."""

    start: int
    end: int
    mention: str
    label: str
    entry: str | None


def sentence_around(text: str, start: int, end: int) -> str:
    """The sentence holding characters start..end (the context the linking models were trained with)."""
    for match in _SENTENCE.finditer(text):
        if match.start() <= start and end <= max(match.end(), match.start() + 1):
            return match.group().strip()
    return text.strip()


@dataclass
class EntityLinker:
    """find(texts) -> spans per text; rank(queries) -> candidate ids per query; choose -> the id."""

    find: Callable[[Sequence[str]], list[list[Any]]]
    rank: Callable[[list[str]], list[list[str]]]
    choose: Callable[[list[str], list[list[str]]], list[str | None]]
    labels: tuple[str, ...] = ("LOC",)

    @classmethod
    def from_runs(
        cls,
        ner_run: str | Path,
        embed_run: str | Path,
        rerank_run: str | Path | None,
        corpus: str | Path,
        top_k: int = 20,
    ) -> EntityLinker:
        """Load the three steps from their run directories; the corpus is the gazetteer's {id, text} JSONL."""
        from hone.models.load import load_trained
        from hone.pipeline import Run
        from hone.tasks.embed_schema import read_corpus

        docs = read_corpus(Path(corpus))
        ner = Run(ner_run).predictor()
        embed = load_trained(Path(embed_run) / "model")
        embed.task.corpus = docs
        search = embed.task.bind(embed.model, embed.tokenizer, 64)  # the corpus is embedded once, at the first call

        def rank(queries: list[str]) -> list[list[str]]:
            return search(queries)[0] if queries else []

        choose = _first if rerank_run is None else _reranker(Path(rerank_run), docs)
        return cls(lambda texts: ner.predict(list(texts))[0], rank, choose)

    def link(self, texts: Sequence[str]) -> list[list[Link]]:
        spans = self.find(texts)
        mentions = [(i, s) for i, found in enumerate(spans) for s in found if s.label in self.labels]
        queries = [f"{texts[i][s.start : s.end]} | {sentence_around(texts[i], s.start, s.end)}" for i, s in mentions]
        entries = self.choose(queries, self.rank(queries))
        out: list[list[Link]] = [[] for _ in texts]
        for (i, s), entry in zip(mentions, entries, strict=True):
            out[i].append(Link(s.start, s.end, texts[i][s.start : s.end], s.label, entry))
        return out


def _first(queries: list[str], candidates: list[list[str]]) -> list[str | None]:
    return [c[0] if c else None for c in candidates]


def _reranker(run_dir: Path, docs: Sequence[Any]) -> Callable[[list[str], list[list[str]]], list[str | None]]:
    from hone.models.load import load_trained

    loaded = load_trained(run_dir / "model")
    text = {d.id: d.text for d in docs}

    def choose(queries: list[str], candidates: list[list[str]]) -> list[str | None]:
        pairs = [(q, c) for q, cands in zip(queries, candidates, strict=True) for c in cands]
        if not pairs:
            return [None] * len(queries)
        scores = loaded.task.pair_scores(
            loaded.model, loaded.tokenizer, [q for q, _ in pairs], [text[c] for _, c in pairs], 64, None
        )
        best: dict[str, tuple[float, str]] = {}
        for (q, c), s in zip(pairs, scores, strict=True):
            if q not in best or s > best[q][0]:
                best[q] = (float(s), c)
        return [best[q][1] if q in best else None for q in queries]

    return choose


def linking_accuracy(linked: Sequence[Sequence[Link]], gold: Sequence[Sequence[tuple[int, int, str | None]]]) -> float:
    """Share of gold (start, end, entry) mentions found with exactly that span and that entry."""
    total = hits = 0
    for found, expected in zip(linked, gold, strict=True):
        got = {(link.start, link.end): link.entry for link in found}
        for start, end, entry in expected:
            if entry is None:
                continue
            total += 1
            hits += got.get((start, end)) == entry
    return hits / total if total else 0.0
