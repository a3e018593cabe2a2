"""One writer per run directory: a second writer is refused at once, a killed holder leaves the run free.

The lock is held by real processes here (a child holding it, or a real `hone train`), and the kill is a
real SIGKILL, so what is tested is the kernel's flock, not a stand-in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hone.cli import app
from hone.runs.lock import RunInUse, hold, holder
from hone.runs.rundir import RunDir
from hone.train import checkpoint as ck
from waiting import scaled, wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock and POSIX signals")

runner = CliRunner()


def _holder_process(run_dir: Path, command: str = "hone train") -> subprocess.Popen[str]:
    """A child that holds `run_dir`'s lock until it is killed; returns once it holds it."""
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from hone.runs.lock import hold
        from hone.runs.rundir import RunDir
        with hold(RunDir(Path({str(run_dir)!r})), {command!r}):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time (ns)."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


def _write_config(tmp_path: Path, config_dict: dict) -> Path:
    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    return path


def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "runs" / "t")
    proc = _holder_process(run.path)
    try:
        before = run.lock.read_bytes()
        with pytest.raises(RunInUse) as refused, hold(run, "hone eval"):
            pytest.fail("the lock was granted twice")
        message = str(refused.value)
        assert "\n" not in message
        for part in (str(run.path), f"pid {proc.pid}", socket.gethostname(), "`hone train`", "`hone eval`", "kill"):
            assert part in message, part
        assert run.lock.read_bytes() == before  # refused: it wrote nothing, not even into the lock file
        assert holder(run)["pid"] == proc.pid  # type: ignore[index]
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(30))


def test_a_sigkilled_holder_leaves_the_run_free(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "runs" / "t")
    proc = _holder_process(run.path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=scaled(30))
    assert json.loads(run.lock.read_text())["pid"] == proc.pid  # the killed holder never cleaned up ...
    assert holder(run) is None  # ... yet it holds nothing: the kernel released its lock when it died
    with hold(run, "hone train"):
        assert holder(run)["pid"] == os.getpid()  # type: ignore[index]
    assert holder(run) is None and run.lock.read_bytes() == b""  # released, and the name cleared


def test_hone_train_refused_at_once_writes_nothing(tmp_path: Path, config_dict: dict) -> None:
    config = _write_config(tmp_path, config_dict)
    runs = tmp_path / "runs"
    proc = _holder_process(runs / "t")
    try:
        before = _snapshot(runs)
        result = runner.invoke(app, ["train", str(config)])
        assert result.exit_code == 1, result.output
        assert f"pid {proc.pid}" in result.output and "in use" in result.output
        assert "Traceback" not in result.output
        assert _snapshot(runs) == before  # no data report, no config, no registry: nothing written
    finally:
        proc.terminate()
        proc.wait(timeout=scaled(30))


def _steps(metrics: Path) -> list[int]:
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    return [row["step"] for row in rows if "loss" in row]


def test_training_holds_its_run_until_killed_then_resume_finishes(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=100_000, epochs=100_000, save_every=2, eval_every=100_000, batch_size=4)
    config = _write_config(tmp_path, config_dict)
    run_dir = tmp_path / "runs" / "t"
    trainer = subprocess.Popen(
        [sys.executable, "-m", "hone", "train", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        wait_until(lambda: ck.latest_checkpoint(run_dir / "checkpoints"), 300, "a complete checkpoint", trainer)
        for args in (["train", str(config)], ["train", str(config), "--resume"], ["eval", str(run_dir)]):
            refused = runner.invoke(app, args)
            assert refused.exit_code == 1 and f"pid {trainer.pid}" in refused.output, (args, refused.output)
        assert not (run_dir / "eval.json").exists()
        listed = runner.invoke(app, ["runs", "--dir", str(tmp_path / "runs")])  # read-only: never refused
        assert listed.exit_code == 0 and "running" in listed.output, listed.output
        assert trainer.poll() is None, "the refused commands must not have disturbed the training"
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait(timeout=scaled(30))
    resumed_at = int(ck.latest_checkpoint(run_dir / "checkpoints").name.split("-")[1])  # type: ignore[union-attr]
    resumed = runner.invoke(app, ["train", str(config), "--resume", "--set", f"train.max_steps={resumed_at + 2}"])
    assert resumed.exit_code == 0, resumed.output
    assert _steps(run_dir / "metrics.jsonl") == list(range(1, resumed_at + 3))  # one writer: no step twice
