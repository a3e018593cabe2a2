"""Preference tuning (DPO): pair parsing, the reference mechanism, and a tiny run that learns a preference."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch

import hone
from hone.config.schema import LoraConfig
from hone.data import problems as P
from hone.models.adapt import adapt
from hone.tasks import causal, task_from_description
from hone.tasks.preference import PreferenceExample, PreferenceTask
from tiny import WORDS, write_tiny_causal


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


def make_pairs(n: int, seed: int = 0) -> list[dict[str, str]]:
    """Pairs whose chosen answers share a pattern (thanks ... please) the rejected ones lack."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        a, b, c = rng.sample(WORDS, 3)
        rows.append(
            {"prompt": f"{a} {b} {c} {i}", "chosen": f"thanks {a} {b} please", "rejected": f"{a} {b} slow broken"}
        )
    return rows


def _write(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _config(tmp_path: Path, model: Path, data: Path, **model_settings: object) -> dict:
    return {
        "task": "preference",
        "name": "pref",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 64, "split": {"test": 0.25, "dev": 0.15}},
        "model": {
            "name": str(model),
            "method": "lora",
            "lora": {"r": 8, "alpha": 16, "dropout": 0.0},
            **model_settings,
        },
        "train": {"epochs": 2, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "patience": None},
        "eval": {"bootstrap": 200},
        "generate": {"max_new_tokens": 8},  # plain prompts are answered (forgetting check, predict): keep it short
    }


SYSTEM = {"role": "system", "content": "be kind"}
USER = {"role": "user", "content": "my order is late"}


def test_bad_pairs_are_reported_with_line_and_field(tmp_path: Path, tiny_causal: Path) -> None:
    rows = [
        *make_pairs(12),
        {"messages": [SYSTEM, USER], "chosen": "thanks please", "rejected": "slow"},  # 13: fine
        {"messages": [USER, {"role": "assistant", "content": "hi"}], "chosen": "a", "rejected": "b"},  # 14
        {"prompt": "where is it", "chosen": "thanks"},  # 15: no rejected
        {"prompt": "where is it", "chosen": "same answer", "rejected": " same answer "},  # 16
        {"messages": [SYSTEM], "chosen": "a", "rejected": "b"},  # 17: no user turn
        {"messages": [{"role": "user", "content": " "}], "chosen": "a", "rejected": "b"},  # 18
        {"chosen": "a", "rejected": "b"},  # 19: no prompt at all
        {"prompt": "where is it", "chosen": ["a"], "rejected": "b"},  # 20
    ]
    cfg = hone.load_config(_config(tmp_path, tiny_causal, _write(tmp_path / "pairs.jsonl", rows)))
    result = hone.check(cfg)
    found = sorted((p.line, p.category, p.field) for p in result.problems if p.severity == "error" and p.line)
    assert found == [
        (14, P.ROLE_ORDER, "messages"),
        (15, P.MISSING_FIELD, "rejected"),
        (16, P.DUPLICATE, "rejected"),
        (17, P.ROLE_ORDER, "messages"),
        (18, P.EMPTY_FIELD, "messages"),
        (19, P.MISSING_FIELD, "prompt"),
        (20, P.WRONG_TYPE, "chosen"),
    ]
    messages = {p.line: p.message for p in result.problems}
    assert "must end with the user's turn" in messages[14] and "nothing to learn" in messages[16]
    assert result.stats["tokens"]["answer"]["max"] > 0  # the chosen completions were measured
    pair = next(ex for split in result.splits.values() for ex in split if ex.line == 13)
    assert isinstance(pair, PreferenceExample)
    assert pair.text == "my order is late" and pair.input == ([SYSTEM, USER], "thanks please", "slow")


def _completion_logprobs(model: torch.nn.Module, batch: dict) -> torch.Tensor:
    return causal.token_logprobs(model, batch)[0].sum(-1)


def test_dpo_loss_is_measured_against_the_base_with_adapters_off(tiny_causal: Path) -> None:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_causal))
    task = PreferenceTask(max_length=64, beta=0.5)
    pairs = [
        PreferenceExample(({"role": "user", "content": r["prompt"]},), r["chosen"], r["rejected"], "x", i)
        for i, r in enumerate(make_pairs(6))
    ]
    batch = task.collate(task.encode(pairs, tokenizer), tokenizer)
    assert batch["input_ids"].shape[0] == 12  # six chosen rows, then six rejected rows

    # LoRA's B starts at zero: the policy equals the reference, so every pair's loss is log 2.
    fresh = adapt(task.build_model(str(tiny_causal)), "lora", LoraConfig(r=4, dropout=0.0), (), "CAUSAL_LM")
    assert task.loss(fresh, batch).item() == pytest.approx(math.log(2), abs=1e-6)

    # Adapters that already move the model: the reference must be the untouched base, not the policy.
    torch.manual_seed(0)
    config = PeftLoraConfig(task_type="CAUSAL_LM", r=4, lora_dropout=0.0, init_lora_weights=False)
    moved = get_peft_model(task.build_model(str(tiny_causal)), config)
    with torch.no_grad():
        policy = _completion_logprobs(moved, batch)
        reference = _completion_logprobs(task.build_model(str(tiny_causal)), batch)
    gain = policy - reference
    expected = -torch.nn.functional.logsigmoid(0.5 * (gain[:6] - gain[6:])).mean().item()
    assert abs(expected - math.log(2)) > 1e-3
    assert task.loss(moved, batch).item() == pytest.approx(expected, abs=1e-5)


def test_lora_dpo_run_prefers_the_chosen_pattern_over_the_base(tmp_path: Path, tiny_causal: Path) -> None:
    cfg = hone.load_config(_config(tmp_path, tiny_causal, _write(tmp_path / "pairs.jsonl", make_pairs(100))))
    base = hone.baseline(cfg)["baselines"]["base"]["metrics"]
    run = hone.train(cfg, progress=False)
    steps = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert steps[0]["loss"] == pytest.approx(math.log(2), abs=1e-5)  # step 1 starts with policy == reference
    assert [s["dev"]["preference_accuracy"] for s in steps if "dev" in s][-1] == 1.0
    result = hone.evaluate(run)  # reloads the adapter from the run directory alone
    tuned = result["metrics"]
    assert tuned["preference_accuracy"] >= 0.9 > base["preference_accuracy"]
    assert tuned["mean_margin"] > base["mean_margin"]
    assert result["comparison"]["baseline"] == "base" and result["comparison"]["better"]
    [shown] = run.predict([("where is my card", "thanks my card please", "my card slow broken")])
    assert shown["prefers"] == "chosen" and shown["confidence"] > 0.5
    [answer] = run.predict(["where is my card"])  # a plain prompt: the tuned model answers it
    assert isinstance(answer["answer"], str)


def test_full_fine_tuning_is_refused(tmp_path: Path, tiny_causal: Path) -> None:
    cfg = hone.load_config(_config(tmp_path, tiny_causal, _write(tmp_path / "p.jsonl", make_pairs(12)), method="full"))
    with pytest.raises(ValueError, match="needs model.method lora.*base model with the adapters switched off"):
        PreferenceTask.from_config(cfg, [])


def test_task_description_round_trips(tmp_path: Path, tiny_causal: Path) -> None:
    settings = _config(tmp_path, tiny_causal, _write(tmp_path / "p.jsonl", make_pairs(12)))
    cfg = hone.load_config({**settings, "dpo": {"beta": 0.25}, "data": {**settings["data"], "system": "be kind"}})
    task = PreferenceTask.from_config(cfg, [])
    assert (task.beta, task.packing, task.system, task.max_length) == (0.25, False, "be kind", 64)
    meta = json.loads(json.dumps({**task.describe(), "base_model": "x", "method": "lora", "format": 1}))
    assert meta["task"] == "preference"
    assert task_from_description(meta) == task
