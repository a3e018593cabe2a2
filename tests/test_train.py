"""Training: the loop learns, resumes exactly, stops cleanly on signals and refuses non-finite loss."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.train import checkpoint as ck
from hone.train.loop import NonFiniteError, epoch_batches
from hone.train.signals import Stopped
from scorecard import record


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    model_dir = run_dir / "model"
    name = "adapter_model.safetensors" if (model_dir / "adapter_model.safetensors").exists() else "model.safetensors"
    return load_file(str(model_dir / name))


def test_bf16_autocast_only_on_cpus_with_amx() -> None:
    from hone.train.setup import bf16_pays_on

    # AVX-512 bf16 without AMX: a bf16 matmul measured slower than fp32, so `auto` must stay fp32
    assert not bf16_pays_on("flags : fpu sse avx2 avx512f avx512_bf16 avx512_vnni")
    assert bf16_pays_on("flags : fpu avx512f avx512_bf16 amx_bf16 amx_tile amx_int8")
    assert not bf16_pays_on("flags : fpu sse avx2")


def test_epoch_batches_deterministic_and_complete() -> None:
    lengths = [5, 50, 7, 30, 9, 12, 40, 3, 8, 22, 17]
    a = epoch_batches(lengths, 3, seed=1, epoch=0)
    assert a == epoch_batches(lengths, 3, seed=1, epoch=0)
    assert a != epoch_batches(lengths, 3, seed=1, epoch=1)
    assert sorted(i for b in a for i in b) == list(range(len(lengths)))


@pytest.mark.parametrize("method", ["full", "freeze", "lora"])
def test_training_learns_and_reload_predicts_the_same(config_dict: dict, method: str) -> None:
    config_dict["model"]["method"] = method
    config_dict["train"]["lr"] = {"full": 3e-3, "freeze": 5e-3, "lora": 1e-2}[method]
    config_dict["train"]["epochs"] = 6 if method != "full" else 4
    run = hone.train(hone.load_config(config_dict), progress=False)
    first = [line for line in (run.path / "metrics.jsonl").read_text().splitlines() if '"loss"' in line]
    assert len(first) > 10
    texts = ["invoice charge card payment", "order delivery package late", "password login reset email"]
    before = run.predict(texts)
    again = hone.Run(run.path).predict(texts)  # a fresh load from the run directory alone
    assert [p["labels"] for p in before] == [p["labels"] for p in again]
    assert [p["confidence"] for p in before] == pytest.approx([p["confidence"] for p in again], abs=1e-5)
    if method != "freeze":  # head-only on a random tiny body cannot be expected to separate classes
        assert [p["label"] for p in before] == ["billing", "shipping", "account"]
    if method == "lora":
        assert (run.path / "model" / "adapter_config.json").is_file()
        assert any("classifier" in k for k in _weights(run.path)), "the new head must be saved with the adapter"


def test_resume_after_sigterm_reaches_identical_weights(config_dict: dict, tmp_path: Path) -> None:
    config_dict["train"].update(epochs=2, eval_every=4, save_every=4)
    config_dict["model"]["method"] = "lora"  # dropout in LoRA layers exercises the RNG restore
    straight = hone.train(hone.load_config({**config_dict, "name": "straight"}), progress=False)

    from hone.train import trainer

    original = trainer._run

    def interrupt_at_step_7(session, stop, bar, on_step):
        def hook(s, record):
            if record.step == 7:
                os.kill(os.getpid(), signal.SIGTERM)

        return original(session, stop, bar, hook)

    cfg = hone.load_config({**config_dict, "name": "resumed"})
    trainer._run = interrupt_at_step_7
    try:
        with pytest.raises(Stopped) as stopped:
            hone.train(cfg, progress=False)
    finally:
        trainer._run = original
    assert stopped.value.exit_code == 128 + signal.SIGTERM
    run_dir = cfg.runs_dir / "resumed"
    assert ck.latest_checkpoint(run_dir / "checkpoints").name == "step-00000007"
    assert [r.status for r in hone.runs(cfg.runs_dir) if r.name == "resumed"] == ["stopped"]
    hone.train(cfg, resume=True, progress=False)
    a, b = _weights(straight.path), _weights(run_dir)
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    assert _losses(straight.path) == _losses(run_dir)
    record(2, f"{len(a)} weight tensors bit-identical; {len(_losses(run_dir))} logged steps and dev evaluations equal")


def _losses(run_dir: Path) -> list[tuple]:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r.get("loss"), r.get("lr"), json.dumps(r.get("dev"))) for r in rows]


def test_resume_refuses_changed_data(config_dict: dict, dataset: Path) -> None:
    config_dict["train"].update(max_steps=3, save_every=1)
    cfg = hone.load_config(config_dict)
    hone.train(cfg, progress=False)
    with dataset.open("a") as fh:
        fh.write('{"text": "a brand new invoice charge row", "label": "billing"}\n')
    with pytest.raises(RuntimeError, match=f"{dataset.name}.* changed since"):
        hone.train(cfg, resume=True, progress=False)


def test_rerun_without_resume_refuses_to_overwrite(config_dict: dict) -> None:
    config_dict["train"].update(max_steps=2)
    cfg = hone.load_config(config_dict)
    hone.train(cfg, progress=False)
    with pytest.raises(FileExistsError, match="--resume"):
        hone.train(cfg, progress=False)


def _row(db: Path, name: str) -> tuple:
    """The registry's row for `name` exactly as stored, every column."""
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT * FROM runs WHERE name = ?", (name,)).fetchone()


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file of a run with its size and mtime, but the lock file, which the refusing process held."""
    files = (p for p in folder.rglob("*") if p.name != ".lock")
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in files}


def test_refused_rerun_of_a_finished_run_leaves_its_record_and_folder_as_they_were(
    config_dict: dict, tmp_path: Path
) -> None:
    config_dict["train"].update(max_steps=2)
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    cfg = hone.load_config(config)
    hone.evaluate(hone.train(cfg, progress=False))
    db, run_dir = cfg.runs_dir / "registry.sqlite", cfg.runs_dir / "t"
    row, files = _row(db, "t"), _snapshot(run_dir)
    assert row is not None and "finished" in row and any(isinstance(v, float) for v in row)  # scored
    result = CliRunner().invoke(app, ["train", str(config)])
    assert result.exit_code == 1, result.output
    assert "already has checkpoints" in result.output and "--resume" in result.output
    assert _row(db, "t") == row  # status, score, finished time: untouched
    assert _snapshot(run_dir) == files  # refused before the data was prepared: no file rewritten


def test_resume_with_nothing_to_resume_is_refused_before_anything_is_written(config_dict: dict, tmp_path: Path) -> None:
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    result = CliRunner().invoke(app, ["train", str(config), "--resume"])
    assert result.exit_code == 1 and "no checkpoint to resume from" in result.output, result.output
    assert not (tmp_path / "runs" / "registry.sqlite").exists()
    assert not (tmp_path / "runs" / "t" / "data").exists()


def test_non_finite_loss_stops_the_run(config_dict: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from hone.tasks.classify import ClassifyTask

    real = ClassifyTask.loss
    calls = {"n": 0}

    def poisoned(self, model, batch):
        calls["n"] += 1
        loss = real(self, model, batch)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(ClassifyTask, "loss", poisoned)
    cfg = hone.load_config(config_dict)
    with pytest.raises(NonFiniteError, match="loss is nan at step 3"):
        hone.train(cfg, progress=False)
    assert [r.status for r in hone.runs(cfg.runs_dir)] == ["failed"]
    assert not (cfg.runs_dir / "t" / "model").exists()


def test_non_finite_gradient_stops_the_run(config_dict: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from hone.tasks.classify import ClassifyTask

    real = ClassifyTask.loss
    calls = {"n": 0}

    def poisoned(self, model, batch):
        calls["n"] += 1
        loss = real(self, model, batch)
        if calls["n"] == 2:  # finite loss, infinite gradient
            weight = next(p for n, p in model.named_parameters() if "classifier.weight" in n)
            weight.register_hook(lambda grad: grad * float("inf"))
        return loss

    monkeypatch.setattr(ClassifyTask, "loss", poisoned)
    cfg = hone.load_config(config_dict)
    with pytest.raises(NonFiniteError, match="gradient norm is (inf|nan) at step 2"):
        hone.train(cfg, progress=False)
    saved = [load_file(str(p)) for p in (cfg.runs_dir / "t" / "checkpoints").rglob("*.safetensors")]
    assert all(torch.isfinite(t).all() for tensors in saved for t in tensors.values() if t.is_floating_point())


def test_label_only_in_test_does_not_crash(config_dict: dict, tmp_path: Path, dataset: Path) -> None:
    test = tmp_path / "test.jsonl"
    lines = dataset.read_text().splitlines(keepends=True)
    test.write_text('{"text": "refund my money back please", "label": "refund"}\n' + "".join(lines[:15]))
    config_dict["data"]["test"] = str(test)
    config_dict["train"]["max_steps"] = 3
    cfg = hone.load_config(config_dict)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    assert result["per_class"]["refund"]["support"] == 1 and result["per_class"]["refund"]["recall"] == 0.0


def test_gradient_checkpointing_gives_the_same_losses_and_weights(tmp_path: Path, config_dict: dict) -> None:
    """Activations recomputed in the backward pass (train.gradient_checkpointing): the same step losses and final
    weights as keeping them, with the encoder's checkpointing really on."""
    from safetensors.torch import load_file

    from hone.models.adapt import checkpoint_activations

    config_dict["train"].update(epochs=1, max_steps=4)
    losses, weights = {}, {}
    for on in (False, True):
        cfg = hone.load_config(config_dict, [f"name=gc-{on}", f"train.gradient_checkpointing={str(on).lower()}"])
        run = hone.train(cfg, progress=False)
        lines = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
        losses[on] = [line["loss"] for line in lines if "loss" in line]
        weights[on] = load_file(str(next((run.path / "model").glob("*.safetensors"))))
    assert losses[True] == pytest.approx(losses[False], rel=1e-5, abs=1e-6) and len(losses[True]) == 4
    for name, tensor in weights[False].items():
        torch.testing.assert_close(weights[True][name], tensor, rtol=1e-4, atol=1e-6, msg=name)
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(config_dict["model"]["name"])
    wrapped = torch.nn.ModuleDict({"body": encoder})
    assert checkpoint_activations(wrapped) == 1 and encoder.is_activation_checkpointing
    with pytest.raises(ValueError, match="train.gradient_checkpointing"):
        checkpoint_activations(torch.nn.Linear(2, 2))
