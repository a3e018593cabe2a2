"""Named-entity recognition: typed character spans, in texts of any length.

Texts are tokenised whole, cut into overlapping windows of `max_length` subwords (`stride` shared),
trained per window with IOB2 labels on every subword, and predicted per window; each token takes
the scores of the window where it has the most context, so an entity on a window border is found
once. Predictions are character spans on the original text. Primary metric: entity-level F1
(seqeval semantics) on words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import NerConfig, NerDataConfig
from hone.data.problems import Problem
from hone.tasks.base import ExampleScore
from hone.tasks.batching import pad_ids
from hone.tasks.ner_align import (
    IGNORE,
    Window,
    decode_spans,
    label_list,
    make_windows,
    merge_windows,
    misaligned_spans,
    token_labels,
    tokenize_document,
    window_labels,
)
from hone.tasks.ner_schema import (
    MISALIGNED_SPAN,
    NerExample,
    Span,
    entity_counts,
    ner_dataset_problems,
    parse_ner_example,
    span_warnings,
)

Prediction = list[Span]


@dataclass
class NerTask:
    types: list[str]
    max_length: int = 128
    stride: int = 32

    name = "ner"
    primary_metric = "f1"
    higher_is_better = True
    head_modules = ("classifier",)
    peft_task_type = "TOKEN_CLS"
    example_loss_note = "loss: mean cross-entropy of the given IOB2 tag over the text's subwords"

    @classmethod
    def from_config(cls, config: NerConfig, examples: Sequence[NerExample]) -> NerTask:
        """Entity types: the declared ones, else every type in any split, sorted."""
        types = config.data.labels or sorted({span.label for ex in examples for span in ex.spans})
        return cls(types=list(types), max_length=config.data.max_length, stride=config.data.stride)

    @property
    def labels(self) -> list[str]:
        return label_list(self.types)

    def describe(self) -> dict[str, Any]:
        return {"task": self.name, "types": self.types, "max_length": self.max_length, "stride": self.stride}

    def build_model(self, model_dir: str) -> nn.Module:
        from transformers import AutoModelForTokenClassification

        labels = self.labels
        return AutoModelForTokenClassification.from_pretrained(
            model_dir,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            dtype=torch.float32,
        )

    def _windows(self, text: str, tokenizer: Any) -> tuple[list[Window], list[tuple[int, int]], int]:
        ids, offsets = tokenize_document(text, tokenizer)
        stride = min(self.stride, max(0, self.max_length // 2 - 2))
        return make_windows(ids, offsets, tokenizer, self.max_length, stride), offsets, len(ids)

    def encode(self, examples: Sequence[NerExample], tokenizer: Any) -> list[dict[str, Any]]:
        """One training feature per window; labels come from the document, so borders are consistent."""
        index = {label: i for i, label in enumerate(self.labels)}
        features = []
        for ex in examples:
            windows, offsets, _ = self._windows(ex.text, tokenizer)
            doc_labels = token_labels(offsets, ex.spans, index)
            features += [{"input_ids": w.input_ids, "target": window_labels(w, doc_labels)} for w in windows]
        return features

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        batch = pad_ids(features, tokenizer.pad_token_id)
        if "target" in features[0]:
            targets = torch.full(batch["input_ids"].shape, IGNORE, dtype=torch.long)
            for i, f in enumerate(features):
                targets[i, : len(f["target"])] = torch.tensor(f["target"])
            batch["labels"] = targets
        return batch

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        return nn.functional.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Prediction], np.ndarray]:
        """Character spans per text, and a confidence (the mean top probability over its tokens)."""
        docs = [self._windows(text, tokenizer) for text in texts]
        flat = [(d, w) for d, (windows, _, _) in enumerate(docs) for w in range(len(windows))]
        features = [{"input_ids": docs[d][0][w].input_ids} for d, w in flat]
        scores = self._window_scores(model, tokenizer, features, batch_size, autocast)
        per_doc: list[list[np.ndarray]] = [[] for _ in docs]
        for (d, _), window_scores in zip(flat, scores, strict=True):
            per_doc[d].append(window_scores)
        spans, confidence = [], np.ones(len(texts))
        for d, ((windows, offsets, n), text) in enumerate(zip(docs, texts, strict=True)):
            if n == 0:
                spans.append([])
                continue
            merged = merge_windows(windows, per_doc[d], n)
            spans.append(decode_spans(merged.argmax(axis=1).tolist(), offsets, self.labels, text))
            confidence[d] = float(merged.max(axis=1).mean())
        return spans, confidence

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[NerExample], batch_size: int, autocast: Any = None
    ) -> list[ExampleScore]:
        """Mean subword loss of the given tags; confidence and detail: the most confidently wrong subword."""
        texts = [ex.text for ex in examples]
        docs = [self._windows(text, tokenizer) for text in texts]
        flat = [(d, w) for d, (windows, _, _) in enumerate(docs) for w in range(len(windows))]
        scores = self._window_scores(
            model, tokenizer, [{"input_ids": docs[d][0][w].input_ids} for d, w in flat], batch_size, autocast
        )
        per_doc: list[list[np.ndarray]] = [[] for _ in docs]
        for (d, _), window_scores in zip(flat, scores, strict=True):
            per_doc[d].append(window_scores)
        index = {label: i for i, label in enumerate(self.labels)}
        return [
            self._example_score(ex, windows, offsets, n, per_doc[d], index)
            for d, (ex, (windows, offsets, n)) in enumerate(zip(examples, docs, strict=True))
        ]

    def _example_score(
        self,
        ex: NerExample,
        windows: list[Window],
        offsets: list[tuple[int, int]],
        n: int,
        window_scores: list[np.ndarray],
        index: dict[str, int],
    ) -> ExampleScore:
        label = _show(ex.text, ex.spans)
        gold = np.asarray(token_labels(offsets, ex.spans, index), dtype=int)
        keep = np.flatnonzero(gold != IGNORE)
        if keep.size == 0:  # no content subwords: nothing to fit
            return ExampleScore(0.0, label, label, None, False)
        merged = merge_windows(windows, window_scores, n)
        probs, tags = merged[keep], gold[keep]
        loss = float(-np.log(np.clip(probs[np.arange(keep.size), tags], 1e-12, None)).mean())
        spans = decode_spans(merged.argmax(axis=1).tolist(), offsets, self.labels, ex.text)
        wrong, shown = set(spans) != set(ex.spans), _show(ex.text, spans)
        top = probs.argmax(axis=1)
        misses = np.flatnonzero(top != tags)
        if misses.size == 0:
            return ExampleScore(loss, label, shown, None, wrong)
        k = misses[probs[misses, top[misses]].argmax()]  # the subword the model is surest the tag is wrong on
        start, end = offsets[keep[k]]
        said, given = self.labels[top[k]], self.labels[tags[k]]
        detail = f"{ex.text[start:end]!r} tagged {given}, model says {said} ({probs[k, top[k]]:.2f})"
        return ExampleScore(loss, label, shown, float(probs[k, top[k]]), wrong, float(probs[k, tags[k]]), detail)

    def _window_scores(
        self, model: nn.Module, tokenizer: Any, features: list[dict[str, Any]], batch_size: int, autocast: Any
    ) -> list[np.ndarray]:
        """Label probabilities per window position, in feature order, without the padding."""
        from hone.evaluate.predict import batched

        rows = batched(model, features, lambda f: self.collate(f, tokenizer), batch_size, _probabilities, autocast)
        return [row[: len(f["input_ids"])] for row, f in zip(rows, features, strict=True)]

    def gold(self, examples: Sequence[NerExample]) -> list[NerExample]:
        return list(examples)

    def metrics(self, gold: Sequence[NerExample], predicted: Sequence[Prediction]) -> dict[str, Any]:
        from hone.evaluate.ner_metrics import ner_metrics

        return ner_metrics(gold, predicted)

    def score(self, gold: Sequence[NerExample], predicted: Sequence[Prediction]) -> float:
        from hone.evaluate.ner_metrics import ner_score

        return ner_score(gold, predicted)

    def worst(
        self, examples: Sequence[NerExample], predicted: Sequence[Prediction], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """Texts whose predicted entities differ from the gold ones, most differences first."""
        rows = []
        for ex, spans, conf in zip(examples, predicted, confidence, strict=True):
            gold, pred = set(ex.spans), set(spans)
            if gold != pred:
                rows.append((len(gold ^ pred), ex, spans, float(conf)))
        rows.sort(key=lambda row: -row[0])
        return [
            {
                "text": ex.text,
                "gold": _show(ex.text, ex.spans),
                "predicted": _show(ex.text, spans),
                "confidence": round(conf, 4),
                "source": ex.source,
                "line": ex.line,
            }
            for _, ex, spans, conf in rows[:limit]
        ]

    def to_json(self, prediction: Prediction) -> list[dict[str, Any]]:
        return [{"start": s.start, "end": s.end, "label": s.label} for s in prediction]

    def from_json(self, payload: list[dict[str, Any]]) -> Prediction:
        return [Span(int(s["start"]), int(s["end"]), str(s["label"])) for s in payload]


def _probabilities(model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return torch.softmax(model(**batch).logits.float(), dim=-1)


def _show(text: str, spans: Sequence[Span]) -> str:
    return "; ".join(f"{text[s.start : s.end]} ({s.label})" for s in sorted(spans, key=lambda s: s.start)) or "(none)"


def _parse(record: Mapping[str, Any], data: NerDataConfig, source: str, line: int) -> NerExample | list[Any]:
    return parse_ner_example(
        record,
        text_field=data.text_field,
        spans_field=data.spans_field,
        tokens_field=data.tokens_field,
        tags_field=data.tags_field,
        scheme=data.tag_scheme,
        labels=data.labels,
        source=source,
        line=line,
    )


def _misaligned(examples: Sequence[NerExample], tokenizer: Any) -> list[Problem]:
    """Spans whose edges fall inside a subword: the model can only approximate them."""
    found = []
    for ex in examples:
        _, offsets = tokenize_document(ex.text, tokenizer)
        for span in misaligned_spans(ex.text, ex.spans, offsets):
            message = (
                f"span {ex.text[span.start : span.end]!r} ({span.start}-{span.end}, {span.label}) does not start and "
                "end on token boundaries of this model's tokenizer; predictions can only approximate it — "
                "check the offsets or expect a boundary error"
            )
            found.append(Problem(MISALIGNED_SPAN, message, ex.source, ex.line, "spans", "warning"))
    return found


def _baselines(config: NerConfig, model_dir: str, task: Any) -> list[Any]:
    from hone.baseline.gazetteer import Gazetteer

    made = {"gazetteer": Gazetteer}
    return [made[name]() for name in config.baseline.methods]


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=NerTask,
        parse=_parse,
        label_problems=ner_dataset_problems,
        long_inputs="window",
        baselines=_baselines,
        example_warnings=span_warnings,
        token_problems=_misaligned,
        entity_counts=entity_counts,
    )


SPEC = _spec()
