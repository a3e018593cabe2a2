"""A new user's first hour: their own CSV, a wrong column name, hints that must work as printed, progress they
can see under a pipe. Each test runs the `hone` command line on a tiny model, its output captured (not a
terminal), as CI or a log file sees it.
"""

from __future__ import annotations

import csv
import json
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


# --- the recommended model is usable, whatever it is -------------------------------------------------------------


def test_the_winning_baseline_is_kept_pickle_free_and_predicts_as_it_scored(emails: Path, tmp_path: Path) -> None:
    from hone.baseline import saved
    from hone.pipeline.steps import prepared
    from hone.runs.rundir import read_json

    done = hone("baseline", "hone.yaml", cwd=emails)
    assert done.returncode == 0, done.stderr
    run = emails / "runs" / "t"
    results = read_json(run / "baseline.json")
    folder = run / results["kept"]
    assert saved.is_kept(folder) and {p.suffix for p in folder.iterdir()} <= {".json", ".safetensors"}
    kept = saved.load(folder)
    assert kept.meta["method"] == results["best"]
    p = prepared(run)
    preds, _ = kept.predict([ex.text for ex in p.splits["test"]])
    assert [list(x) for x in preds] == results["baselines"][results["best"]]["predictions"]
    cli = hone("predict", "runs/t", "--baseline", "invoice card money payment", cwd=emails)
    assert cli.returncode == 0 and '"label": "billing"' in cli.stdout, cli.stdout + cli.stderr
    out = tmp_path / "exported"
    assert hone("export", "runs/t", "--target", "baseline", "--out", str(out), cwd=emails).returncode == 0
    assert saved.load(out).predict(["invoice card money payment"])[0] == kept.predict(["invoice card money payment"])[0]


def test_a_kept_baseline_is_served_on_its_task_route(emails: Path) -> None:
    from starlette.testclient import TestClient

    from hone.serve.app import create_app
    from hone.serve.config import ServeConfig

    assert hone("baseline", "hone.yaml", cwd=emails).returncode == 0
    folder = emails / "runs" / "t" / "baseline-model"
    app = create_app(ServeConfig(runs=[str(folder)], worker="thread", no_auth=True), keys=None)
    with TestClient(app) as client:
        assert app.state.hone.loaded.wait(120) and app.state.hone.failure is None, app.state.hone.failure
        assert [m["id"] for m in client.get("/v1/models").json()["data"]] == ["t-baseline"]
        r = client.post("/v1/classify", json={"model": "t-baseline", "input": ["password reset login email"]})
    assert r.status_code == 200 and r.json()["data"][0]["label"] == "account", r.text


# --- evaluations on other files, reused baselines ------------------------------------------------------------------


def test_eval_on_another_file_is_a_record_of_its_own(emails: Path) -> None:
    assert hone("baseline", "hone.yaml", cwd=emails).returncode == 0
    assert hone("train", "hone.yaml", cwd=emails).returncode == 0
    assert hone("eval", "runs/t", cwd=emails).returncode == 0
    run = emails / "runs" / "t"
    before = {p: p.read_bytes() for p in (run / "eval.json", run / "data" / "manifest.json", run / "baseline.json")}
    with (emails / "later.csv").open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["email", "category"])
        writer.writerows([r["text"], r["label"]] for r in make_rows(40, seed=7))
    done = hone("eval", "runs/t", "--test", "later.csv", cwd=emails)
    assert done.returncode == 0, done.stderr
    [record] = list((run / "evaluations").glob("later-*.json"))
    result = json.loads(record.read_text())
    assert result["n"] == 40 and result["test_file"].endswith("later.csv") and "comparison" in result
    assert set(result["baselines"]) == {"majority", "tfidf_lr"} and result["verdict"]
    assert before == {p: p.read_bytes() for p in before}  # the run's own split and results are untouched


def test_baselines_of_the_same_data_and_settings_are_reused(emails: Path) -> None:
    first = hone("baseline", "hone.yaml", cwd=emails)
    assert first.returncode == 0
    second = hone("baseline", "hone.yaml", "--set", "name=u", "--set", "train.lr=0.1", cwd=emails)
    assert second.returncode == 0 and "reusing the results of run t" in second.stdout + second.stderr

    a, b = (json.loads((emails / "runs" / n / "baseline.json").read_text()) for n in ("t", "u"))
    assert a["baselines"] == b["baselines"] and b["reused_from"] == "t"
    other = hone("baseline", "hone.yaml", "--set", "name=v", "--set", "seed=99", cwd=emails)  # another split
    assert "reusing" not in other.stdout + other.stderr
    fresh = hone("baseline", "hone.yaml", "--set", "name=u", "--fresh", cwd=emails)
    assert "reusing" not in fresh.stdout + fresh.stderr


def test_eval_without_baselines_prints_the_commands_and_they_work(emails: Path) -> None:
    import re

    assert hone("train", "hone.yaml", cwd=emails).returncode == 0
    done = hone("eval", "runs/t", cwd=emails)
    assert done.returncode == 0 and "No baseline results" in done.stdout
    commands = re.findall(r"`hone ([^`]+)`", done.stdout)
    assert [c.split()[0] for c in commands] == ["baseline", "eval"], done.stdout
    for command in commands:  # as printed
        assert hone(*command.split(), cwd=emails).returncode == 0
    assert "comparison" in json.loads((emails / "runs" / "t" / "eval.json").read_text())


# --- a losing run does not look like a success -----------------------------------------------------------------


def test_standing_says_beats_unproven_or_loses() -> None:
    from hone.evaluate.standing import standing

    def evaluated(gain: float, low: float, high: float) -> dict:
        return {"comparison": {"gain": gain, "ci95": [low, high], "baseline": "tfidf_lr", "better": low > 0}}

    assert standing(evaluated(0.2, 0.1, 0.3))["state"] == "beats"
    assert standing(evaluated(0.02, -0.01, 0.05))["state"] == "unproven"
    losing = standing(evaluated(-0.55, -0.6, -0.5))
    assert losing["state"] == "loses" and losing["text"] == "-0.550 [-0.600, -0.500] vs tfidf_lr — keep it"
    assert standing(None)["state"] == "not_evaluated" and standing({})["state"] == "no_baseline"


def test_runs_lists_each_run_against_its_best_baseline(emails: Path) -> None:
    assert hone("baseline", "hone.yaml", cwd=emails).returncode == 0
    # one step at a tiny learning rate: the model cannot beat TF-IDF + LR on these easy texts
    weak = ["--set", "train.max_steps=1", "--set", "train.lr=1e-6"]
    assert hone("train", "hone.yaml", *weak, cwd=emails).returncode == 0
    result = hone("eval", "runs/t", cwd=emails)
    assert "keep the baseline" in result.stdout
    listed = hone("runs", "--dir", "runs", cwd=emails, COLUMNS="250")
    assert "vs best baseline" in listed.stdout and "keep it" in listed.stdout, listed.stdout

    suspects = json.loads((emails / "runs" / "t" / "eval.json").read_text())["suspect_labels"]
    assert "does not beat the best baseline" in suspects["warning"]


# --- messages -----------------------------------------------------------------------------------------------------


def test_a_task_name_takes_its_article() -> None:
    from hone.grammar import article
    from hone.serve.errors import wrong_route

    assert [article(t) for t in ("instruct", "extract", "embed", "classify", "ner", "")] == [
        "an instruct",
        "an extract",
        "an embed",
        "a classify",
        "a ner",
        "a ",
    ]
    assert "`copy` is an instruct model;" in wrong_route("copy", "instruct", "/v1/classify").message
    assert "`t` is a classify model;" in wrong_route("t", "classify", "/v1/chat/completions").message


def test_adapting_or_loading_a_model_prints_no_library_future_warning(tmp_path: Path) -> None:
    """PEFT reads a property transformers 5 deprecated, which printed a FutureWarning on every LM command."""
    import warnings

    from transformers import AutoModelForCausalLM

    from hone.config.schema import LoraConfig
    from hone.models.adapt import adapt
    from tiny import write_tiny_causal

    model = AutoModelForCausalLM.from_pretrained(str(write_tiny_causal(tmp_path)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        adapt(model, "lora", LoraConfig(), [], "CAUSAL_LM")
        warnings.warn("another FutureWarning still shows", FutureWarning, stacklevel=1)
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == [
        "another FutureWarning still shows"
    ]


def test_a_schedule_over_after_one_step_is_warned_about_once(emails: Path) -> None:
    done = hone("train", "hone.yaml", "--set", "train.max_steps=1", cwd=emails)
    assert done.returncode == 0, done.stderr
    out = done.stdout + done.stderr
    assert out.count("learning rate") == 1 and "1 optimizer step" in out and "train.max_steps" in out, out
    lrs = [json.loads(line).get("lr") for line in (emails / "runs" / "t" / "metrics.jsonl").read_text().splitlines()]
    assert lrs[0] == 0  # what the warning explains
    again = hone("train", "hone.yaml", "--set", "name=u", "--set", "train.max_steps=3", cwd=emails)
    assert again.returncode == 0 and "learning rate" not in again.stdout + again.stderr
