"""A damaged registry.sqlite: one clear line, and the index rebuilt from the run directories it indexes.

The run directories are real (trained, evaluated, stopped by a signal, only baselined), built once per
module and copied into each test, so what is rebuilt is what hone really leaves on disk.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hone
from conftest import make_rows
from hone.cli import app
from hone.runs.registry import SQLITE_HEADER, Registry
from hone.train.signals import Stopped
from waiting import scaled

runner = CliRunner()
SHOWN = ("name", "task", "model", "method", "status", "primary_metric", "score")


def _config(root: Path, encoder: Path, name: str, **train: int) -> dict:
    data = root / "data.jsonl"
    if not data.exists():
        data.write_text("".join(json.dumps(r) + "\n" for r in make_rows(90)))
    return {
        "name": name,
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 32},
        "model": {"name": str(encoder), "method": "full"},
        "train": {"batch_size": 8, "precision": "fp32", "patience": None, **train},
        "eval": {"bootstrap": 100},
        "baseline": {"methods": ["majority"]},
    }


def _stop_at_step_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from hone.train import trainer

    original = trainer._run

    def interrupted(session, stop, bar, on_step):  # type: ignore[no-untyped-def]
        def hook(s, record):  # type: ignore[no-untyped-def]
            if record.step == 2:
                os.kill(os.getpid(), signal.SIGTERM)

        return original(session, stop, bar, hook)

    monkeypatch.setattr(trainer, "_run", interrupted)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    """A runs folder: `done` (trained, evaluated), `halted` (stopped by SIGTERM), `checked` (baselines only)."""
    root = tmp_path_factory.mktemp("built")
    hone.evaluate(hone.train(hone.load_config(_config(root, tiny_encoder, "done", max_steps=3)), progress=False))
    hone.baseline(hone.load_config(_config(root, tiny_encoder, "checked", max_steps=3)))
    with pytest.MonkeyPatch.context() as patch, pytest.raises(Stopped):
        _stop_at_step_2(patch)
        hone.train(
            hone.load_config(_config(root, tiny_encoder, "halted", max_steps=50, save_every=100)), progress=False
        )
    return root / "runs"


@pytest.fixture
def runs(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "runs"))


def _listed(runs: Path) -> list[tuple]:
    return [tuple(getattr(r, k) for k in SHOWN) for r in hone.runs(runs, log=lambda line: None)]


def _hone_runs(runs: Path, *extra: str) -> str:
    result = runner.invoke(app, ["runs", "--dir", str(runs), *extra])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def _noted(output: str, what: str) -> str:
    """The one line that says what happened to the registry."""
    lines = [line for line in output.splitlines() if "registry.sqlite" in line]
    assert len(lines) == 1 and what in lines[0], output
    return lines[0]


def test_the_built_runs_are_what_the_registry_said(built: Path) -> None:
    statuses = {r.name: (r.status, r.score is not None) for r in hone.runs(built)}
    assert statuses == {"done": ("finished", True), "halted": ("stopped", False)}


def test_random_bytes_are_moved_aside_and_the_index_rebuilt(runs: Path) -> None:
    expected = _listed(runs)
    garbage = b"[/x]junk" + os.urandom(8184)  # its first bytes are quoted: brackets must not read as markup
    (runs / "registry.sqlite").write_bytes(garbage)
    line = _noted(_hone_runs(runs), "is not a SQLite database")
    assert str(runs / "registry.sqlite") in line and "rebuilt the index from 2 run directories" in line
    kept = list(runs.glob("registry.sqlite.corrupt-*"))
    assert len(kept) == 1 and kept[0].name in line and kept[0].read_bytes() == garbage  # moved, never deleted
    assert _listed(runs) == expected  # finished with its score, stopped; `checked` never trained: no row
    assert (runs / "registry.sqlite").read_bytes().startswith(SQLITE_HEADER)


def test_an_empty_registry_beside_run_folders_is_rebuilt(runs: Path) -> None:
    expected = _listed(runs)
    (runs / "registry.sqlite").write_bytes(b"")
    _noted(_hone_runs(runs), "is empty (0 bytes)")
    assert _listed(runs) == expected
    assert [p.stat().st_size for p in runs.glob("registry.sqlite.corrupt-*")] == [0]


def test_hone_train_repairs_a_random_bytes_registry_and_records_its_run(runs: Path, tiny_encoder: Path) -> None:
    (runs / "registry.sqlite").write_bytes(b"junk" + os.urandom(4092))
    config = runs.parent / "fresh.yaml"
    config.write_text(yaml.safe_dump(_config(runs.parent, tiny_encoder, "fresh", max_steps=2)))
    result = runner.invoke(app, ["train", str(config)])
    assert result.exit_code == 0, result.output
    _noted(result.output, "is not a SQLite database")
    statuses = {r.name: r.status for r in hone.runs(runs)}
    assert statuses == {"done": "finished", "halted": "stopped", "fresh": "finished"}


def test_rebuild_of_a_healthy_registry_lists_the_same_runs(runs: Path) -> None:
    expected = _listed(runs)
    line = _noted(_hone_runs(runs, "--rebuild"), "rebuilt the index from 2 run directories")
    assert _listed(runs) == expected
    kept = list(runs.glob("registry.sqlite.before-rebuild-*"))
    assert len(kept) == 1 and kept[0].name in line
    with closing(sqlite3.connect(kept[0])) as conn:  # the previous index, intact
        assert sorted(n for (n,) in conn.execute("SELECT name FROM runs")) == ["done", "halted"]


def test_a_malformed_sqlite_registry_names_the_fix_and_rebuild_fixes_it(runs: Path) -> None:
    path = runs / "registry.sqlite"
    expected = _listed(runs)
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    damaged = bytearray(path.read_bytes())
    damaged[100:4096] = b"Z" * (4096 - 100)  # the schema page: still SQLite by its header, unreadable inside
    path.write_bytes(bytes(damaged))
    result = runner.invoke(app, ["runs", "--dir", str(runs)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "is damaged" in result.output and "hone runs --rebuild" in result.output, result.output
    _noted(_hone_runs(runs, "--rebuild"), "is damaged")
    assert _listed(runs) == expected


def test_a_run_being_trained_keeps_a_row_its_process_can_finish(runs: Path) -> None:
    code = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from hone.runs.lock import hold
        from hone.runs.rundir import RunDir
        with hold(RunDir(Path({str(runs / "checked")!r})), "hone train"):
            print("held", flush=True)
            time.sleep(600)
        """
    )
    trainer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert trainer.stdout is not None and trainer.stdout.readline().strip() == "held"
        (runs / "registry.sqlite").write_bytes(b"junk")
        rows = {r.name: r for r in hone.runs(runs, log=lambda line: None)}
    finally:
        trainer.kill()
        trainer.wait(timeout=scaled(30))
    assert set(rows) == {"done", "halted", "checked"}  # `checked` has no training output yet, but a trainer
    assert rows["checked"].status != "running" and f"pid {trainer.pid}" in (rows["checked"].message or "")
    Registry(runs / "registry.sqlite").finish("checked", "finished")  # what the trainer does when it ends
