"""Retrieval embeddings: put each query next to the passage that answers it.

The model is a sentence-transformers model (Transformer + pooling), trained with a contrastive
loss over in-batch negatives (plus the given hard negatives): each query must score its own
positive above every other passage in the batch. Evaluation embeds the corpus, indexes it with
FAISS and ranks it for every test query; primary metric nDCG@10. The saved model loads with
`sentence_transformers.SentenceTransformer(run/"model")` and gives the same vectors hone gives.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import EmbedConfig, EmbedDataConfig
from hone.tasks.base import ExampleScore
from hone.tasks.batching import pad_ids
from hone.tasks.embed_schema import (
    Copies,
    CorpusDoc,
    PairExample,
    corpus_from_pairs,
    pair_problems,
    parse_pair_example,
    read_corpus,
)

if TYPE_CHECKING:
    from hone.retrieval.index import VectorIndex

Ranking = list[str]
TOP_K = 10


@dataclass
class EmbedTask:
    max_length: int = 128
    scale: float = 20.0
    corpus: list[CorpusDoc] = field(default_factory=list, repr=False)
    _copies: tuple[list[CorpusDoc], int, Copies] | None = field(default=None, repr=False, compare=False)

    name = "embed"
    primary_metric = "ndcg@10"
    higher_is_better = True
    head_modules: tuple[str, ...] = ()
    peft_task_type = "FEATURE_EXTRACTION"
    example_loss_note = (
        "loss: the training loss (MNRL) of each query against its positive, with every other scored example's "
        "positive as a negative; predicted: the passage the model ranks first"
    )

    @classmethod
    def from_config(cls, config: EmbedConfig, examples: Sequence[PairExample]) -> EmbedTask:
        """The corpus: the configured file plus any passage of the data it lacks (so every query has its
        answer to find), else every positive and negative passage of the data."""
        from_pairs = corpus_from_pairs(examples)
        corpus = read_corpus(config.data.corpus) if config.data.corpus else []
        known = {doc.text for doc in corpus}
        corpus += [doc for doc in from_pairs if doc.text not in known]
        return cls(max_length=config.data.max_length, scale=config.embed.scale, corpus=corpus)

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "max_length": self.max_length, "scale": self.scale}

    def build_model(self, model_dir: str) -> nn.Module:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(model_dir, device="cpu")
        model.max_seq_length = self.max_length
        return model

    # --- training ---------------------------------------------------------------------------

    def encode(self, examples: Sequence[PairExample], tokenizer: Any) -> list[dict[str, Any]]:
        ids = tokenizer([ex.query for ex in examples], truncation=True, max_length=self.max_length)["input_ids"]
        return [
            {"input_ids": row, "query": ex.query, "positive": ex.positive, "negatives": list(ex.negatives)}
            for row, ex in zip(ids, examples, strict=True)
        ]

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        """Queries, then passages: every positive (row i answers query i), then every given negative."""
        docs = [f["positive"] for f in features] + [n for f in features for n in f["negatives"]]
        q = self._tokens([f["query"] for f in features], tokenizer)
        d = self._tokens(docs, tokenizer)
        return {
            "q_input_ids": q["input_ids"],
            "q_mask": q["attention_mask"],
            "d_input_ids": d["input_ids"],
            "d_mask": d["attention_mask"],
        }

    def _tokens(self, texts: Sequence[str], tokenizer: Any) -> Any:
        return tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        q = _embed(model, batch["q_input_ids"], batch["q_mask"])
        d = _embed(model, batch["d_input_ids"], batch["d_mask"])
        scores = self.scale * q @ d.T
        return nn.functional.cross_entropy(scores, torch.arange(len(q), device=scores.device))

    # --- prediction and evaluation ----------------------------------------------------------

    def vectors(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> np.ndarray:
        """Unit-length embeddings of texts, in input order."""
        from hone.evaluate.predict import batched

        ids = tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"] if texts else []
        features = [{"input_ids": row} for row in ids]
        rows = batched(
            model, features, lambda f: pad_ids(f, tokenizer.pad_token_id), batch_size, _embed_batch, autocast
        )
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Ranking], np.ndarray]:
        """The top-10 corpus ids for every query, and the top score as confidence."""
        return self.search(
            self.corpus_index(model, tokenizer, batch_size, autocast), model, tokenizer, texts, batch_size, autocast
        )

    def bind(
        self, model: nn.Module, tokenizer: Any, batch_size: int, autocast: Any = None
    ) -> Callable[[Sequence[str]], tuple[list[Ranking], np.ndarray]]:
        """`predict` for one fixed model state: the corpus is indexed at the first call, and every call (a
        one-query latency probe too) then embeds only its queries and searches that index."""
        index: list[VectorIndex] = []

        def predict(texts: Sequence[str]) -> tuple[list[Ranking], np.ndarray]:
            if not index:
                index.append(self.corpus_index(model, tokenizer, batch_size, autocast))
            return self.search(index[0], model, tokenizer, texts, batch_size, autocast)

        return predict

    def corpus_index(self, model: nn.Module, tokenizer: Any, batch_size: int, autocast: Any = None) -> VectorIndex:
        """The corpus embedded by `model` and indexed: built once per model state (`hone.tasks.corpus_index`)."""
        from hone.retrieval.index import VectorIndex
        from hone.tasks.corpus_index import corpus_digest, index_for

        if not self.corpus:
            raise ValueError("embed: no corpus to search; set data.corpus or give pairs with positives")
        ids, texts = [d.id for d in self.corpus], [d.text for d in self.corpus]

        def build() -> VectorIndex:
            return VectorIndex.build(self.vectors(model, tokenizer, texts, batch_size, autocast), ids)

        return index_for(model, corpus_digest(ids, texts), self.max_length, build)

    def search(
        self,
        index: VectorIndex,
        model: nn.Module,
        tokenizer: Any,
        texts: Sequence[str],
        batch_size: int,
        autocast: Any = None,
    ) -> tuple[list[Ranking], np.ndarray]:
        """The top-10 ids of `index` for every query, and the top score as confidence."""
        if not texts:
            return [], np.zeros(0)
        queries = self.vectors(model, tokenizer, texts, batch_size, autocast)
        ranked, scores = index.search(queries, min(TOP_K, len(index)))
        return ranked, np.asarray(scores)[:, 0]

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[PairExample], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """Cross-entropy of each query's own positive among all the examples' distinct positives."""
        passages = list(dict.fromkeys(ex.positive for ex in examples))  # a repeated positive is not a negative
        own = {text: i for i, text in enumerate(passages)}
        q = self.vectors(model, tokenizer, [ex.query for ex in examples], batch_size, autocast)
        d = self.vectors(model, tokenizer, passages, batch_size, autocast)
        logits = torch.from_numpy(self.scale * q @ d.T).double()
        logprobs = torch.log_softmax(logits, dim=-1).numpy()
        out = []
        for i, ex in enumerate(examples):
            top, target = int(logprobs[i].argmax()), own[ex.positive]
            out.append(
                ExampleScore(
                    float(-logprobs[i, target]),
                    ex.positive,
                    passages[top],
                    float(np.exp(logprobs[i, top])),
                    top != target,
                    float(np.exp(logprobs[i, target])),
                )
            )
        return out

    def copies(self) -> Copies:
        """The corpus's text-identical documents, worked out again only when the corpus list changes (`score` runs
        inside the bootstrap)."""
        cached = self._copies
        if cached is None or cached[0] is not self.corpus or cached[1] != len(self.corpus):
            cached = self._copies = (self.corpus, len(self.corpus), Copies.of(self.corpus))
        return cached[2]

    def gold(self, examples: Sequence[PairExample]) -> list[set[str]]:
        """Per query, the id of every corpus document whose text is its positive (a passage stored twice is
        found whichever copy is retrieved)."""
        copies = self.copies()
        return [copies.ids(ex.positive) for ex in examples]

    def metrics(self, gold: Sequence[set[str]], predicted: Sequence[Ranking]) -> dict[str, Any]:
        from hone.evaluate.retrieval_metrics import retrieval_metrics

        ranked, relevant = self.copies().merge(predicted, gold)
        result = retrieval_metrics(ranked, relevant)
        return {"metrics": result["metrics"]}

    def score(self, gold: Sequence[set[str]], predicted: Sequence[Ranking]) -> float:
        from hone.evaluate.retrieval_metrics import retrieval_score

        ranked, relevant = self.copies().merge(predicted, gold)
        return retrieval_score(ranked, relevant)

    def worst(
        self, examples: Sequence[PairExample], predicted: Sequence[Ranking], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Queries whose answer is missing from the top 10, most confident first."""
        text = {doc.id: doc.text for doc in self.corpus}
        rows = []
        for ex, ranking, gold, conf in zip(examples, predicted, self.gold(examples), confidence, strict=True):
            if not gold & set(ranking):
                rows.append((float(conf), ex, ranking))
        rows.sort(key=lambda row: -row[0])
        return [
            {
                "text": ex.query,
                "gold": ex.positive,
                "predicted": text.get(ranking[0], "") if ranking else "(nothing)",
                "confidence": round(conf, 4),
                "source": ex.source,
                "line": ex.line,
            }
            for conf, ex, ranking in rows[:limit]
        ]

    def regressions(
        self, examples: Sequence[PairExample], baselines: Mapping[str, Any], predicted: Sequence[Ranking], limit: int
    ) -> dict[str, Any] | None:
        """Queries the untuned base model ranked better than the tuned one, top 3 of each side by side."""
        from hone.evaluate.retrieval_metrics import worse_queries

        if "base" not in baselines:
            return None
        before = [self.from_json(x) for x in baselines["base"]["predictions"]]
        text = {doc.id: doc.text for doc in self.corpus}
        gold = self.gold(examples)
        rows = worse_queries(before, predicted, gold, [ex.query for ex in examples], text, limit)
        return {"against": "base", "queries": rows}

    def to_json(self, prediction: Ranking) -> list[str]:
        return list(prediction)

    def from_json(self, payload: list[str]) -> Ranking:
        return list(payload)


def _embed_batch(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return _embed(model, batch["input_ids"], batch["attention_mask"])


def _embed(model: nn.Module, input_ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    out = model({"input_ids": input_ids, "attention_mask": mask})["sentence_embedding"]
    return nn.functional.normalize(out.float(), dim=-1)


def _parse(record: Mapping[str, Any], data: EmbedDataConfig, source: str, line: int) -> PairExample | list[Any]:
    return parse_pair_example(
        record,
        query_field=data.text_field,
        positive_field=data.positive_field,
        negative_field=data.negative_field,
        source=source,
        line=line,
    )


class BaseEmbedder:
    """The untuned base model through the same ranking code: what tuning must improve on."""

    name = "base"

    def __init__(self, task: EmbedTask, model_dir: str, batch_size: int = 64) -> None:
        from transformers import AutoTokenizer

        self.task, self.batch_size = task, batch_size
        self.model = task.build_model(model_dir)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self._predict = task.bind(self.model, self.tokenizer, batch_size)

    def fit(self, train: Sequence[PairExample]) -> None:
        return None

    def predict(self, texts: Sequence[str]) -> tuple[list[Ranking], np.ndarray]:
        return self._predict(texts)


class BM25Baseline:
    """BM25 over the same corpus, returning corpus ids like the embedder."""

    name = "bm25"

    def __init__(self, task: EmbedTask) -> None:
        from hone.retrieval.bm25 import BM25Retriever

        self.task, self.retriever = task, BM25Retriever()

    def fit(self, train: Sequence[PairExample]) -> None:
        self.retriever.fit(self.task.corpus)

    def predict(self, texts: Sequence[str]) -> tuple[list[Ranking], np.ndarray]:
        return self.retriever.search(list(texts), min(TOP_K, len(self.task.corpus))), np.ones(len(texts))


def _baselines(config: EmbedConfig, model_dir: str, task: EmbedTask) -> list[Any]:
    made = {"bm25": lambda: BM25Baseline(task), "base": lambda: BaseEmbedder(task, model_dir, config.eval.batch_size)}
    return [made[name]() for name in config.baseline.methods]


def _mine(config: EmbedConfig, model_dir: str, task: EmbedTask, train: list[PairExample]) -> list[PairExample]:
    """Add `embed.hard_negatives` passages per query that the base model ranks high but are not the answer."""
    from dataclasses import replace

    from hone.retrieval.mining import mine_with_index

    settings = config.embed
    if not settings.hard_negatives or not train:
        return train
    base = BaseEmbedder(task, model_dir, config.eval.batch_size)
    index = task.corpus_index(base.model, base.tokenizer, config.eval.batch_size)  # the `base` baseline's index too
    queries = task.vectors(base.model, base.tokenizer, [ex.query for ex in train], config.eval.batch_size)
    copies = task.copies()
    positives = [copies.ids(ex.positive) for ex in train]  # no copy of the positive may come back as a negative
    mined = mine_with_index(queries, index, positives, settings.hard_negatives, settings.mining_margin)
    text = {doc.id: doc.text for doc in task.corpus}
    return [
        replace(ex, negatives=ex.negatives + tuple(text[i] for i in found))
        for ex, found in zip(train, mined, strict=True)
    ]


def _spec() -> Any:
    from hone.tasks.retrieval_lengths import embed_token_check
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=EmbedTask,
        parse=_parse,
        label_problems=pair_problems,
        long_inputs="truncate",
        token_check=embed_token_check,
        baselines=_baselines,
        augment=_mine,
    )


SPEC = _spec()
