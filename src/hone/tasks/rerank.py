"""Reranking: a cross-encoder reads each (query, passage) pair and scores how well it answers.

Trained on labelled pairs with binary cross-entropy. Evaluated the way it is used: for every test
query a first-stage retriever (BM25, or a tuned `embed` run) returns its top-k from the corpus and
the cross-encoder reorders them; MRR@10 and nDCG@10 after reranking are compared with the
retriever's own order (the baseline) on the same candidates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import RerankConfig, RerankDataConfig
from hone.data import problems as P
from hone.data.problems import Problem
from hone.grammar import article
from hone.tasks.base import ExampleScore
from hone.tasks.batching import pad_ids
from hone.tasks.embed_schema import Copies, CorpusDoc, doc_id, read_corpus
from hone.tasks.fields import required_text

Ranking = list[str]
TOP = 10


@dataclass(frozen=True)
class RerankExample:
    query: str
    passage: str
    label: float
    source: str
    line: int

    @property
    def text(self) -> str:
        return self.query

    @property
    def labels(self) -> tuple[str, ...]:
        return ("relevant",) if self.label > 0 else ("not relevant",)

    @property
    def label_key(self) -> str:
        return f"{self.passage}\x1f{self.label}"

    @property
    def stratify_key(self) -> str:
        return ""  # splits group rows by query text, so one query's pairs stay together


@dataclass
class RerankTask:
    max_length: int = 256
    top_k: int = 20
    retriever: str = "bm25"
    corpus: list[CorpusDoc] = field(default_factory=list, repr=False)
    _first_stage: Any = field(default=None, repr=False)
    _copies: tuple[list[CorpusDoc], int, Copies] | None = field(default=None, repr=False, compare=False)

    name = "rerank"
    primary_metric = "ndcg@10"
    higher_is_better = True
    head_modules = ("classifier",)
    peft_task_type = "SEQ_CLS"
    example_loss_note = "loss: binary cross-entropy of the pair's given relevance label"

    @classmethod
    def from_config(cls, config: RerankConfig, examples: Sequence[RerankExample]) -> RerankTask:
        corpus = read_corpus(config.data.corpus) if config.data.corpus else []
        known = {doc.text for doc in corpus}
        for text in dict.fromkeys(ex.passage for ex in examples):
            if text not in known:
                corpus.append(CorpusDoc(doc_id(text), text))
        settings = config.rerank
        return cls(config.data.max_length, settings.top_k, settings.retriever, corpus)

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "max_length": self.max_length, "top_k": self.top_k, "retriever": self.retriever}

    def build_model(self, model_dir: str) -> nn.Module:
        from transformers import AutoModelForSequenceClassification

        return AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1, dtype=torch.float32)

    # --- training ---------------------------------------------------------------------------

    def encode(self, examples: Sequence[RerankExample], tokenizer: Any) -> list[dict[str, Any]]:
        ids = self._pairs([ex.query for ex in examples], [ex.passage for ex in examples], tokenizer)
        return [{"input_ids": row, "target": float(ex.label)} for row, ex in zip(ids, examples, strict=True)]

    def _pairs(self, queries: Sequence[str], passages: Sequence[str], tokenizer: Any) -> list[list[int]]:
        # Long passages give way first: the query is what the pair is about.
        encoded = tokenizer(list(queries), list(passages), truncation="only_second", max_length=self.max_length)
        return encoded["input_ids"]

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch = pad_ids(features, tokenizer.pad_token_id)
        if "target" in features[0]:
            batch["labels"] = torch.tensor([f["target"] for f in features], dtype=torch.float32)
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()[:, 0]
        return nn.functional.binary_cross_entropy_with_logits(logits, batch["labels"].clamp(0, 1))

    # --- prediction ---------------------------------------------------------------------------

    def candidates(self, queries: Sequence[str]) -> list[Ranking]:
        """The first stage's top-k corpus ids for each query."""
        if self._first_stage is None:
            self._first_stage = first_stage(self.retriever, self.corpus)
        return self._first_stage.search(list(queries), min(self.top_k, len(self.corpus)))

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Ranking], np.ndarray]:
        """Each query's candidates, reordered by the cross-encoder's score; confidence = the top score."""
        text = {doc.id: doc.text for doc in self.corpus}
        unique = list(dict.fromkeys(texts))
        candidates = dict(zip(unique, self.candidates(unique), strict=True))
        pairs = [(q, d) for q in unique for d in candidates[q]]
        scores = self.pair_scores(
            model, tokenizer, [q for q, _ in pairs], [text[d] for _, d in pairs], batch_size, autocast
        )
        by_query: dict[str, list[tuple[float, str]]] = {q: [] for q in unique}
        for (q, d), s in zip(pairs, scores, strict=True):
            by_query[q].append((float(s), d))
        ranked = {q: [d for _, d in sorted(items, key=lambda x: -x[0])] for q, items in by_query.items()}
        top = {q: max((s for s, _ in items), default=0.0) for q, items in by_query.items()}
        return [ranked[q] for q in texts], np.array([top[q] for q in texts])

    def pair_scores(
        self, model: nn.Module, tokenizer: Any, queries: list[str], passages: list[str], batch_size: int, autocast: Any
    ) -> np.ndarray:
        """The cross-encoder's score for each (query, passage) pair, in input order."""
        from hone.evaluate.predict import batched

        features = [{"input_ids": row} for row in self._pairs(queries, passages, tokenizer)] if queries else []
        rows = batched(model, features, lambda f: self.collate(f, tokenizer), batch_size, _relevance, autocast)
        return np.array([float(r) for r in rows], dtype=np.float32)

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[RerankExample], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """BCE of each (query, passage) pair's label; predicted: relevant when the model's probability is over 0.5."""
        logits = self.pair_scores(
            model, tokenizer, [ex.query for ex in examples], [ex.passage for ex in examples], batch_size, autocast
        )
        out = []
        for ex, z in zip(examples, logits.astype(np.float64), strict=True):
            y, p = min(max(ex.label, 0.0), 1.0), 1.0 / (1.0 + np.exp(-z))
            loss = float(np.logaddexp(0.0, z) - y * z)  # BCE with logits, stable
            predicted = "relevant" if p > 0.5 else "not relevant"
            given = p if ex.label > 0 else 1 - p
            out.append(
                ExampleScore(
                    loss,
                    ex.labels[0],
                    predicted,
                    float(max(p, 1 - p)),
                    predicted != ex.labels[0],
                    float(given),
                    f"passage: {ex.passage[:200]}",
                )
            )
        return out

    # --- scoring ------------------------------------------------------------------------------

    def copies(self) -> Copies:
        """The corpus's text-identical documents, worked out again only when the corpus list changes."""
        cached = self._copies
        if cached is None or cached[0] is not self.corpus or cached[1] != len(self.corpus):
            cached = self._copies = (self.corpus, len(self.corpus), Copies.of(self.corpus))
        return cached[2]

    def gold(self, examples: Sequence[RerankExample]) -> list[tuple[str, frozenset[str]]]:
        """Per row: its query and every passage labelled relevant for that query in these examples, by the id of
        each of its copies in the corpus (a passage stored twice counts whichever copy the retriever returns)."""
        copies = self.copies()
        relevant: dict[str, set[str]] = {}
        for ex in examples:
            relevant.setdefault(ex.query, set())
            if ex.label > 0:
                relevant[ex.query] |= copies.ids(ex.passage) or {doc_id(ex.passage)}
        return [(ex.query, frozenset(relevant[ex.query])) for ex in examples]

    def _per_query(
        self, gold: Sequence[tuple[str, frozenset[str]]], predicted: Sequence[Ranking]
    ) -> tuple[list[Ranking], list[set[str]]]:
        """One entry per query with at least one relevant passage (rows of one query count once)."""
        seen: dict[str, tuple[Ranking, set[str]]] = {}
        for (query, relevant), ranking in zip(gold, predicted, strict=True):
            if relevant and query not in seen:
                seen[query] = (list(ranking)[:TOP], set(relevant))
        return self.copies().merge([r for r, _ in seen.values()], [g for _, g in seen.values()])

    def metrics(self, gold: Sequence[tuple[str, frozenset[str]]], predicted: Sequence[Ranking]) -> dict[str, Any]:
        from hone.evaluate.retrieval_metrics import retrieval_metrics

        ranked, relevant = self._per_query(gold, predicted)
        if not ranked:
            raise ValueError("rerank: no test query has a relevant passage (label 1); metrics are undefined")
        result = retrieval_metrics(ranked, relevant)
        return {"metrics": {**result["metrics"], "queries": len(ranked)}}

    def score(self, gold: Sequence[tuple[str, frozenset[str]]], predicted: Sequence[Ranking]) -> float:
        from hone.evaluate.retrieval_metrics import retrieval_score

        ranked, relevant = self._per_query(gold, predicted)
        return retrieval_score(ranked, relevant) if ranked else 0.0

    def worst(
        self, examples: Sequence[RerankExample], predicted: Sequence[Ranking], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Queries whose relevant passage is not ranked first after reranking."""
        text = {doc.id: doc.text for doc in self.corpus}
        rows, seen = [], set()
        for ex, (query, relevant), ranking, conf in zip(
            examples, self.gold(examples), predicted, confidence, strict=True
        ):
            if query in seen or not relevant or (ranking and ranking[0] in relevant):
                continue
            seen.add(query)
            shown = text.get(next(iter(relevant)), "")
            top = text.get(ranking[0], "") if ranking else "(nothing retrieved)"
            rows.append(
                {
                    "text": query,
                    "gold": shown,
                    "predicted": top,
                    "confidence": round(float(conf), 4),
                    "source": ex.source,
                    "line": ex.line,
                }
            )
        return rows[:limit]

    def to_json(self, prediction: Ranking) -> list[str]:
        return list(prediction)

    def from_json(self, payload: list[str]) -> Ranking:
        return list(payload)


def _relevance(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model(**batch).logits[:, 0]


def first_stage(retriever: str, corpus: Sequence[CorpusDoc]) -> Any:
    """BM25 over the corpus, or a tuned embed run's model with a FAISS index over it."""
    if retriever == "bm25":
        from hone.retrieval.bm25 import BM25Retriever

        bm25 = BM25Retriever()
        bm25.fit(corpus)
        return bm25
    return EmbedRunRetriever(Path(retriever), corpus)


class EmbedRunRetriever:
    """A trained embed run as the first stage."""

    def __init__(self, run_dir: Path, corpus: Sequence[CorpusDoc]) -> None:
        from hone.models.weights import load_for, read_meta
        from hone.tasks.embed import EmbedTask

        if not (run_dir / "model" / "hone.json").is_file():
            raise FileNotFoundError(f"rerank.retriever {run_dir}: not `bm25` and not a trained embed run directory")
        meta = read_meta(run_dir / "model")
        if meta.get("task") != "embed":
            given = article(meta.get("task"))
            raise ValueError(f"rerank.retriever {run_dir}: {given} run; give an embed run or `bm25`")
        task = EmbedTask(**{k: v for k, v in meta.items() if k in EmbedTask.__dataclass_fields__})
        loaded = load_for(task, run_dir / "model", meta)
        loaded.task.corpus = list(corpus)
        self.loaded = loaded
        self._predict = loaded.task.bind(loaded.model, loaded.tokenizer, 64)  # the corpus is embedded once

    def search(self, queries: list[str], k: int) -> list[Ranking]:
        ranked, _ = self._predict(queries)
        return [r[:k] for r in ranked]


class RetrieverBaseline:
    """The first stage's own order: what reranking must improve."""

    name = "retriever"

    def __init__(self, task: RerankTask) -> None:
        self.task = task

    def fit(self, train: Sequence[RerankExample]) -> None:
        return None

    def predict(self, texts: Sequence[str]) -> tuple[list[Ranking], np.ndarray]:
        unique = list(dict.fromkeys(texts))
        found = dict(zip(unique, self.task.candidates(unique), strict=True))
        return [found[q] for q in texts], np.ones(len(texts))


def parse_rerank_example(
    record: Mapping[str, Any], data: RerankDataConfig, source: str, line: int
) -> RerankExample | list[Problem]:
    problems: list[Problem] = []
    texts = [
        required_text(record, data.text_field, "the query", source, line, problems, "data.text_field"),
        required_text(record, data.passage_field, "the passage", source, line, problems, "data.passage_field"),
    ]
    label = _label(record, data.label_field, source, line, problems)
    if problems or None in texts or label is None:
        return problems
    return RerankExample(texts[0], texts[1], label, source, line)  # type: ignore[arg-type]


def _label(record: Mapping[str, Any], name: str, source: str, line: int, out: list[Problem]) -> float | None:
    value = record.get(name)
    if isinstance(value, str) and value.strip() in ("0", "1"):  # CSV cells are strings
        value = int(value)
    if name not in record:
        out.append(Problem(P.MISSING_FIELD, f"no {name!r} field; give 1 (relevant) or 0", source, line, name))
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        out.append(
            Problem(
                P.WRONG_TYPE,
                f"{name!r} must be 1 (relevant) or 0, or a grade in [0, 1]; got {value!r}",
                source,
                line,
                name,
            )
        )
    else:
        return float(value)
    return None


def rerank_problems(examples: Sequence[RerankExample], imbalance_ratio: float) -> list[Problem]:
    positives = sum(1 for ex in examples if ex.label > 0)
    if not positives:
        return [Problem(P.TOO_FEW, "no relevant pair (label 1) in the training data; the model has nothing to learn")]
    if positives == len(examples):
        return [
            Problem(
                P.TOO_FEW,
                "every pair is labelled relevant; add non-relevant passages (label 0) per query",
                severity="warning",
            )
        ]
    return []


def mine_candidates(
    config: RerankConfig, model_dir: str, task: RerankTask, train: list[RerankExample]
) -> list[RerankExample]:
    """The training pairs plus `rerank.mined_negatives` non-relevant pairs per query that has a relevant passage,
    taken in order from the first stage's top-k: the candidates the cross-encoder will be asked to rerank.
    Skipped: the query's relevant passages and every copy of them, and passages the data already pairs with
    the query. A mined pair's source says where it came from (`mined:<retriever>`)."""
    n = config.rerank.mined_negatives
    if not n or not train:
        return train
    given: dict[str, set[str]] = {}  # every passage the data pairs with a query, its relevant ones among them
    for ex in train:
        given.setdefault(ex.query, set()).add(ex.passage)
    queries = list(dict.fromkeys(ex.query for ex in train if ex.label > 0))
    text = {doc.id: doc.text for doc in task.corpus}
    source = f"mined:{task.retriever}"
    mined = []
    for query, ranking in zip(queries, task.candidates(queries), strict=True):
        taken = 0
        for doc in ranking:
            passage = text[doc]
            if passage in given[query]:  # a copy of a relevant passage has its text: skipped too
                continue
            mined.append(RerankExample(query, passage, 0.0, source, 0))
            given[query].add(passage)
            taken += 1
            if taken == n:
                break
    return train + mined


def _baselines(config: RerankConfig, model_dir: str, task: RerankTask) -> list[Any]:
    return [RetrieverBaseline(task) for name in config.baseline.methods if name == "retriever"]


def _spec() -> Any:
    from hone.tasks.retrieval_lengths import rerank_token_check
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=RerankTask,
        parse=parse_rerank_example,
        label_problems=rerank_problems,
        long_inputs="truncate",
        token_check=rerank_token_check,
        baselines=_baselines,
        augment=mine_candidates,
    )


SPEC = _spec()
