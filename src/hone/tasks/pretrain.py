"""Continued pre-training: a base model reads raw domain text and comes out a better base for later runs.

Documents are tokenised, joined and cut into blocks of `max_length` tokens, so no text is truncated
and no compute goes to padding. A decoder learns every next token (`clm`: EOS after each document);
an encoder learns the tokens hidden by BERT's 80/10/10 masking (`mlm`: each document as `[CLS] doc
[SEP]`). Masks are drawn once per block from (seed, block index), so a resumed run trains on exactly
the masks an uninterrupted one would. The metric is held-out perplexity, of the untuned model (the
`base` baseline) and of the tuned one, by the same code; the saved model is a plain model folder
(adapters merged) that a later run's `model.name` can point at.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from hone.config.schema import PretrainConfig, PretrainDataConfig
from hone.data.problems import Problem
from hone.tasks import causal
from hone.tasks.batching import pad_ids
from hone.tasks.chat import IGNORE
from hone.tasks.fields import required_text

# model_type values of decoder-only models whose config.json may not name a *ForCausalLM architecture.
DECODER_TYPES = frozenset(
    "bloom codegen falcon gemma gemma2 gemma3 gpt2 gpt_bigcode gpt_neo gpt_neox gptj llama mistral mixtral mpt olmo "
    "olmo2 opt phi phi3 qwen2 qwen2_moe qwen3 smollm3 stablelm starcoder2".split()
)
MERGEABLE = ("full", "lora", "dora")
MAX_LOSS = 50.0  # perplexity is reported as exp(min(loss, 50)), as `causal.held_out_loss` does

Prediction = tuple[float, int]  # (summed negative log-likelihood in nats, tokens scored)


@dataclass(frozen=True)
class TextDoc:
    """One document of raw text; it has no labels (the label fields are there for the shared data checks)."""

    text: str
    source: str
    line: int
    labels: tuple[str, ...] = ()
    label_key: str = ""
    stratify_key: str = ""


def parse_text(record: Mapping[str, Any], data: PretrainDataConfig, source: str, line: int) -> TextDoc | list[Problem]:
    """A row as a document: its non-empty `text` (a .txt block arrives as {"text": block})."""
    problems: list[Problem] = []
    text = required_text(record, data.text_field, "the document text", source, line, problems, "data.text_field")
    return problems if text is None else TextDoc(text=text, source=source, line=line)


def detect_objective(model_dir: str) -> str:
    """`clm` for a decoder (is_decoder, a *ForCausalLM architecture or a known decoder type), else `mlm`."""
    config = json.loads((Path(model_dir) / "config.json").read_text())
    architectures = config.get("architectures") or []
    decoder = config.get("is_decoder") or any(a.endswith("ForCausalLM") for a in architectures)
    return "clm" if decoder or config.get("model_type") in DECODER_TYPES else "mlm"


def _check_method(method: str, objective: str) -> None:
    if objective == "mlm" and method != "full":
        raise ValueError(
            f"model.method {method} is not supported with data.objective mlm: hone adapts encoders for masked-LM "
            "training with every weight; set model.method: full (encoders are small enough to train fully)"
        )
    if method not in MERGEABLE:
        raise ValueError(
            f"model.method {method} cannot be used for pretrain: the run saves a plain model for later runs, so "
            f"adapters are merged into the weights, and {method} cannot be merged; use {', '.join(MERGEABLE)}"
        )


@dataclass
class PretrainTask:
    objective: str = "clm"
    max_length: int = 256
    mlm_probability: float = 0.15
    seed: int = 13

    name = "pretrain"
    primary_metric = "perplexity"
    higher_is_better = False
    head_modules: tuple[str, ...] = ()
    peft_task_type = "CAUSAL_LM"  # only clm takes adapters (see `_check_method`)
    example_loss_note = "no per-example loss: raw text has no labels"

    def example_losses(
        self, model: nn.Module, tokenizer: Any, examples: Sequence[Any], batch_size: int, autocast: Any = None
    ) -> str:
        """No labels here: raw domain text cannot be mislabelled."""
        return "pretrain trains on raw text: there are no labels to be wrong (test perplexity is in the metrics)"

    @classmethod
    def from_config(cls, config: PretrainConfig, examples: Sequence[Any]) -> PretrainTask:
        """The objective from the config, or (`auto`) from the base model's config.json."""
        from hone.models.resolve import resolve_model

        data = config.data
        objective = data.objective
        if objective == "auto":
            objective = detect_objective(str(resolve_model(config.model.name)))
        _check_method(config.model.method, objective)
        return cls(objective, data.max_length, data.mlm_probability, config.seed)

    def describe(self) -> dict[str, Any]:
        return {
            "task": self.name,
            "objective": self.objective,
            "max_length": self.max_length,
            "mlm_probability": self.mlm_probability,
            "seed": self.seed,
        }

    def build_model(self, model_dir: str) -> nn.Module:
        if self.objective == "clm":
            return causal.build_causal_lm(model_dir)
        from transformers import AutoModelForMaskedLM

        return AutoModelForMaskedLM.from_pretrained(model_dir, dtype=torch.float32)

    def prepare_for_save(self, model: nn.Module) -> nn.Module:
        """Adapters merged into the weights (in place: the model's last use), so the saved folder is a plain
        model any later run loads as its base."""
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model

    # --- training --------------------------------------------------------------------------------

    def encode(self, examples: Sequence[Any], tokenizer: Any) -> list[dict[str, Any]]:
        """Every document joined into one token stream, cut into blocks of `max_length` (the last may be shorter)."""
        texts = [ex.text for ex in examples]
        if self.objective == "clm":
            eos = _eos(tokenizer)
            ids = tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]
            stream = [t for doc in ids for t in [*doc, eos]]
        else:
            stream = [t for doc in tokenizer(texts, verbose=False)["input_ids"] for t in doc]
        blocks = [stream[i : i + self.max_length] for i in range(0, len(stream), self.max_length)]
        if self.objective == "clm":
            return [{"input_ids": b, "labels": b} for b in blocks if len(b) > 1]
        masker = Masker(tokenizer, self.mlm_probability)
        features = [masker.mask(b, random.Random(f"{self.seed}:{i}")) for i, b in enumerate(blocks)]
        return [f for f in features if any(x != IGNORE for x in f["labels"])]

    def collate(self, features: Sequence[dict[str, Any]], tokenizer: Any) -> dict[str, torch.Tensor]:
        if self.objective == "clm":
            return causal.collate_lm(features, causal.pad_id(tokenizer))
        batch = pad_ids(features, tokenizer.pad_token_id)
        labels = torch.full(batch["input_ids"].shape, IGNORE, dtype=torch.long)
        for row, f in enumerate(features):
            labels[row, : len(f["labels"])] = torch.tensor(f["labels"])
        return {**batch, "labels": labels}

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.objective == "clm":
            return causal.lm_loss(model, batch)
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        mask = batch["labels"] != IGNORE
        if not mask.any():
            return logits.sum() * 0.0
        return nn.functional.cross_entropy(logits[mask].float(), batch["labels"][mask])

    # --- evaluation ------------------------------------------------------------------------------

    def predict(
        self, model: nn.Module, tokenizer: Any, texts: Sequence[str], batch_size: int, autocast: Any = None
    ) -> tuple[list[Prediction], np.ndarray]:
        """(summed NLL, tokens scored) per text; confidence is 0 (a perplexity has none).

        Each text is scored alone, in windows of `max_length`: a causal LM every token after a leading
        EOS (the context it has in training) and the closing EOS; an encoder the tokens its fixed masks
        hide (drawn from the seed and the text, so the base and the tuned model see the same masks).
        """
        windows = [(i, w) for i, text in enumerate(texts) for w in self._windows(text, tokenizer)]
        row_nll = _clm_row_nll if self.objective == "clm" else _mlm_row_nll
        collate = functools.partial(self.collate, tokenizer=tokenizer)
        scores = _score(model, [w for _, w in windows], collate, row_nll, batch_size, autocast)
        nll, count = [0.0] * len(texts), [0] * len(texts)
        for (i, _), (s, n) in zip(windows, scores, strict=True):
            nll[i] += s
            count[i] += n
        return list(zip(nll, count, strict=True)), np.zeros(len(texts), dtype=np.float32)

    def _windows(self, text: str, tokenizer: Any) -> list[dict[str, Any]]:
        if self.objective == "clm":
            eos = _eos(tokenizer)
            full = [eos, *tokenizer(text, add_special_tokens=False, verbose=False)["input_ids"], eos]
            step = self.max_length - 1  # each window re-reads the previous one's last token as context
            windows = [full[s : s + self.max_length] for s in range(0, len(full) - 1, step)]
            return [{"input_ids": w, "labels": w} for w in windows]
        # The tokenizer cuts the text into windows and wraps each in its special tokens ([CLS] ... [SEP]).
        windows = tokenizer(
            text, truncation=True, max_length=self.max_length, return_overflowing_tokens=True, verbose=False
        )["input_ids"]
        masker = Masker(tokenizer, self.mlm_probability)
        seed = f"{self.seed}:{zlib.crc32(text.encode('utf-8'))}"
        return [masker.mask(w, random.Random(f"{seed}:{k}")) for k, w in enumerate(windows)]

    def gold(self, examples: Sequence[Any]) -> list[None]:
        return [None] * len(examples)

    def metrics(self, gold: Sequence[Any], predicted: Sequence[Prediction]) -> dict[str, Any]:
        nll = sum(p[0] for p in predicted)
        tokens = sum(p[1] for p in predicted)
        loss = nll / max(tokens, 1)
        return {"metrics": {"perplexity": _perplexity(loss), "loss": loss, "tokens": tokens, "n": len(predicted)}}

    def score(self, gold: Sequence[Any], predicted: Sequence[Prediction]) -> float:
        return self.metrics(gold, predicted)["metrics"]["perplexity"]

    def worst(
        self, examples: Sequence[Any], predicted: Sequence[Prediction], confidence: np.ndarray, limit: int
    ) -> list[dict[str, Any]]:
        """The texts the model finds most surprising: highest loss per token first."""
        ranked = sorted(((nll / max(n, 1), i) for i, (nll, n) in enumerate(predicted)), reverse=True)
        return [
            {
                "text": examples[i].text,
                "gold": "",
                "predicted": f"perplexity {_perplexity(loss):.2f} over {predicted[i][1]} tokens",
                "loss": round(loss, 4),
                "tokens": predicted[i][1],
                "confidence": 0.0,
                "source": examples[i].source,
                "line": examples[i].line,
            }
            for loss, i in ranked[:limit]
        ]

    def to_json(self, prediction: Prediction) -> list[float]:
        return [prediction[0], prediction[1]]

    def from_json(self, payload: Sequence[float]) -> Prediction:
        return float(payload[0]), int(payload[1])

    def present(self, prediction: Prediction) -> dict[str, Any]:
        """One text's score as `hone predict` prints it."""
        nll, tokens = prediction
        return {"perplexity": math.exp(min(nll / max(tokens, 1), 50.0)), "tokens": tokens}


class Masker:
    """BERT's masking: `probability` of the ordinary tokens become targets; of those 80% turn into the mask
    token, 10% into a random ordinary token, 10% stay. Special tokens are never targets. At least one
    target per block, so every block has a loss."""

    def __init__(self, tokenizer: Any, probability: float) -> None:
        if tokenizer.mask_token_id is None:
            raise ValueError(
                "data.objective mlm needs a tokenizer with a mask token (an encoder such as BERT or RoBERTa); "
                "for a decoder set data.objective: clm"
            )
        self.mask_id, self.probability = tokenizer.mask_token_id, probability
        self.special = set(tokenizer.all_special_ids)
        self.vocab = len(tokenizer)

    def mask(self, ids: Sequence[int], rng: random.Random) -> dict[str, list[int]]:
        candidates = [k for k, t in enumerate(ids) if t not in self.special]
        chosen = [k for k in candidates if rng.random() < self.probability]
        if not chosen and candidates:
            chosen = [rng.choice(candidates)]
        inputs, labels = list(ids), [IGNORE] * len(ids)
        for k in chosen:
            labels[k] = ids[k]
            roll = rng.random()
            if roll < 0.8:
                inputs[k] = self.mask_id
            elif roll < 0.9:
                inputs[k] = self._random_token(rng)
        return {"input_ids": inputs, "labels": labels}

    def _random_token(self, rng: random.Random) -> int:
        while (token := rng.randrange(self.vocab)) in self.special:
            pass
        return token


def _score(
    model: nn.Module,
    features: Sequence[dict[str, Any]],
    collate: Callable[[Sequence[dict[str, Any]]], dict[str, torch.Tensor]],
    row_nll: Callable[[nn.Module, dict[str, torch.Tensor]], tuple[torch.Tensor, torch.Tensor]],
    batch_size: int,
    autocast: Any,
) -> list[Prediction]:
    """(summed NLL, labelled tokens) per feature, batched by length, in input order."""
    device = next(model.parameters()).device
    out: list[Prediction] = [(0.0, 0)] * len(features)
    order = sorted(range(len(features)), key=lambda i: len(features[i]["input_ids"]))
    was_training = model.training
    model.eval()
    with torch.inference_mode(), autocast() if autocast else contextlib.nullcontext():
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = {k: v.to(device) for k, v in collate([features[i] for i in idx]).items()}
            nll, count = row_nll(model, batch)
            for row, i in enumerate(idx):
                out[i] = (float(nll[row]), int(count[row]))
    model.train(was_training)
    return out


def _clm_row_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed NLL of each row's next tokens, and how many there are."""
    logprobs, mask = causal.token_logprobs(model, batch)
    return -logprobs.sum(1), mask.sum(1)


def _mlm_row_nll(model: nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Summed NLL of each row's masked tokens, and how many there are."""
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
    mask = batch["labels"] != IGNORE
    nll = torch.zeros(mask.shape, dtype=torch.float32, device=logits.device)
    nll[mask] = nn.functional.cross_entropy(logits[mask].float(), batch["labels"][mask], reduction="none")
    return nll.sum(1), mask.sum(1)


def _perplexity(loss: float) -> float:
    return math.exp(min(loss, MAX_LOSS))


def _eos(tokenizer: Any) -> int:
    if tokenizer.eos_token_id is None:
        raise ValueError("the tokenizer has no EOS token to end documents with; data.objective clm needs one")
    return int(tokenizer.eos_token_id)


def token_check(
    examples: Sequence[Any], tokenizer: Any, data: PretrainDataConfig
) -> tuple[dict[str, Any] | None, list[Problem]]:
    """Corpus size in tokens and blocks; nothing is cut (documents are joined, then split into blocks)."""
    from hone.data.lengths import token_lengths

    lengths = token_lengths([ex.text for ex in examples], tokenizer)
    if not lengths:
        return None, []
    total = sum(lengths)
    stats: dict[str, Any] = {
        "documents": len(lengths),
        "tokens": total,
        "median": float(np.median(lengths)),
        "max": max(lengths),
        "max_length": data.max_length,
        "blocks": math.ceil(total / data.max_length),
    }
    stats["summary"] = [
        f"tokens: {total:,} in {len(lengths):,} documents (median {stats['median']:g}, max {stats['max']:,}), "
        f"about {stats['blocks']:,} blocks of {data.max_length} across all splits; no text is cut"
    ]
    return stats, []


def _baselines(config: PretrainConfig, model_dir: str, task: Any) -> list[Any]:
    """The untuned model's perplexity, by the task's own `predict`: the number pre-training must lower."""
    from hone.baseline.prompting import UntunedModel

    # seeded like the trainer, so a new random MLM head is the one training starts from
    return [UntunedModel(task, model_dir, config.eval.batch_size, seed=task.seed)]


def _spec() -> Any:
    from hone.tasks.spec import TaskSpec

    return TaskSpec(
        task=PretrainTask,
        parse=parse_text,
        label_problems=lambda examples, ratio: [],
        long_inputs="window",
        baselines=_baselines,
        token_check=token_check,
    )


SPEC = _spec()
