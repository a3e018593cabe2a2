"""The cheaper alternatives a classification fine-tune must beat.

Each baseline is a Predictor, the same interface the tuned model is evaluated through:
`fit(train)` then `predict(texts) -> (predictions, scores)`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from hone.progress import tick
from hone.tasks.schema_classify import TextExample

Prediction = tuple[str, ...]


class Predictor(Protocol):
    name: str

    def fit(self, train: Sequence[TextExample]) -> None: ...

    def predict(self, texts: Sequence[str]) -> tuple[list[Prediction], np.ndarray]:
        """Predictions and a confidence per text."""
        ...


class Majority:
    """Always the most frequent training label (set); the floor every model must clear."""

    name = "majority"

    def __init__(self) -> None:
        self.answer: Prediction = ()

    def fit(self, train: Sequence[TextExample]) -> None:
        self.answer = Counter(tuple(sorted(ex.labels)) for ex in train).most_common(1)[0][0]

    def predict(self, texts: Sequence[str]) -> tuple[list[Prediction], np.ndarray]:
        return [self.answer] * len(texts), np.ones(len(texts))


class _LinearOnFeatures:
    """Logistic regression over some featurisation of the text; one-vs-rest for multi-label."""

    def __init__(self, multi_label: bool, seed: int) -> None:
        self.multi_label, self.seed = multi_label, seed
        self.model: Any = None
        self.binarizer: Any = None

    def features(self, texts: Sequence[str], fit: bool = False) -> Any:
        raise NotImplementedError

    def fit(self, train: Sequence[TextExample]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.multiclass import OneVsRestClassifier
        from sklearn.preprocessing import MultiLabelBinarizer

        x = self.features([ex.text for ex in train], fit=True)
        classifier = LogisticRegression(max_iter=2000, C=10.0, random_state=self.seed)
        if self.multi_label:
            self.binarizer = MultiLabelBinarizer()
            y = self.binarizer.fit_transform([ex.labels for ex in train])
            self.model = OneVsRestClassifier(classifier).fit(x, y)
        else:
            self.model = classifier.fit(x, [ex.label for ex in train])

    def predict(self, texts: Sequence[str]) -> tuple[list[Prediction], np.ndarray]:
        proba = self.model.predict_proba(self.features(texts))
        if self.multi_label:
            classes = self.binarizer.classes_
            preds = [tuple(classes[j] for j in np.flatnonzero(row >= 0.5)) for row in proba]
            return preds, np.abs(proba - 0.5).mean(axis=1) * 2
        classes = self.model.classes_
        return [(classes[i],) for i in proba.argmax(axis=1)], proba.max(axis=1)


class TfidfLogReg(_LinearOnFeatures):
    """Word 1-2-gram and character 2-5-gram TF-IDF + logistic regression: the strong classic baseline."""

    name = "tfidf_lr"

    def features(self, texts: Sequence[str], fit: bool = False) -> Any:
        from scipy.sparse import hstack
        from sklearn.feature_extraction.text import TfidfVectorizer

        if fit:
            self.vectorizers = [
                TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
                TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=2),
            ]
            return hstack([v.fit_transform(texts) for v in self.vectorizers]).tocsr()
        return hstack([v.transform(texts) for v in self.vectorizers]).tocsr()


class EmbedLogReg(_LinearOnFeatures):
    """Frozen base-encoder embeddings (mean pooled) + logistic regression: what the encoder knows untuned."""

    name = "embed_lr"

    def __init__(self, multi_label: bool, seed: int, model_dir: str, max_length: int, batch_size: int = 64) -> None:
        super().__init__(multi_label, seed)
        self.encoder = FrozenEncoder(model_dir, max_length, batch_size)

    def features(self, texts: Sequence[str], fit: bool = False) -> Any:
        return self.encoder.encode(texts)


class FrozenEncoder:
    """Mean-pooled, L2-normalised embeddings from a transformer body, in the fastest safe precision."""

    def __init__(self, model_dir: str, max_length: int, batch_size: int) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        from hone.train.setup import choose_precision

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir, dtype=torch.float32).eval()
        self.max_length, self.batch_size = max_length, batch_size
        self.bf16 = choose_precision("auto") == "bf16" and not torch.cuda.is_available()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.model.config.hidden_size), dtype=np.float32)
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                )
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                out[idx] = torch.nn.functional.normalize(pooled, dim=-1).numpy()
                tick(len(idx))
        return out


def make_baselines(
    names: Sequence[str], multi_label: bool, seed: int, model_dir: str, max_length: int
) -> list[Predictor]:
    """The configured baselines, in order."""
    made: dict[str, Any] = {
        "majority": lambda: Majority(),
        "tfidf_lr": lambda: TfidfLogReg(multi_label, seed),
        "embed_lr": lambda: EmbedLogReg(multi_label, seed, model_dir, max_length),
    }
    return [made[name]() for name in names]
