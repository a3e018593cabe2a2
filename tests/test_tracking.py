"""Experiment tracking (`train.report_to`): MLflow and TensorBoard get the config, every logged step, the
evaluation with its interval and the report, read back with their own clients; a resume reopens the same MLflow
run; a tracker that cannot be used stops the command before training, and one that fails mid-run never does."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.config import ConfigError

pytest.importorskip("mlflow")
pytest.importorskip("tensorboard")

from mlflow.tracking import MlflowClient  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from hone.track import TrackingError  # noqa: E402


def _tracked(config_dict: dict, tmp_path: Path, **train: object) -> dict:
    config_dict["train"].update(
        report_to=["mlflow", "tensorboard"],
        tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}",
        experiment="tickets",
        **train,
    )
    return config_dict


def _jsonl(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _mlflow_run(run_dir: Path) -> tuple[MlflowClient, str]:
    entry = json.loads((run_dir / "tracking.json").read_text())["mlflow"]
    return MlflowClient(tracking_uri=entry["tracking_uri"]), entry["run_id"]


def _history(client: MlflowClient, run_id: str, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def _scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_mlflow_and_tensorboard_get_config_steps_eval_and_report(config_dict: dict, tmp_path: Path) -> None:
    cfg = hone.load_config(_tracked(config_dict, tmp_path, max_steps=6, eval_every=3))
    hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    report = hone.report(run)
    logged = [line for line in _jsonl(run.path) if "loss" in line]
    dev = [line for line in _jsonl(run.path) if "dev" in line]
    assert [line["step"] for line in logged] == [1, 2, 3, 4, 5, 6] and [d["step"] for d in dev] == [3, 6]

    client, run_id = _mlflow_run(run.path)
    found = client.get_run(run_id)
    assert found.info.status == "FINISHED" and found.info.run_name == "t"
    assert client.get_experiment(found.info.experiment_id).name == "tickets"
    params = found.data.params
    assert params["train.lr"] == "0.003" and params["model.method"] == "full" and params["task"] == "classify"
    assert json.loads(params["train.report_to"]) == ["mlflow", "tensorboard"]
    losses = _history(client, run_id, "loss")
    assert [s for s, _ in losses] == [1, 2, 3, 4, 5, 6]  # one value per logged step, none twice
    assert [v for _, v in losses] == pytest.approx([line["loss"] for line in logged])
    assert [s for s, _ in _history(client, run_id, "lr")] == [1, 2, 3, 4, 5, 6]
    dev_f1 = _history(client, run_id, "dev/macro_f1")
    assert dev_f1 == [(d["step"], pytest.approx(d["dev"]["macro_f1"])) for d in dev]

    comparison, metrics = result["comparison"], found.data.metrics
    assert metrics["test/macro_f1"] == pytest.approx(result["metrics"]["macro_f1"])
    assert metrics["gain/macro_f1"] == pytest.approx(comparison["gain"])
    assert [metrics["gain/macro_f1_ci_low"], metrics["gain/macro_f1_ci_high"]] == pytest.approx(comparison["ci95"])
    assert metrics["baseline/macro_f1"] == pytest.approx(comparison["baseline_score"])
    assert [s for s, _ in _history(client, run_id, "test/macro_f1")] == [6]  # plotted at the last step
    assert found.data.tags["hone.best_baseline"] == comparison["baseline"]
    assert found.data.tags["hone.verdict"] == result["verdict"]
    assert {a.path for a in client.list_artifacts(run_id)} == {"eval.json", "report.html"}
    artifacts = Path(client.download_artifacts(run_id, "report.html", str(tmp_path / "download")))
    assert artifacts.read_text() == report.read_text()
    assert (tmp_path / "mlartifacts").is_dir(), "artifacts of a local SQLite store lie next to it"

    assert _scalars(run.path, "loss") == [(line["step"], pytest.approx(line["loss"])) for line in logged]
    assert [s for s, _ in _scalars(run.path, "dev/macro_f1")] == [3, 6]
    assert _scalars(run.path, "test/macro_f1") == [(6, pytest.approx(result["metrics"]["macro_f1"]))]
    assert _scalars(run.path, "gain/macro_f1_ci_low") == [(6, pytest.approx(comparison["ci95"][0]))]


def test_resume_continues_the_same_mlflow_run_without_logging_a_step_twice(config_dict: dict, tmp_path: Path) -> None:
    """A crash after step 5 with the last checkpoint at step 4: the resumed run replays step 5, which MLflow
    already has; it must end as one MLflow run with one value per step."""
    cfg = hone.load_config(_tracked(config_dict, tmp_path, max_steps=8, save_every=2, eval_every=4))
    from hone.train import trainer

    original = trainer._run

    def crash_after_step_5(session, stop, bar, on_step):
        def hook(s, record):
            if record.step == 5:
                raise RuntimeError("power cut")

        return original(session, stop, bar, hook)

    trainer._run = crash_after_step_5
    try:
        with pytest.raises(RuntimeError, match="power cut"):
            hone.train(cfg, progress=False)
    finally:
        trainer._run = original
    run_dir = cfg.runs_dir / "t"
    client, run_id = _mlflow_run(run_dir)
    assert client.get_run(run_id).info.status == "FAILED"
    assert [s for s, _ in _history(client, run_id, "loss")] == [1, 2, 3, 4, 5]

    hone.train(cfg, resume=True, progress=False)
    assert _mlflow_run(run_dir)[1] == run_id
    experiment = client.get_experiment_by_name("tickets")
    assert len(client.search_runs([experiment.experiment_id])) == 1
    assert client.get_run(run_id).info.status == "FINISHED"
    losses = _history(client, run_id, "loss")
    expected = [(line["step"], pytest.approx(line["loss"])) for line in _jsonl(run_dir) if "loss" in line]
    assert [s for s, _ in losses] == list(range(1, 9)) and losses == expected
    assert [s for s, _ in _history(client, run_id, "dev/macro_f1")] == [4, 8]
    assert [s for s, _ in _scalars(run_dir, "loss")] == list(range(1, 9)), "the replayed steps are purged"


def test_a_tracker_failing_mid_run_is_switched_off_and_training_finishes(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from hone.track.mlflow_tracker import MlflowTracker

    calls = []

    def unreachable(self, metrics, step):
        calls.append(step)
        raise ConnectionError("tracking server went away")

    monkeypatch.setattr(MlflowTracker, "log_metrics", unreachable)
    run = hone.train(hone.load_config(_tracked(config_dict, tmp_path, max_steps=6)), progress=False)
    assert (run.path / "model").is_dir() and len([x for x in _jsonl(run.path) if "loss" in x]) == 6
    assert calls == [1], "a failed tracker is not called again"
    err = capsys.readouterr().err
    assert err.count("train.report_to: mlflow failed (ConnectionError: tracking server went away)") == 1
    assert [s for s, _ in _scalars(run.path, "loss")] == [1, 2, 3, 4, 5, 6], "the other tracker goes on"
    assert [r.status for r in hone.runs(run.path.parent)] == ["finished"]


def _uninstall(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    """Make `import package` (and its submodules) raise ImportError, as when it is not installed."""
    for name in [m for m in sys.modules if m.startswith(f"{package}.")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    ("tracker", "extra"),
    [("mlflow", "track-mlflow"), ("tensorboard", "track-tensorboard"), ("wandb", "track-wandb")],
)
def test_a_missing_library_stops_the_command_before_training(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tracker: str, extra: str
) -> None:
    _uninstall(monkeypatch, tracker)
    config_dict["train"].update(report_to=[tracker], max_steps=2)
    with pytest.raises(TrackingError, match=rf"train.report_to lists {tracker}, but .* pip install 'hone\[{extra}\]'"):
        hone.train(hone.load_config(config_dict), progress=False)
    run_dir = tmp_path / "runs" / "t"
    assert not (run_dir / "metrics.jsonl").exists() and not (run_dir / "checkpoints").exists()
    assert hone.runs(tmp_path / "runs") == [], "nothing was registered"


def test_the_cli_says_it_in_one_line(config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _uninstall(monkeypatch, "mlflow")
    config_dict["train"].update(report_to="mlflow", max_steps=2)
    path = tmp_path / "hone.yaml"
    path.write_text(yaml.safe_dump(config_dict))
    result = CliRunner().invoke(app, ["train", str(path)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "pip install 'hone[track-mlflow]'" in result.output


def test_an_unreachable_tracking_server_stops_the_command_before_training(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_dict["train"].update(report_to=["tensorboard", "mlflow"], tracking_uri="http://127.0.0.1:9", max_steps=2)
    started = time.monotonic()
    with pytest.raises(TrackingError, match=r"mlflow cannot use the tracking store http://127.0.0.1:9 \(Connection"):
        hone.train(hone.load_config(config_dict), progress=False)
    assert time.monotonic() - started < 60, "a refused connection is not retried for minutes"
    assert not (tmp_path / "runs" / "t" / "metrics.jsonl").exists()


def test_wandb_online_without_a_key_stops_the_command_before_training(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc with a W&B key
    monkeypatch.setenv("NETRC", str(tmp_path / ".netrc"))
    config_dict["train"].update(report_to=["wandb"], max_steps=2)
    with pytest.raises(TrackingError, match="no W&B API key is set: export WANDB_API_KEY .* WANDB_MODE=offline"):
        hone.train(hone.load_config(config_dict), progress=False)
    assert not (tmp_path / "runs" / "t" / "metrics.jsonl").exists()


def test_a_tracker_run_ends_finished_killed_or_failed_as_the_command_did() -> None:
    from hone.track.hub import status_of
    from hone.train.signals import Stopped

    assert status_of(None) == "FINISHED"
    assert status_of(Stopped(15, "runs/t/checkpoints/step-00000004")) == "KILLED"
    assert status_of(KeyboardInterrupt()) == "KILLED"
    assert status_of(RuntimeError("power cut")) == "FAILED"


def test_a_folder_store_that_mlflow_refuses_says_what_to_use(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hone.runs.rundir import RunDir
    from hone.track import open_trackers

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    config_dict["train"].update(report_to=["mlflow"], tracking_uri=(tmp_path / "mlruns").as_uri())
    with pytest.raises(TrackingError, match="refuses a folder store unless MLFLOW_ALLOW_FILE_STORE=true; use a sqlite"):
        open_trackers(hone.load_config(config_dict), RunDir(tmp_path / "runs" / "t"))


def test_the_tracking_uri_comes_from_the_config_then_the_environment_then_the_runs_folder(
    config_dict: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hone.track.mlflow_tracker import artifact_location, tracking_uri

    cfg = hone.load_config(config_dict)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert tracking_uri(cfg) == f"sqlite:///{cfg.runs_dir / 'mlflow.db'}"
    assert artifact_location(tracking_uri(cfg)) == (cfg.runs_dir / "mlartifacts").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    assert tracking_uri(cfg) == "http://mlflow.internal:5000" and artifact_location(tracking_uri(cfg)) is None
    cfg.train.tracking_uri = "databricks"
    assert tracking_uri(cfg) == "databricks"


def test_unknown_tracker_names_are_config_errors(config_dict: dict) -> None:
    config_dict["train"]["report_to"] = ["tensorboard", "mlfow"]
    with pytest.raises(ConfigError, match="train.report_to: unknown tracker 'mlfow'; did you mean 'mlflow'?"):
        hone.load_config(config_dict)
    config_dict["train"]["report_to"] = ["comet"]
    with pytest.raises(ConfigError, match="hone reports to mlflow, tensorboard, wandb"):
        hone.load_config(config_dict)


def test_a_run_without_report_to_imports_no_tracking_code(config_dict: dict, tmp_path: Path) -> None:
    config_dict["train"].update(max_steps=2)
    script = (
        "import json, sys, hone\n"
        f"run = hone.train(hone.load_config(json.loads({json.dumps(json.dumps(config_dict))})), progress=False)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('mlflow', 'tensorboard', 'wandb') "
        "or m.startswith('hone.track') or m == 'torch.utils.tensorboard'))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_wandb_offline_gets_config_steps_eval_and_report(
    config_dict: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    config_dict["train"].update(report_to=["wandb"], max_steps=4, eval_every=2)
    cfg = hone.load_config(config_dict)
    hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    hone.report(run)
    run_id = json.loads((run.path / "tracking.json").read_text())["wandb"]["id"]
    files = sorted(run.path.glob(f"wandb/offline-run-*-{run_id}/run-{run_id}.wandb"))
    assert len(files) == 3, "train, eval and report each continue the one W&B run (joined by `wandb sync`)"
    train, evaluation = _wandb_records(files[0]), _wandb_records(files[1])
    assert json.loads(dict(train["config"])["train.lr"]) == "0.003"
    history = {step: items for step, items in train["history"]}
    logged = [line for line in _jsonl(run.path) if "loss" in line]
    assert sorted(history) == [1, 2, 3, 4]
    assert [json.loads(history[x["step"]]["loss"]) for x in logged] == pytest.approx([x["loss"] for x in logged])
    assert "dev/macro_f1" in history[2] and "dev/macro_f1" in history[4]
    summary = dict(evaluation["summary"])
    assert json.loads(summary["gain/macro_f1_ci_low"]) == pytest.approx(result["comparison"]["ci95"][0])
    assert json.loads(summary["hone.best_baseline"]) == result["comparison"]["baseline"]
    assert {p.name for p in (files[1].parent / "files").iterdir()} >= {"eval.json"}  # what `wandb sync` uploads
    assert {p.name for p in (files[2].parent / "files").iterdir()} >= {"eval.json", "report.html"}


def _wandb_records(path: Path) -> dict[str, list]:
    """A W&B offline run file read with W&B's own protobuf messages: after a 7-byte header, LevelDB-log
    chunks (crc32, length, type: full/first/middle/last) in 32 KiB blocks."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, pos, partial = path.read_bytes(), 7, b""
    found: dict[str, list] = {"config": [], "history": [], "summary": []}
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7]) if left >= 7 else (0, 0, 0)
        if left < 7 or kind == 0:
            pos += left
            continue
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        partial = chunk if kind in (1, 2) else partial + chunk
        if kind not in (1, 4):
            continue
        record = wandb_internal_pb2.Record()
        record.ParseFromString(partial)
        which = record.WhichOneof("record_type")
        if which == "config":
            found["config"] += [(u.key or "/".join(u.nested_key), u.value_json) for u in record.config.update]
        elif which == "history":
            items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
            found["history"].append((record.history.step.num, items))
        elif which == "summary":
            found["summary"] += [(u.key or "/".join(u.nested_key), u.value_json) for u in record.summary.update]
    return found
