"""SIGKILL `hone train` at random moments: every resume starts from a complete checkpoint."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from hone.runs.registry import Registry
from hone.train import checkpoint as ck
from scorecard import record

PICKLE = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")


def _hone(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hone", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _step_of(path: Path | None) -> int:
    return int(path.name.split("-")[1]) if path else 0


def _steps_logged(metrics: Path) -> list[int]:
    steps = []
    for line in metrics.read_text().splitlines():
        try:
            steps.append(json.loads(line)["step"])
        except ValueError:  # the last line may be torn by the kill
            continue
    return steps


def _wait_for_progress(metrics: Path, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Return once this process has logged a new training step."""
    start_size = metrics.stat().st_size if metrics.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if metrics.exists() and metrics.stat().st_size > start_size:
            return
        time.sleep(0.05)
    raise AssertionError(f"no training progress within {timeout}s: {proc.communicate()[0].decode()[-2000:]}")


def test_sigkill_at_random_moments_then_resume(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=1500, epochs=1000, save_every=5, eval_every=100, batch_size=4)
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    run_dir = tmp_path / "runs" / "t"
    rng = random.Random(7)
    kills, resumed_from, lost = 0, [0], []
    for _attempt in range(4):
        args = ["train", str(config)] + (
            ["--resume"] if _step_of(ck.latest_checkpoint(run_dir / "checkpoints")) else []
        )
        proc = _hone(args)
        _wait_for_progress(run_dir / "metrics.jsonl", proc)
        time.sleep(rng.uniform(0.0, 1.5))  # somewhere in training, often inside a save
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        latest = ck.latest_checkpoint(run_dir / "checkpoints")
        for path in ck.checkpoints(run_dir / "checkpoints"):
            if path != latest and (path / ck.MARKER).exists():
                ck.verify(path)  # every directory that claims completeness is intact
        if latest is not None:
            ck.load_checkpoint(latest)
            resumed_from.append(_step_of(latest))
        logged = max(_steps_logged(run_dir / "metrics.jsonl"))
        lost.append(logged - _step_of(latest))
        assert lost[-1] <= 5, "more steps lost than the save interval"
        assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "killed"
    assert kills >= 2, "training finished before it could be killed; make the run longer"
    assert resumed_from == sorted(resumed_from), "a later resume started from an older checkpoint"
    # a slow machine may be killed before the first save every time: then there is nothing to resume yet
    resume = ["--resume"] if ck.latest_checkpoint(run_dir / "checkpoints") else []
    final = _hone(["train", str(config), *resume])
    output = final.communicate(timeout=900)[0].decode()
    assert final.returncode == 0, output
    assert _step_of(ck.latest_checkpoint(run_dir / "checkpoints")) == 1500
    assert not [p for p in run_dir.rglob("*") if p.suffix in PICKLE]
    assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "finished"
    record(1, f"{kills} SIGKILLs of `hone train` at random moments: resumed from steps {resumed_from[1:]}, at most "
              f"{max(lost)} steps lost (save interval 5), finished at step 1500")


def test_sigterm_checkpoints_and_exits_with_signal_code(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=5000, epochs=1000, save_every=1000, batch_size=4)
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    proc = _hone(["train", str(config)])
    time.sleep(9)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "--resume" in output
    latest = ck.latest_checkpoint(tmp_path / "runs" / "t" / "checkpoints")
    assert latest is not None and _step_of(latest) > 0
    assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "stopped"
