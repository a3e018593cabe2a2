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
# what a TF-IDF vectorizer needs to transform as it did when fitted (besides its vocabulary and idf)
VECTORIZER_PARAMS = (
    "analyzer",
    "binary",
    "lowercase",
    "max_df",
    "min_df",
    "ngram_range",
    "norm",
    "smooth_idf",
    "strip_accents",
    "sublinear_tf",
    "token_pattern",
    "use_idf",
)


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

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """What `hone.baseline.saved` writes to keep this baseline: arrays and JSON settings (no pickle)."""
        return {}, {"answer": list(self.answer)}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> Majority:
        kept = cls()
        kept.answer = tuple(meta["answer"])
        return kept


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

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """The logistic regression as stacked arrays: one row per class (one-vs-rest) or sklearn's own rows."""
        estimators = self.model.estimators_ if self.multi_label else [self.model]
        rows = [np.atleast_2d(getattr(e, "coef_", np.zeros((1, 0)))) for e in estimators]
        width = max(r.shape[1] for r in rows)
        coef = np.concatenate([r if r.shape[1] else np.zeros((1, width)) for r in rows])
        intercept = np.concatenate([np.atleast_1d(getattr(e, "intercept_", np.zeros(1))) for e in estimators])
        # a label present in every (or no) training row gets a constant predictor in one-vs-rest
        constant = [float(e.y_[0]) if hasattr(e, "y_") else None for e in estimators] if self.multi_label else []
        classes = self.binarizer.classes_ if self.multi_label else self.model.classes_
        meta = {"multi_label": self.multi_label, "seed": self.seed, "classes": [str(c) for c in classes]}
        return {"coef": coef.astype(np.float64), "intercept": intercept.astype(np.float64)}, {
            **meta,
            "constant": constant,
        }

    def _restore_linear(self, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import MultiLabelBinarizer

        classes = np.asarray(meta["classes"], dtype=object)
        if not self.multi_label:
            self.model = _logistic(LogisticRegression, arrays["coef"], arrays["intercept"], classes)
            return
        self.binarizer = MultiLabelBinarizer(classes=list(classes)).fit([list(classes)])
        self.model = _OneVsRest(
            [
                _Constant(c)
                if c is not None
                else _logistic(
                    LogisticRegression, arrays["coef"][k : k + 1], arrays["intercept"][k : k + 1], np.array([0, 1])
                )
                for k, c in enumerate(meta["constant"])
            ]
        )


def _logistic(factory: Any, coef: np.ndarray, intercept: np.ndarray, classes: np.ndarray) -> Any:
    """A fitted sklearn LogisticRegression from its arrays (predict_proba is sklearn's own)."""
    model = factory()
    model.coef_, model.intercept_, model.classes_ = coef, intercept, classes
    return model


class _Constant:
    """A one-vs-rest label seen in every (1.0) or no (0.0) training row."""

    def __init__(self, value: float) -> None:
        self.value = value

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.column_stack([np.full(x.shape[0], 1 - self.value), np.full(x.shape[0], self.value)])


class _OneVsRest:
    """The restored multi-label classifier: each label's own binary model, probabilities side by side."""

    def __init__(self, estimators: list[Any]) -> None:
        self.estimators_ = estimators

    def predict_proba(self, x: Any) -> np.ndarray:
        return np.column_stack([e.predict_proba(x)[:, 1] for e in self.estimators_])


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

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().export()
        vectorizers = []
        for k, v in enumerate(self.vectorizers):
            arrays[f"idf.{k}"] = np.asarray(v.idf_, dtype=np.float64)
            params = {p: x for p, x in v.get_params().items() if p in VECTORIZER_PARAMS}
            vocabulary = sorted(v.vocabulary_, key=v.vocabulary_.__getitem__)
            vectorizers.append({**params, "ngram_range": list(params["ngram_range"]), "vocabulary": vocabulary})
        return arrays, {**meta, "vectorizers": vectorizers}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> TfidfLogReg:
        from sklearn.feature_extraction.text import TfidfVectorizer

        kept = cls(meta["multi_label"], meta["seed"])
        kept.vectorizers = []
        for k, spec in enumerate(meta["vectorizers"]):
            params = {p: x for p, x in spec.items() if p in VECTORIZER_PARAMS}
            vocabulary = {term: i for i, term in enumerate(spec["vocabulary"])}
            vectorizer = TfidfVectorizer(
                **{**params, "ngram_range": tuple(params["ngram_range"])}, vocabulary=vocabulary
            )
            vectorizer.idf_ = arrays[f"idf.{k}"]
            kept.vectorizers.append(vectorizer)
        kept._restore_linear(arrays, meta)
        return kept


class EmbedLogReg(_LinearOnFeatures):
    """Frozen base-encoder embeddings (mean pooled) + logistic regression: what the encoder knows untuned."""

    name = "embed_lr"

    def __init__(self, multi_label: bool, seed: int, model_dir: str, max_length: int, batch_size: int = 64) -> None:
        super().__init__(multi_label, seed)
        self.encoder = FrozenEncoder(model_dir, max_length, batch_size)

    def features(self, texts: Sequence[str], fit: bool = False) -> Any:
        return self.encoder.encode(texts)

    def export(self) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        arrays, meta = super().export()
        return arrays, {**meta, "max_length": self.encoder.max_length}

    @classmethod
    def restore(cls, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> EmbedLogReg:
        """`meta["encoder"]` is the base model's directory, resolved by the caller (`hone.baseline.saved`)."""
        kept = cls(meta["multi_label"], meta["seed"], meta["encoder"], meta["max_length"])
        kept._restore_linear(arrays, meta)
        return kept


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
