"""memory: peak resident memory of LoRA training and of serving 4 adapters, hone against the comparison.

Peak RSS is a high-water mark of a whole process, so every measurement runs in a fresh Python process
(`python -m bench.memory <case>`) that does the work and reports `ru_maxrss`. Training: a few optimizer
steps of the train-lora workload, hone's `hone train` session against `Trainer` + PEFT in fp32. Serving:
hone's way, one base model with 4 LoRA adapters decoding a mixed batch, against what a team without
adapter hot-swapping runs: 4 merged models (one per adapter, here in one process, which is kinder to
the comparison than 4 servers), each decoding its share of the same requests.
"""

from __future__ import annotations

import json
import math
import resource
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from bench import models
from bench.common import COMPARISON, HONE, ROOT, Case, Result, Settings, measure

NAME = "memory"
ADAPTERS = 4


@dataclass(frozen=True)
class Sizes:
    train_steps: int
    requests: int
    new_tokens: int


FULL, SMOKE = Sizes(train_steps=2, requests=8, new_tokens=16), Sizes(train_steps=1, requests=4, new_tokens=2)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child(case: str, smoke: bool) -> dict[str, Any]:
    """The work of one case, in this (fresh) process; returns its peak RSS."""
    import torch

    torch.set_num_threads(1 if smoke else 2)
    settings = Settings(smoke=smoke)
    sizes = SMOKE if smoke else FULL
    if case in ("train-hone", "train-trainer"):
        from bench.train_lora import Bench

        bench = Bench(settings)
        if case == "train-hone":
            bench.session = bench.hone_session()
            notes = bench.hone_train(sizes.train_steps)
        else:
            bench.hf = bench.trainer()
            notes = bench.trainer_train(sizes.train_steps)
        return {"peak_rss_mib": peak_rss_mib(), "steps": notes["steps"], "tokens": notes["tokens"]}
    notes = serve(case == "serve-hone", sizes, smoke)
    return {"peak_rss_mib": peak_rss_mib(), **notes}  # read after the work: it is a high-water mark


def serve(hone: bool, sizes: Sizes, smoke: bool) -> dict[str, Any]:
    from hone.serve.engine import CausalEngine, Generation
    from hone.tasks.causal import eos_ids
    from hone.train.setup import autocast_for_inference

    path = models.model_dir(smoke)
    tokenizer = models.tokenizer(path)
    names = [f"adapter-{i}" for i in range(ADAPTERS)]
    prompts = [
        tokenizer(f"Request {i}: write a short line about product {i}.")["input_ids"] for i in range(sizes.requests)
    ]
    if hone:
        model = models.with_random_loras(models.base_model(path), names, 4 if smoke else 16, 0)
        engines = {None: CausalEngine(model, eos_ids(model, tokenizer), None, autocast_for_inference(), mixed=True)}
    else:
        engines = {}
        for i, name in enumerate(names):
            merged = models.with_random_loras(models.base_model(path), [name], 4 if smoke else 16, i).merge_and_unload()
            engines[name] = CausalEngine(merged, eos_ids(merged, tokenizer), None, autocast_for_inference())
    rows = []
    for i, prompt in enumerate(prompts):
        name = names[i % ADAPTERS]
        row = Generation(list(prompt), sizes.new_tokens, adapter=name if hone else None, stop_ids=frozenset())
        rows.append((engines[None] if hone else engines[name], row))
    for engine in engines.values():
        engine.admit([row for e, row in rows if e is engine])
        while engine.active:
            engine.step()
    return {"models": len(engines), "tokens": sum(len(row.tokens) for _, row in rows)}


def in_fresh_process(case: str, smoke: bool) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.memory", case] + (["--smoke"] if smoke else [])
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(settings: Settings) -> Result:
    setups = [
        ("train-hone", "hone train (train-lora workload)", HONE, "train-trainer"),
        ("train-trainer", "Trainer + PEFT, fp32 (train-lora workload)", COMPARISON, "train-hone"),
        ("serve-hone", f"hone: 1 base + {ADAPTERS} LoRA adapters, mixed batch", HONE, "serve-merged"),
        ("serve-merged", f"{ADAPTERS} merged models, one per adapter", COMPARISON, "serve-hone"),
    ]
    cases = [
        Case(
            key,
            label,
            side,
            lambda key=key: in_fresh_process(key, settings.smoke),
            amount="peak_rss_mib",
            unit="MiB",
            warm=lambda: {},  # a fresh process per run: nothing to warm
            against=against,
        )
        for key, label, side, against in setups
    ]
    figures = measure(cases, settings)
    by_key = {f.key: f for f in figures}
    sizes = SMOKE if settings.smoke else FULL
    path = models.model_dir(settings.smoke)
    checks = {
        "serving_ratio": by_key["serve-merged"].value / by_key["serve-hone"].value,
        "training_not_above_comparison": by_key["train-hone"].value <= by_key["train-trainer"].value,
        "serving_not_above_comparison": by_key["serve-hone"].value <= by_key["serve-merged"].value,
    }
    workload = {
        "model": {
            "name": "tiny random Llama (tests/tiny.py)"
            if settings.smoke
            else f"{models.REAL_MODEL} (SmolLM2-135M-Instruct)",
            "path": str(path),
            "parameters": _parameters(path),
        },
        "training": f"train-lora's data and LoRA, {sizes.train_steps} optimizer steps per side",
        "serving": f"{sizes.requests} requests over {ADAPTERS} adapters, {sizes.new_tokens} new tokens each, fp32 "
        "weights, the engine's precision",
        "measured": "ru_maxrss of a fresh `python -m bench.memory <case>` process per run (model loading included)",
    }
    return Result(NAME, __doc__.splitlines()[0], workload, figures, settings, checks)


def _parameters(path: Any) -> int:
    from safetensors import safe_open

    total = 0
    for file in sorted(path.glob("*.safetensors")):
        with safe_open(str(file), "pt") as f:
            total += sum(math.prod(f.get_slice(key).get_shape()) for key in f.keys())  # noqa: SIM118
    return total


if __name__ == "__main__":
    print(json.dumps(child(sys.argv[1], "--smoke" in sys.argv[2:])))
