"""train-lora: LoRA instruction tuning, hone's training path against transformers' Trainer + PEFT in fp32.

Both sides train the same LoRA (r 16, every linear layer) on the same tokenised conversations, one epoch,
same learning rate, warm-up, decay, clipping and seed. hone runs exactly the session `hone train` builds
(`hone.api.prepare` + `hone.train.trainer`: packed rows, length-grouped batches, bf16 autocast where the CPU
has it); the comparison is the usual recipe: `Trainer`, fp32, random batches padded by
`DataCollatorForSeq2Seq`. The figure is non-pad tokens per second; after every timed run both models are
scored on the same held-out conversations in fp32, so speed cannot come from learning less.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from bench import data, models
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure

NAME = "train-lora"


@dataclass(frozen=True)
class Sizes:
    train: int
    dev: int
    batch: int  # the comparison's batch (examples)
    rows: int  # hone's batch (packed rows of max_length)
    max_length: int
    r: int
    warm_steps: int


FULL = Sizes(train=64, dev=24, batch=4, rows=1, max_length=512, r=16, warm_steps=2)
SMOKE = Sizes(train=12, dev=4, batch=4, rows=1, max_length=256, r=4, warm_steps=1)
LR, WARMUP_RATIO, ALPHA_PER_R, DROPOUT, SEED = 5e-4, 0.05, 2, 0.05, 0


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.smoke = settings.smoke
        self.sizes = SMOKE if settings.smoke else FULL
        self.path = models.model_dir(settings.smoke)
        self.tokenizer = models.tokenizer(self.path)
        self.folder = tempfile.TemporaryDirectory(prefix="hone-bench-train-")
        root = Path(self.folder.name)
        rows = data.copy_conversations(self.sizes.train + self.sizes.dev, SEED)
        for name, part in (("train", rows[: self.sizes.train]), ("dev", rows[self.sizes.train :])):
            (root / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in part), encoding="utf-8")
        self.root = root
        self.runs = 0
        self.held_out: dict[str, list[float]] = {HONE: [], COMPARISON: []}
        self.curves: dict[str, list[list[float]]] = {HONE: [], COMPARISON: []}
        from hone.tasks.instruct import InstructTask

        unpacked = InstructTask(max_length=self.sizes.max_length, packing=False)
        self.train_features = unpacked.encode(self._examples("train"), self.tokenizer)
        self.dev_features = unpacked.encode(self._examples("dev"), self.tokenizer)
        self.lengths = [len(f["input_ids"]) for f in self.train_features]

    def _examples(self, split: str) -> list[Any]:
        from hone.api import check

        return check(self.config(split_probe=True)).splits[split]

    def config(self, seed: int = SEED, split_probe: bool = False) -> dict[str, Any]:
        s = self.sizes
        return {
            "task": "instruct",
            "name": f"train-{self.runs}",
            "seed": seed,
            "runs_dir": str(self.root / "runs"),
            "data": {
                "train": str(self.root / "train.jsonl"),
                "dev": str(self.root / "dev.jsonl"),
                "test": str(self.root / "dev.jsonl"),
                "template": "chat",
                "max_length": s.max_length,
            },
            "model": {
                "name": str(self.path),
                "method": "lora",
                "lora": {"r": s.r, "alpha": s.r * ALPHA_PER_R, "dropout": DROPOUT, "target_modules": "all-linear"},
            },
            "train": {
                "epochs": 1,
                "batch_size": s.rows,
                "lr": LR,
                "warmup_ratio": WARMUP_RATIO,
                "eval_every": None,
                "patience": None,
            },
            "generate": {"packing": True},
        }

    # --- hone -------------------------------------------------------------------------------------------

    def hone_session(self) -> Any:
        from hone.api import prepare
        from hone.train.trainer import _build

        self.runs += 1
        p = prepare(self.config(seed=SEED + self.runs))
        from hone.pipeline.steps import training_examples

        return _build(p.config, p.run, p.task, training_examples(p), [])

    def hone_train(self, max_steps: int | None = None) -> dict[str, Any]:
        from hone.train.loop import train_steps

        s = self.session
        tokens = examples = 0
        losses: list[list[float]] = []
        for record in train_steps(s.model, s.optimizer, s.scheduler, s.accelerator, s.spec, s.pos):
            tokens += record.tokens
            examples += record.examples
            losses.append([examples, record.loss])
            if max_steps is not None and record.step >= max_steps:
                break
        return {"tokens": tokens, "examples": examples, "steps": len(losses), "losses": losses, "side": HONE}

    # --- the comparison ---------------------------------------------------------------------------------

    def trainer(self) -> Any:
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments
        from transformers.trainer_callback import PrinterCallback

        self.runs += 1
        s = self.sizes
        torch.manual_seed(SEED + self.runs)
        model = AutoModelForCausalLM.from_pretrained(str(self.path), dtype=torch.float32)
        lora = LoraConfig(
            task_type="CAUSAL_LM",
            r=s.r,
            lora_alpha=s.r * ALPHA_PER_R,
            lora_dropout=DROPOUT,
            target_modules="all-linear",
        )
        model = get_peft_model(model, lora)
        pad = DataCollatorForSeq2Seq(self.tokenizer, padding=True, label_pad_token_id=-100)
        counted = {"tokens": 0}

        def collate(features: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
            batch = pad([{"input_ids": f["input_ids"], "labels": f["labels"]} for f in features])
            counted["tokens"] += int(batch["attention_mask"].sum())
            return batch

        steps = -(-s.train // s.batch)
        args = TrainingArguments(
            output_dir=str(self.root / f"trainer-{self.runs}"),
            per_device_train_batch_size=s.batch,
            num_train_epochs=1,
            learning_rate=LR,
            warmup_steps=int(WARMUP_RATIO * steps),
            lr_scheduler_type="linear",
            weight_decay=0.01,
            max_grad_norm=1.0,
            logging_steps=1,
            save_strategy="no",
            report_to=[],
            use_cpu=True,
            seed=SEED + self.runs,
            disable_tqdm=True,
            dataloader_num_workers=0,
        )
        trainer = Trainer(model=model, args=args, train_dataset=self.train_features, data_collator=collate)
        trainer.remove_callback(PrinterCallback)  # a dict per step on stdout would bury the tables
        trainer.counted = counted
        return trainer

    def trainer_train(self, max_steps: int | None = None) -> dict[str, Any]:
        t = self.hf
        if max_steps is not None:
            t.args.max_steps = max_steps
        t.train()
        losses, examples = [], 0
        for entry in t.state.log_history:
            if "loss" in entry:
                examples += self.sizes.batch
                losses.append([min(examples, self.sizes.train), entry["loss"]])
        return {
            "tokens": t.counted["tokens"],
            "examples": min(examples, self.sizes.train),
            "steps": t.state.global_step,
            "losses": losses,
            "side": COMPARISON,
        }

    # --- scoring ----------------------------------------------------------------------------------------

    def score(self, model: Any, side: str, notes: dict[str, Any]) -> None:
        """Held-out loss of the trained model in fp32, the same function for both sides."""
        from hone.tasks.causal import held_out_loss, pad_id

        loss = held_out_loss(model, self.dev_features, pad_id(self.tokenizer), 8)["loss"]
        self.held_out[side].append(loss)
        self.curves[side].append([pair[1] for pair in notes["losses"]])
        notes["held_out_loss"] = loss


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
            "hone train: packed rows, precision auto",
            HONE,
            bench.hone_train,
            hone_prepare,
            per="tokens",
            warm=lambda: bench.hone_train(warm),
            after=lambda notes: bench.score(bench.session.accelerator.unwrap_model(bench.session.model), HONE, notes),
        ),
        Case(
            "trainer",
            "transformers Trainer + PEFT, fp32, padded",
            COMPARISON,
            bench.trainer_train,
            trainer_prepare,
            per="tokens",
            warm=lambda: bench.trainer_train(warm),
            after=lambda notes: bench.score(bench.hf.model, COMPARISON, notes),
        ),
    ]
    figures = measure(cases, settings)
    return Result(NAME, __doc__.splitlines()[0], workload(bench, settings), figures, settings, checks(bench))


def checks(bench: Bench) -> dict[str, Any]:
    """Held-out loss per repeat (each repeat has its own seed) and whether the two sides agree within noise."""
    hone, other = bench.held_out[HONE], bench.held_out[COMPARISON]
    spread = [abs(a - b) for side in (hone, other) for a, b in zip(side, side[1:], strict=False)]
    gap = abs(statistics.mean(hone) - statistics.mean(other))
    noise = max(spread, default=0.0)
    return {
        "held_out_loss": {"hone": hone, "comparison": other},
        "held_out_gap": gap,
        "seed_noise": noise,
        "same_quality": gap <= max(noise, 0.02 * statistics.mean(other)),
        "final_train_loss": {
            "hone": [c[-1] for c in bench.curves[HONE]],
            "comparison": [c[-1] for c in bench.curves[COMPARISON]],
        },
    }


def workload(bench: Bench, settings: Settings) -> dict[str, Any]:
    s, lengths = bench.sizes, bench.lengths
    return {
        "model": models.describe(
            bench.path, bench.session.accelerator.unwrap_model(bench.session.model), settings.smoke
        ),
        "lora": {"r": s.r, "alpha": s.r * ALPHA_PER_R, "dropout": DROPOUT, "targets": "all-linear"},
        "data": {
            "source": "bench/data.py copy_conversations (seeded product-copy chats, log-uniform lengths)",
            "train": s.train,
            "dev": s.dev,
            "tokens": {
                "min": min(lengths),
                "median": statistics.median(lengths),
                "max": max(lengths),
                "sum": sum(lengths),
            },
        },
        "schedule": {"epochs": 1, "lr": LR, "warmup_ratio": WARMUP_RATIO, "max_grad_norm": 1.0, "weight_decay": 0.01},
        "hone": {
            "batch": f"{s.rows} packed row(s) of up to {s.max_length} tokens",
            "precision": "train.precision auto (bf16 autocast on CPUs with AMX, else fp32)",
            "path": "hone.api.prepare + hone.train.trainer._build + hone.train.loop.train_steps "
            "(what `hone train` runs)",
        },
        "comparison": {
            "batch": f"{s.batch} examples, padded to the longest (DataCollatorForSeq2Seq)",
            "precision": "fp32",
            "path": "transformers.Trainer + peft.get_peft_model",
        },
        "timed": "the optimizer steps of one epoch (model loading and scoring are not timed)",
        "warm_up": f"{s.warm_steps} steps per side",
        "held_out": "hone.tasks.causal.held_out_loss in fp32 on the dev conversations, after every timed run",
    }
