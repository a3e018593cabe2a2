"""Nothing is lost in training: a signal in any phase, a full disk, an out-of-memory step, a pickle.

The signal and disk tests run the real `hone` command in a subprocess with a real fault fired at an
exact moment (tests/faults.py): SIGTERM through the kernel, or RLIMIT_FSIZE so writes fail with EFBIG.
"""

from __future__ import annotations

import json
import pickle
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import hone
from hone.runs.registry import Registry
from hone.train import checkpoint as ck
from scorecard import record
from waiting import scaled

FAULTS = Path(__file__).with_name("faults.py")
STOPPED = 128 + signal.SIGTERM


def _hone_with_fault(spec: dict[str, Any], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FAULTS), json.dumps(spec), *args],
        capture_output=True,
        text=True,
        timeout=scaled(300),
    )


def _config(tmp_path: Path, config_dict: dict, **train: Any) -> Path:
    config_dict["train"].update(train)
    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    return path


def _status(tmp_path: Path) -> str | None:
    record = Registry(tmp_path / "runs" / "registry.sqlite").get("t")
    return None if record is None else record.status


def _strays(run_dir: Path) -> list[str]:
    """Temporary files or folders of an interrupted write, anywhere in the run directory."""
    return sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*") if ".tmp" in p.name or ".old" in p.name)


def test_sigterm_while_preparing_data_stops_before_anything_is_written(tmp_path: Path, config_dict: dict) -> None:
    config = _config(tmp_path, config_dict, max_steps=4)
    done = _hone_with_fault({"at": "hone.data.check.check_data", "fault": "sigterm"}, "train", str(config))
    assert done.returncode == STOPPED, done.stdout + done.stderr
    assert "stopped by SIGTERM" in done.stderr and "nothing was half-written" in done.stderr
    run_dir = tmp_path / "runs" / "t"
    assert not ck.checkpoints(run_dir / "checkpoints") and not (run_dir / "model").exists()
    assert _status(tmp_path) is None  # the run had not started: no row claims it is running
    assert not _strays(run_dir)
    record(4, "data prep: exit 143, nothing written, no run row")


def test_sigterm_while_training_checkpoints_then_resume_finishes(tmp_path: Path, config_dict: dict) -> None:
    config = _config(tmp_path, config_dict, max_steps=6, save_every=100, eval_every=100)
    done = _hone_with_fault({"at": "hone.train.loop._step", "call": 3, "fault": "sigterm"}, "train", str(config))
    assert done.returncode == STOPPED, done.stdout + done.stderr
    run_dir = tmp_path / "runs" / "t"
    latest = ck.latest_checkpoint(run_dir / "checkpoints")
    assert latest is not None and latest.name == "step-00000003"  # the step in flight finished, then saved
    assert _status(tmp_path) == "stopped"
    hint = done.stderr.split("with `", 1)[1].split("`", 1)[0]  # the command the message tells the user to run
    assert hint == f"hone train {run_dir} --resume", done.stderr
    resumed = subprocess.run([sys.executable, "-m", *hint.split()], capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert ck.latest_checkpoint(run_dir / "checkpoints").name == "step-00000006"
    assert _status(tmp_path) == "finished" and not _strays(run_dir)
    record(4, "training: exit 143 with step-3 complete; --resume finished at step 6")


def test_sigterm_during_a_checkpoint_save_lets_it_complete(tmp_path: Path, config_dict: dict) -> None:
    config = _config(tmp_path, config_dict, max_steps=20, save_every=2, eval_every=100, keep_checkpoints=5)
    spec = {"at": "hone.train.checkpoint._write_parts", "call": 2, "fault": "sigterm"}  # inside the step-4 save
    done = _hone_with_fault(spec, "train", str(config))
    assert done.returncode == STOPPED, done.stdout + done.stderr
    checkpoints = run_checkpoints = tmp_path / "runs" / "t" / "checkpoints"
    assert [p.name for p in ck.checkpoints(run_checkpoints)] == ["step-00000002", "step-00000004"]
    for path in ck.checkpoints(checkpoints):
        ck.verify(path)
    assert "step-00000004" in done.stderr and not _strays(tmp_path / "runs" / "t")
    record(4, "inside a save: the save completed, then exit 143")


def test_a_second_signal_during_a_save_stops_at_once_and_the_previous_checkpoint_stays(
    tmp_path: Path, config_dict: dict
) -> None:
    config = _config(tmp_path, config_dict, max_steps=20, save_every=2, eval_every=100, keep_checkpoints=5)
    spec = {"at": "hone.train.checkpoint._write_parts", "call": 2, "fault": "sigterm", "times": 2}
    done = _hone_with_fault(spec, "train", str(config))
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr  # killed by the signal itself
    checkpoints = tmp_path / "runs" / "t" / "checkpoints"
    assert ck.latest_checkpoint(checkpoints).name == "step-00000002"
    assert [p.name for p in ck.checkpoints(checkpoints)] == ["step-00000002"]  # the half-written one has no name
    assert _status(tmp_path) == "killed"
    resumed = subprocess.run([sys.executable, "-m", "hone", "train", str(config), "--resume"], capture_output=True)
    assert resumed.returncode == 0, resumed.stderr.decode()[-2000:]
    assert not list(checkpoints.glob(".tmp-*")), "the next save clears what the killed one left"
    record(4, "second signal inside a save: killed at once (-15), step-2 loads, resume finished")


def test_a_second_signal_during_a_training_step_stops_at_once_and_the_previous_checkpoint_stays(
    tmp_path: Path, config_dict: dict
) -> None:
    """Both signals arrive while the step is in one C call (a long matmul): Python runs its handler once for the
    two, yet the second must still stop at once, not finish the step and write a checkpoint."""
    config = _config(tmp_path, config_dict, max_steps=20, save_every=2, eval_every=100, keep_checkpoints=5)
    spec = {"at": "hone.train.loop._step", "call": 4, "fault": "sigterm_in_c_call", "times": 2}
    done = _hone_with_fault(spec, "train", str(config))
    assert done.returncode == -signal.SIGTERM, done.stdout + done.stderr  # killed by the signal itself
    checkpoints = tmp_path / "runs" / "t" / "checkpoints"
    assert [p.name for p in ck.checkpoints(checkpoints)] == ["step-00000002"]  # no step-4 checkpoint
    ck.verify(ck.latest_checkpoint(checkpoints))
    assert _status(tmp_path) == "killed"
    once = _hone_with_fault({**spec, "times": 1}, "train", str(config), "--set", "name=u")
    assert once.returncode == STOPPED, once.stdout + once.stderr  # one signal: the step ends, then a checkpoint
    assert ck.latest_checkpoint(tmp_path / "runs" / "u" / "checkpoints").name == "step-00000004"
    record(4, "two signals inside one C call of a step: killed at once (-15), step-2 stays; one signal: step-4")


def test_sigterm_during_the_final_save_leaves_a_complete_model(tmp_path: Path, config_dict: dict) -> None:
    config = _config(tmp_path, config_dict, max_steps=3, save_every=100, eval_every=100)
    done = _hone_with_fault({"at": "hone.train.save.save_final_model", "fault": "sigterm"}, "train", str(config))
    assert done.returncode == STOPPED, done.stdout + done.stderr
    assert "after the final save" in done.stderr
    run = hone.Run(tmp_path / "runs" / "t")
    assert len(run.predict(["my invoice is wrong"])) == 1  # the model directory is whole and loads
    assert not _strays(run.path)
    record(4, "final save: completed and loads, then exit 143")


def test_sigterm_during_evaluation_writes_no_partial_result(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=3)
    run = hone.train(hone.load_config(config_dict), progress=False)
    done = _hone_with_fault({"at": "hone.evaluate.report_data.build_eval", "fault": "sigterm"}, "eval", str(run.path))
    assert done.returncode == STOPPED, done.stdout + done.stderr
    assert not (run.path / "eval.json").exists() and not _strays(run.path)
    record(4, "evaluation: exit 143, no eval.json and no temporary file")


def test_a_full_disk_during_a_save_keeps_the_previous_checkpoint(
    tmp_path: Path, config_dict: dict, tiny_encoder: Path
) -> None:
    config = _config(tmp_path, config_dict, max_steps=20, save_every=2, eval_every=100)
    # From the second save on, no file may grow past half the model's weights: the kernel refuses the write.
    limit = (tiny_encoder / "model.safetensors").stat().st_size // 2
    spec = {"at": "hone.train.checkpoint._write_parts", "call": 2, "fault": "fsize", "bytes": limit}
    done = _hone_with_fault(spec, "train", str(config))
    assert done.returncode == 1, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "could not write checkpoint" in message and "File too large" in message, message
    assert "the previous checkpoint step-00000002 is intact" in message and "--resume" in message
    checkpoints = tmp_path / "runs" / "t" / "checkpoints"
    assert [p.name for p in ck.checkpoints(checkpoints)] == ["step-00000002"]
    ck.load_checkpoint(checkpoints / "step-00000002")
    assert not list(checkpoints.glob(".tmp-*")) and _status(tmp_path) == "failed"
    record(
        5,
        f"writes past {limit} bytes refused by the kernel (EFBIG) in the second save: exit 1, the message "
        "names the intact step-00000002, which loads; no temporary folder left",
    )


def test_out_of_memory_mid_step_names_the_sizes_and_the_settings(
    config_dict: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hone.tasks.classify import ClassifyTask
    from hone.train.trainer import OutOfMemory

    real, calls = ClassifyTask.loss, {"n": 0}

    def greedy(self: Any, model: Any, batch: Any) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            torch.empty(1 << 50, dtype=torch.uint8)  # a real request the CPU allocator refuses
        return real(self, model, batch)

    monkeypatch.setattr(ClassifyTask, "loss", greedy)
    config_dict["train"].update(max_steps=10, save_every=1, eval_every=100)
    cfg = hone.load_config(config_dict)
    with pytest.raises(OutOfMemory) as raised:
        hone.train(cfg, progress=False)
    message = str(raised.value)
    for needle in ("out of memory at step 3", "can't allocate memory", "GiB", "train.batch_size (8)"):
        assert needle in message, message
    assert "data.max_length (32)" in message and "step-00000002 is intact" in message
    assert [r.status for r in hone.runs(cfg.runs_dir)] == ["failed"]
    ck.load_checkpoint(ck.latest_checkpoint(cfg.runs_dir / "t" / "checkpoints"))
    record(
        8,
        "a real CPU allocator refusal at step 3: OutOfMemory naming weights/optimizer GiB, train.batch_size, "
        "data.max_length and model.method; step-2 loads",
    )


class Planted:
    """A pickle that, if ever unpickled, leaves a file behind."""

    def __init__(self, sentinel: Path) -> None:
        self.sentinel = sentinel

    def __reduce__(self) -> tuple:
        return (Path.write_text, (self.sentinel, "pwned"))


def test_a_base_model_with_only_pickle_weights_is_refused_and_never_unpickled(
    tmp_path: Path, config_dict: dict, tiny_encoder: Path
) -> None:
    base = tmp_path / "pickled-base"
    shutil.copytree(tiny_encoder, base)
    (base / "model.safetensors").unlink()
    (base / "pytorch_model.bin").write_bytes(pickle.dumps(Planted(tmp_path / "pwned")))
    config_dict["model"]["name"] = str(base)
    with pytest.raises(PermissionError, match=r"only as pickle files \['pytorch_model.bin'\].*runs code"):
        hone.train(hone.load_config(config_dict), progress=False)
    assert not (tmp_path / "pwned").exists()


def test_a_trained_model_with_a_pickle_or_broken_safetensors_is_refused(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=2)
    run = hone.train(hone.load_config(config_dict), progress=False)
    planted = run.path / "model" / "extra.pt"
    planted.write_bytes(pickle.dumps(Planted(tmp_path / "pwned")))
    with pytest.raises(PermissionError, match=r"pickle files \['extra.pt'\]"):
        hone.Run(run.path).predict(["hello"])
    planted.unlink()
    weights = run.path / "model" / "model.safetensors"
    weights.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        hone.Run(run.path).predict(["hello"])
    assert not (tmp_path / "pwned").exists()
