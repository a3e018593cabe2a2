"""SIGKILL `hone train` at random moments: every resume starts from a complete checkpoint.

Each kill waits for an observable event, a training step logged in metrics.jsonl, never a fixed delay: the
moment is a random step, then a random share of the time steps are taking on this machine now, so the kill
often lands inside a save whatever the machine's speed.
"""

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
from waiting import scaled, wait_until

PICKLE = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
SAVE_EVERY, MAX_STEPS = 5, 150


def _hone(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "hone", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _step_of(path: Path | None) -> int:
    return int(path.name.split("-")[1]) if path else 0


def _steps_logged(metrics: Path) -> list[int]:
    steps = []
    for line in metrics.read_text().splitlines() if metrics.exists() else []:
        try:
            steps.append(json.loads(line)["step"])
        except (ValueError, KeyError):  # the last line may be torn by the kill
            continue
    return steps


def _last_step(metrics: Path) -> int:
    return max(_steps_logged(metrics), default=0)


def _kill_at_a_random_step(proc: subprocess.Popen, metrics: Path, rng: random.Random, resumed: int) -> None:
    """Wait until `proc` logs a step a random few past where it started, then SIGKILL it a random moment later."""
    launched = time.time()

    def new_step() -> int:  # a step this process logged (a resume first truncates the old lines past its checkpoint)
        fresh = metrics.exists() and metrics.stat().st_mtime >= launched
        return _last_step(metrics) if fresh and _last_step(metrics) > resumed else 0

    first = wait_until(new_step, 300, "a training step of this process", proc)
    started = time.monotonic()
    target = min(first + rng.randint(1, 3 * SAVE_EVERY), MAX_STEPS - 3 * SAVE_EVERY)
    reached = wait_until(lambda: new_step() >= target and new_step(), 300, f"step {target}", proc)
    per_step = (time.monotonic() - started) / max(1, reached - first) if reached > first else 0.05
    time.sleep(rng.uniform(0.0, 2 * SAVE_EVERY * per_step))  # anywhere in the next saves' span, often inside one
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_at_random_moments_then_resume(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=MAX_STEPS, epochs=1000, save_every=SAVE_EVERY, eval_every=100, batch_size=4)
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    run_dir = tmp_path / "runs" / "t"
    metrics = run_dir / "metrics.jsonl"
    rng = random.Random(7)
    resumed_from, lost = [0], []
    for _attempt in range(4):
        resume = ["--resume"] if ck.latest_checkpoint(run_dir / "checkpoints") else []
        _kill_at_a_random_step(_hone(["train", str(config), *resume]), metrics, rng, resumed_from[-1])
        latest = ck.latest_checkpoint(run_dir / "checkpoints")
        for path in ck.checkpoints(run_dir / "checkpoints"):
            if path != latest and (path / ck.MARKER).exists():
                ck.verify(path)  # every directory that claims completeness is intact
        if latest is not None:
            ck.load_checkpoint(latest)
            resumed_from.append(_step_of(latest))
        lost.append(_last_step(metrics) - _step_of(latest))
        assert lost[-1] <= SAVE_EVERY, "more steps lost than the save interval"
        assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "killed"
    assert resumed_from == sorted(resumed_from), "a later resume started from an older checkpoint"
    final = _hone(["train", str(config), "--resume"])
    output = final.communicate(timeout=scaled(300))[0].decode()
    assert final.returncode == 0, output
    assert _step_of(ck.latest_checkpoint(run_dir / "checkpoints")) == MAX_STEPS
    assert not [p for p in run_dir.rglob("*") if p.suffix in PICKLE]
    assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "finished"
    record(
        1,
        f"4 SIGKILLs of `hone train` at random moments: resumed from steps {resumed_from[1:]}, at most "
        f"{max(lost)} steps lost (save interval {SAVE_EVERY}), finished at step {MAX_STEPS}",
    )


def test_sigterm_checkpoints_and_exits_with_signal_code(tmp_path: Path, config_dict: dict) -> None:
    config_dict["train"].update(max_steps=5000, epochs=1000, save_every=1000, batch_size=4)
    config = tmp_path / "hone.yaml"
    config.write_text(yaml.safe_dump(config_dict))
    proc = _hone(["train", str(config)])
    metrics = tmp_path / "runs" / "t" / "metrics.jsonl"
    wait_until(lambda: _last_step(metrics) >= 3, 300, "three logged training steps", proc)  # training, not data prep
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=scaled(60))[0].decode()
    assert proc.returncode == 128 + signal.SIGTERM, output
    assert "--resume" in output
    latest = ck.latest_checkpoint(tmp_path / "runs" / "t" / "checkpoints")
    assert latest is not None and _step_of(latest) > 0
    assert Registry(tmp_path / "runs" / "registry.sqlite").get("t").status == "stopped"
