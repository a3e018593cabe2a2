"""Every command that computes runs on the run's `train.threads`, not only training, and gives the caller's
thread count back after; the CLI's waiting-heavy commands ask OpenMP to sleep, not spin, between forwards."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import hone
from hone.evaluate import evaluator
from hone.pipeline import baselines


@pytest.fixture
def one_thread_run(tmp_path: Path, config_dict: dict[str, Any]) -> hone.Run:
    config_dict["train"].update(epochs=1, max_steps=2, threads=1)
    (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
    return hone.train(tmp_path / "hone.yaml", progress=False)


def _spy(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, seen: list[int]) -> None:
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        seen.append(torch.get_num_threads())
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)


def test_baseline_eval_and_predict_use_the_runs_threads_and_restore_the_callers(
    one_thread_run: hone.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen: list[int] = []
        _spy(monkeypatch, evaluator.TunedPredictor, "predict", seen)
        _spy(monkeypatch, baselines, "fit_and_score", seen)
        hone.baseline(one_thread_run.path / "config.yaml", fresh=True)
        hone.evaluate(one_thread_run)
        hone.predict(one_thread_run, ["a text to label"])
        assert len(seen) >= 3 and set(seen) == {1}, seen
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_training_runs_on_the_runs_threads_and_gives_the_callers_back(
    tmp_path: Path, config_dict: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from hone.train import trainer

    seen: list[int] = []
    _spy(monkeypatch, trainer, "_run", seen)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        config_dict["train"].update(epochs=1, max_steps=2, threads=1)
        (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
        hone.train(tmp_path / "hone.yaml", progress=False)
        assert seen == [1]
        # a process that trains then evaluates (a test suite, a notebook) must not be left on one thread
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_waiting_heavy_commands_set_a_passive_openmp_wait_policy(
    one_thread_run: hone.Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from hone.cli import app

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    result = CliRunner().invoke(app, ["predict", str(one_thread_run.path), "a text"])
    assert result.exit_code == 0, result.output
    assert os.environ.get("OMP_WAIT_POLICY") == "PASSIVE"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    assert CliRunner().invoke(app, ["runs", "--dir", str(one_thread_run.path.parent)]).exit_code == 0
    assert "OMP_WAIT_POLICY" not in os.environ
