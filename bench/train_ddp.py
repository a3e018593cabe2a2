"""train-ddp: data-parallel training on 2 processes against 1 process, on the same global batches.

Both sides run `hone train` end to end as a user runs it (a subprocess each time: process start, model
load and training): full fine-tuning of MiniLM for classification on the same texts, one epoch, the
same global batch (1 process x batch 16, or 2 processes x batch 8 through `hone train --processes 2`,
i.e. torchrun with gloo on CPU), and the same total number of torch threads (2 for the single process,
1 per process for the pair). The figure is training examples per second of the training steps
(examples over the summed step times in `metrics.jsonl`); wall-clock seconds of the whole command are
noted too. On a CPU, 2 processes share the cores 1 process already uses, so the scaling efficiency
(the ratio) is expected near or below 1x here; the figure that matters is on several GPUs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from bench import data
from bench.common import COMPARISON, HONE, Case, Result, Settings, measure
from bench.train_classify import MAX_LENGTH, REAL_MODEL, model_dir

NAME = "train-ddp"
GLOBAL_BATCH = 16


class Bench:
    def __init__(self, settings: Settings) -> None:
        self.smoke = settings.smoke
        self.train_rows = 32 if settings.smoke else 640  # multiples of GLOBAL_BATCH
        self.path = model_dir(settings.smoke)
        self.folder = tempfile.TemporaryDirectory(prefix="hone-bench-ddp-")
        self.root = Path(self.folder.name)
        rows = data.labelled_texts(self.train_rows + 32, 0)
        for name, part in (("train", rows[: self.train_rows]), ("test", rows[self.train_rows :])):
            lines = "".join(json.dumps({"text": t, "label": lab}) + "\n" for t, lab in part)
            (self.root / f"{name}.jsonl").write_text(lines, encoding="utf-8")
        self.runs = 0

    def train(self, processes: int) -> dict[str, Any]:
        self.runs += 1
        name = f"ddp-{self.runs}"
        config = {
            "task": "classify",
            "name": name,
            "runs_dir": str(self.root / "runs"),
            "data": {
                "train": str(self.root / "train.jsonl"),
                "dev": str(self.root / "test.jsonl"),
                "test": str(self.root / "test.jsonl"),
                "max_length": MAX_LENGTH,
            },
            "model": {"name": str(self.path), "method": "full"},
            "train": {
                "epochs": 1,
                "batch_size": GLOBAL_BATCH // processes,
                "threads": 2 // processes,
                "eval_every": None,
                "patience": None,
                "precision": "fp32",
            },
        }
        path = self.root / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {**os.environ, "OMP_NUM_THREADS": str(2 // processes), "HONE_PROGRESS": "0"}
        command = [sys.executable, "-m", "hone", "train", str(path), "--processes", str(processes)]
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
        steps = [json.loads(line) for line in (self.root / "runs" / name / "metrics.jsonl").read_text().splitlines()]
        steps = [s for s in steps if "loss" in s]
        # Every step is one global batch of GLOBAL_BATCH texts (the training set is a multiple of it);
        # examples_per_s is that batch over the main process's step time.
        seconds = sum(GLOBAL_BATCH / s["examples_per_s"] for s in steps)
        return {"examples": GLOBAL_BATCH * len(steps), "step_seconds": seconds, "wall_s": wall, "steps": len(steps)}


def run(settings: Settings) -> Result:
    bench = Bench(settings)

    def rate(processes: int) -> dict[str, Any]:
        notes = bench.train(processes)
        # The figure is a rate over the training steps' own time, not the process start and model load:
        # `measure` divides notes["examples"] by the wall seconds, so scale it by wall / step seconds.
        notes["examples_trained"] = notes["examples"]
        notes["examples"] = notes["examples"] * notes["wall_s"] / notes["step_seconds"]
        return notes

    cases = [
        Case("two", "2 processes (torchrun, gloo) x batch 8, 1 thread each", HONE, lambda: rate(2), per="examples"),
        Case("one", "1 process x batch 16, 2 threads", COMPARISON, lambda: rate(1), per="examples"),
    ]
    figures = measure(cases, settings)
    return Result(NAME, __doc__.splitlines()[0], workload(bench), figures, settings)


def workload(bench: Bench) -> dict[str, Any]:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(bench.path))
    return {
        "model": {
            "name": "tiny random BERT (tests/tiny.py)" if bench.smoke else f"{REAL_MODEL} (all-MiniLM-L6-v2)",
            "parameters": sum(p.numel() for p in model.parameters()),
            "layers": model.config.num_hidden_layers,
            "hidden": model.config.hidden_size,
        },
        "data": {"train": bench.train_rows, "max_length": MAX_LENGTH, "epochs": 1, "global_batch": GLOBAL_BATCH},
        "threads": "2 in all on both sides",
    }
