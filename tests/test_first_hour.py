"""A new user's first hour: their own CSV, a wrong column name, hints that must work as printed, progress they
can see under a pipe. Each test runs the `hone` command line on a tiny model, its output captured (not a
terminal), as CI or a log file sees it.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import make_rows


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


def hone(*args: str, cwd: Path, **env: str) -> Done:
    """`hone ARGS` run in `cwd`, its output captured (not a terminal)."""
    from typer.testing import CliRunner

    from hone.cli import app

    before = Path.cwd()
    os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        os.chdir(before)
    return Done(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def emails(tmp_path: Path, config_dict: dict[str, Any]) -> Path:
    """A user's own CSV (columns `email,category`) and a hone.yaml for it."""
    with (tmp_path / "emails.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "category"])
        writer.writerows([r["text"], r["label"]] for r in make_rows(150))
    config_dict["data"].update(train="emails.csv", text_field="email", label_field="category")
    config_dict["runs_dir"] = "runs"
    config_dict["train"].update(epochs=1, max_steps=4)
    (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
    return tmp_path


# --- a wrong column name -------------------------------------------------------------------------------------


def test_a_column_missing_from_every_row_is_one_message_naming_the_columns(emails: Path) -> None:
    done = hone("check", "hone.yaml", "--set", "data.text_field=emial", "--set", "data.label_field=label", cwd=emails)
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) < 10, done.stdout  # was one line per row, twice: 1,216 lines for 1,200 rows
    text = next(line for line in lines if "'emial'" in line)
    assert "no column 'emial' in emails.csv" in text and "its columns are: category, email" in text
    assert "did you mean 'email'? set data.text_field: email" in text
    label = next(line for line in lines if "'label'" in line)
    assert "set data.label_field to one of them" in label and "[label]" in label  # brackets print as they are
    assert len(set(lines)) == len(lines)  # nothing printed twice


def test_when_every_row_fails_the_hint_is_not_to_skip_rows(emails: Path) -> None:
    done = hone("train", "hone.yaml", "--set", "data.text_field=body", cwd=emails)
    assert done.returncode == 1
    assert "on_error: skip" not in done.stderr and "skipping rows cannot fix this" in done.stderr
    assert "no column 'body' in emails.csv" in done.stderr
    assert not (emails / "runs" / "t" / "checkpoints").exists()


# --- hints that work as printed --------------------------------------------------------------------------------


def test_resume_and_eval_accept_what_the_hints_print(emails: Path) -> None:
    first = hone("train", "hone.yaml", cwd=emails)
    assert first.returncode == 0, first.stderr
    again = hone("train", "runs/t", "--resume", cwd=emails)  # the run directory stands for its config
    assert again.returncode == 0, again.stderr
    for target in ("runs/t", "hone.yaml"):  # the config leads to its run
        done = hone("eval", target, cwd=emails)
        assert done.returncode == 0, done.stderr
        assert "macro_f1" in done.stdout


def test_a_mistyped_run_path_suggests_the_closest_run(emails: Path) -> None:
    assert hone("train", "hone.yaml", cwd=emails).returncode == 0
    done = hone("report", "runs/tt", cwd=emails)
    assert done.returncode == 1 and "runs/tt: no such directory; did you mean runs/t?" in done.stderr


def test_a_config_whose_run_is_not_trained_says_how_to_train_it(emails: Path) -> None:
    done = hone("eval", "hone.yaml", cwd=emails)
    assert done.returncode == 1
    assert "has not been trained yet" in done.stderr and "hone train hone.yaml" in done.stderr


def test_init_help_lists_every_task(emails: Path) -> None:
    from hone.tasks import TASKS

    done = hone("init", "--help", cwd=emails, COLUMNS="200")
    assert all(task in done.stdout for task in TASKS), done.stdout


# --- progress under a pipe -------------------------------------------------------------------------------------


def test_progress_prints_plain_lines_without_a_terminal(emails: Path) -> None:
    base = hone("baseline", "hone.yaml", cwd=emails, HONE_PROGRESS_INTERVAL="0")
    assert base.returncode == 0, base.stderr
    assert "baseline tfidf_lr: test split: started" in base.stderr
    assert "baseline tfidf_lr: test split: done after" in base.stderr
    train = hone("train", "hone.yaml", cwd=emails, HONE_PROGRESS_INTERVAL="0")
    assert train.returncode == 0, train.stderr
    steps = [line for line in train.stderr.splitlines() if line.startswith("train: ") and " steps " in line]
    assert any("2/4 steps (50%)" in line and "ETA" in line and "loss" in line for line in steps), train.stderr
    assert "\x1b[" not in train.stderr  # no terminal control codes in a log
