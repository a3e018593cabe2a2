"""`hone estimate`: memory components, token statistics, the GPU table, the CLI, and predicted vs measured."""

from __future__ import annotations

import json
import os
import random
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.plan import devices
from hone.plan import estimate as plan
from tiny import write_tiny_causal

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
SHAPE = plan.ModelShape(
    total_params=1_000_000,
    trainable_params=1_000_000,
    matmul_params=800_000,
    hidden=64,
    intermediate=256,
    layers=4,
    heads=4,
    vocab=1000,
    vocab_head="causal",
    lora_inputs=0,
)
BATCH = plan.BatchShape(rows=8, width=64, logit_positions=16, masked=True)


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


def chat_config(tmp_path: Path, model: Path, rows: int = 40, **train: object) -> dict:
    rng = random.Random(0)
    words = "order invoice refund charge card payment password login account email".split()
    data = tmp_path / "chat.jsonl"
    lines = []
    for i in range(rows):
        prompt = " ".join(rng.choice(words) for _ in range(rng.randint(2, 12)))
        lines.append(json.dumps({"prompt": f"{prompt} {i}", "completion": f"the {rng.choice(words)} is fine"}))
    data.write_text("\n".join(lines) + "\n")
    return {
        "task": "instruct",
        "name": "chat",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 48},
        "model": {"name": str(model), "method": "lora", "lora": {"r": 4, "alpha": 8}},
        "train": {"epochs": 2, "batch_size": 4, "precision": "fp32", "patience": None, **train},
        "generate": {"packing": False},
        "baseline": {"methods": ["zero_shot"]},
    }


# --- the arithmetic -------------------------------------------------------------------------------------------


def test_lora_holds_far_fewer_gradient_and_optimizer_bytes_than_full(tmp_path: Path, tiny_causal: Path) -> None:
    cfg = chat_config(tmp_path, tiny_causal)
    lora = hone.api.config_of(cfg)
    full = hone.api.config_of(cfg, ["model.method=full"])
    lo, fu = (plan.estimate(c)["memory"]["components"] for c in (lora, full))
    assert lo["gradients"] * 3 < fu["gradients"]
    assert lo["optimizer"] * 3 < fu["optimizer"]
    assert lo["optimizer"] == 2 * lo["gradients"]  # AdamW: two fp32 moments per fp32 gradient
    assert abs(lo["weights"] - fu["weights"]) < 0.2 * fu["weights"]  # adapters add a little, the base is the same


def test_doubling_the_batch_grows_activations_and_logits_not_weights() -> None:
    one = plan.memory_components(SHAPE, BATCH, "full", False, False, "cpu")
    two = plan.memory_components(SHAPE, replace(BATCH, rows=16), "full", False, False, "cpu")
    assert two["activations"] == pytest.approx(2 * one["activations"], rel=1e-6)
    assert two["logits"] == 2 * one["logits"]
    for fixed in ("weights", "gradients", "optimizer", "runtime"):
        assert two[fixed] == one[fixed]


def test_qlora_weights_are_below_bf16_copies_below_fp32_weights() -> None:
    qlora = plan.weight_bytes(SHAPE, "qlora")
    fp32 = plan.weight_bytes(SHAPE, "lora")
    bf16_copies = plan.memory_components(SHAPE, BATCH, "lora", True, False, "cuda")["autocast"]
    assert 0 < qlora < bf16_copies < fp32
    assert plan.memory_components(SHAPE, BATCH, "lora", False, False, "cpu")["autocast"] == 0


def test_a_reference_pass_and_a_wider_batch_cost_more_logit_memory() -> None:
    plain = plan.memory_components(SHAPE, BATCH, "lora", False, False, "cpu")
    dpo = plan.memory_components(SHAPE, BATCH, "lora", False, True, "cpu")
    assert dpo["logits"] > plain["logits"]
    assert plan.step_flops(SHAPE, BATCH, "lora", True) > plan.step_flops(SHAPE, BATCH, "lora", False)
    assert plan.step_flops(SHAPE, BATCH, "full", False) > plan.step_flops(SHAPE, BATCH, "lora", False)


def test_the_gpu_table_is_monotonic_in_memory() -> None:
    big = replace(SHAPE, total_params=2_000_000_000, trainable_params=2_000_000_000, matmul_params=1_800_000_000)
    table = plan.gpu_table(big, BATCH, "full", 8, False)
    assert [row["memory_gb"] for row in table] == list(devices.GPU_SIZES_GB)
    batches = [row["largest_batch"] for row in table]
    assert batches == sorted(batches) and batches[-1] > batches[0]
    fits = [row["fits"] for row in table]
    assert fits == sorted(fits)  # once it fits, every bigger GPU fits
    assert not fits[0]  # 2B parameters in fp32 with AdamW need ~32 GB before activations


# --- the data -------------------------------------------------------------------------------------------------


def test_token_lengths_are_the_tasks_own_encoding(tmp_path: Path, tiny_causal: Path) -> None:
    from transformers import AutoTokenizer

    cfg = hone.api.config_of(chat_config(tmp_path, tiny_causal))
    result = plan.estimate(cfg)
    task, tokenizer, rows = plan.training_rows(cfg)
    lengths = sorted(len(r["input_ids"]) for r in rows)
    t = result["tokens"]
    assert t["rows"] == len(rows) and t["max"] == lengths[-1] <= cfg.data.max_length
    assert t["p50"] == lengths[(len(lengths) + 1) // 2 - 1]
    assert lengths[0] <= t["p50"] <= t["p95"] <= t["max"]
    tok = AutoTokenizer.from_pretrained(str(tiny_causal))
    assert len(tok("order")["input_ids"]) < t["p50"]  # the chat template and the answer count too
    peak = result["peak_batch"]
    assert peak["rows"] == cfg.train.batch_size and peak["width"] == lengths[-1]
    assert 0 < peak["logit_positions"] < peak["width"]  # logits only where an answer token is predicted


def test_length_stats_of_known_lengths() -> None:
    stats = plan.length_stats(list(range(1, 101)))
    assert (stats["p50"], stats["p95"], stats["max"], stats["rows"]) == (50.0, 95.0, 100.0, 100)
    assert plan.length_stats([])["rows"] == 0


# --- the command ----------------------------------------------------------------------------------------------


def test_cli_json_has_every_component_and_the_gpu_table(tmp_path: Path, tiny_causal: Path) -> None:
    import yaml

    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(chat_config(tmp_path, tiny_causal)))
    out = tmp_path / "estimate.json"
    result = runner.invoke(app, ["estimate", str(path), "--json", "--out", str(out), "--set", "train.batch_size=2"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert json.loads(out.read_text()) == printed
    components = printed["memory"]["components"]
    assert {"weights", "gradients", "optimizer", "activations", "logits", "runtime"} <= set(components)
    assert printed["memory"]["total_bytes"] == sum(components.values())
    assert printed["peak_batch"]["rows"] == 2
    assert printed["time"]["seconds_per_epoch"] > 0 and printed["time"]["steps_per_epoch"] > 0
    assert len(printed["gpu_table"]) == len(devices.GPU_SIZES_GB)
    human = runner.invoke(app, ["estimate", str(path), "--out", str(out)])
    assert human.exit_code == 0 and "fits on a GPU" in human.stdout and "activations" in human.stdout


def test_processes_share_the_epoch_and_keep_the_memory_of_one(tmp_path: Path, tiny_causal: Path) -> None:
    """Data-parallel: the global batch is batch_size x processes x grad_accum, so an epoch has about half the
    steps on 2 processes; each process holds what one holds (its own batch_size rows); on GPUs the epoch's
    time is shared out, on CPU processes share the same cores and it is not."""
    from hone.train.loop import steps_per_epoch

    cfg = hone.api.config_of(chat_config(tmp_path, tiny_causal, rows=41, batch_size=4))
    one, two = plan.estimate(cfg, "cuda"), plan.estimate(cfg, "cuda", processes=2)
    rows = one["tokens"]["rows"]
    assert two["global_batch"] == 8 and one["global_batch"] == 4
    assert two["time"]["steps_per_epoch"] == steps_per_epoch(rows, 4, 1, 2) < one["time"]["steps_per_epoch"]
    assert two["memory"] == one["memory"]
    # the same rows, in shares of 2 ranks (padding differs with the grouping; at most 1 row is no rank's share)
    assert two["time"]["epoch_flops"] == pytest.approx(one["time"]["epoch_flops"], rel=0.25)
    assert two["time"]["seconds_per_epoch"] < 0.7 * one["time"]["seconds_per_epoch"]
    on_cpu = plan.estimate(cfg, "cpu", processes=2)
    assert on_cpu["time"]["seconds_per_epoch"] == pytest.approx(
        on_cpu["time"]["epoch_flops"] / on_cpu["time"]["throughput"]["flops_per_s"]
    )
    with pytest.raises(ValueError, match="--processes"):
        plan.estimate(cfg, "cpu", processes=0)


def test_bad_config_and_bad_device_are_clear_errors(tmp_path: Path, tiny_causal: Path) -> None:
    import yaml

    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(chat_config(tmp_path, tiny_causal)))
    bad_key = runner.invoke(app, ["estimate", str(path), "--set", "train.batchsize=4"])
    assert bad_key.exit_code == 2 and "batchsize" in bad_key.output
    bad_device = runner.invoke(app, ["estimate", str(path), "--device", "tpu"])
    assert bad_device.exit_code != 0 and "cpu or cuda" in bad_device.output
    missing = runner.invoke(app, ["estimate", str(tmp_path / "nope.yaml")])
    assert missing.exit_code != 0 and "nope.yaml" in missing.output


def test_measure_runs_real_steps_in_a_fresh_process(tmp_path: Path, tiny_causal: Path) -> None:
    from hone.plan.measure import compare, measure

    cfg = hone.api.config_of(chat_config(tmp_path, tiny_causal))
    prediction = plan.estimate(cfg)
    measured = measure(cfg, steps=2)
    assert measured["steps"] == 2 and measured["peak_bytes"] > 0 and measured["seconds_per_step"] > 0
    assert measured["base_rss_bytes"] > 100 * 1024**2  # torch was imported before the baseline was taken
    c = compare(prediction, measured)
    assert c["memory"]["predicted_bytes"] > 0 and c["memory"]["ratio"] > 0
    assert c["memory"]["ratio"] == pytest.approx(measured["peak_bytes"] / prediction["memory"]["total_bytes"])
    assert c["seconds_per_step"]["ratio"] > 0 and c["fit"]["mfu"] > 0


# --- the acceptance: the shipped configs on this machine, with the real models ----------------------------------

# One config per memory path: encoder full fine-tuning (tickets), causal LoRA with answer-only logits (products),
# full CLM with every position's logits (pretrain), DPO's reference pass (preference). copy takes the products
# path again (instruct LoRA), so it is measured for the report rather than here, to keep the slow tier short.
SHIPPED = ["tickets", "products", "pretrain", "preference"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_predicted_peak_memory_is_within_25_percent_of_measured(name: str, tmp_path: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = hone.api.config_of(ROOT / "examples" / name / "hone.yaml", [f"runs_dir={tmp_path}"])
    from hone.plan.measure import compare, measure

    c = compare(plan.estimate(cfg), measure(cfg, steps=2))
    assert c["memory"]["error"] <= 0.25, c["memory"]
