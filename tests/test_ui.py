"""`hone ui` in-process: the JSON API against real (tiny) run directories, path safety, the job launcher."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import make_rows
from hone import api
from hone.runs.registry import Registry
from hone.ui import jobs, runs_data
from hone.ui.app import create_app

HOSTILE = '<script>document.title="pwned"</script><img src=x onerror=alert(1)>'


def _train_run(root: Path, encoder: Path, name: str, train: dict[str, Any]) -> Path:
    data = root / f"{name}.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in make_rows(150, seed=len(name))))
    cfg = {
        "name": name,
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 32},
        "model": {"name": str(encoder), "method": "full"},
        "train": {"batch_size": 8, "lr": 3e-3, "patience": None, "precision": "fp32", **train},
        "eval": {"bootstrap": 200},
        "baseline": {"methods": ["majority", "tfidf_lr"]},
    }
    api.baseline(cfg)
    run = api.train(cfg, progress=False)
    api.evaluate(run)
    api.report(run)
    return run.path


def _suspects(run: Path) -> None:
    """Add the suspect-labels section another command writes into eval.json (its documented shape)."""
    result = json.loads((run / "eval.json").read_text())
    row = {"line": 7, "text": HOSTILE, "label": "billing", "predicted": "account", "confidence": 0.91, "loss": 2.4}
    result["suspect_labels"] = {
        "split": "train",
        "scored": 120,
        "of": 120,
        "note": "cross-validated",
        "highest_loss": [row],
        "confidently_wrong": [{**row, "line": 9, "loss": 1.9}],
    }
    (run / "eval.json").write_text(json.dumps(result))


def _fields_run(runs: Path) -> None:
    """An extraction run directory the registry does not know: config.yaml and eval.json only."""
    run = runs / "fields"
    run.mkdir()
    (run / "config.yaml").write_text("name: fields\ntask: extract\nmodel:\n  name: tiny-causal\n  method: lora\n")
    per_field = {
        "brand": {"precision": 0.75, "recall": 0.6, "f1": 0.6667, "support": 10, "tp": 6, "fp": 2, "fn": 4},
        "colour": {"precision": 1.0, "recall": 0.5, "f1": 0.6667, "support": 8, "tp": 4, "fp": 0, "fn": 4},
    }
    result = {
        "task": "extract",
        "primary_metric": "field_f1_micro",
        "higher_is_better": True,
        "n": 9,
        "metrics": {"field_f1_micro": 0.6667, "doc_exact_match": 0.3333},
        "per_field": per_field,
        "worst": [{"text": "Acme red mug", "gold": {"brand": "Acme"}, "predicted": {"brand": None}, "confidence": 0.4}],
        "verdict": "No baseline results for this test split: run `hone baseline` first, then `hone eval` again.",
    }
    (run / "eval.json").write_text(json.dumps(result))


SWEEP = {
    "kind": "sweep",
    "name": "size",
    "task": "classify",
    "metric": "macro_f1",
    "direction": "max",
    "test_examples": 30,
    "series": [
        {
            "label": "tuned",
            "config": "hone.yaml",
            "points": [
                {"fraction": f, "examples": int(120 * f), "seed": s, "score": 0.4 + 0.5 * f + 0.02 * s, "run_dir": "x"}
                for f in (0.25, 0.5, 1.0)
                for s in (0, 1)
            ],
            "summary": [
                {"examples": int(120 * f), "mean": 0.41 + 0.5 * f, "std": 0.014, "n": 2} for f in (0.25, 0.5, 1.0)
            ],
            "fit": {"doubling_gain": 0.0873, "at_examples": 120},
        },
        {
            "label": "tfidf_lr",
            "config": "baseline",
            "points": [
                {"fraction": f, "examples": int(120 * f), "seed": 0, "score": 0.6 + 0.1 * f, "run_dir": None}
                for f in (0.25, 0.5, 1.0)
            ],
            "summary": [
                {"examples": int(120 * f), "mean": 0.6 + 0.1 * f, "std": 0.0, "n": 1} for f in (0.25, 0.5, 1.0)
            ],
            "fit": None,
        },
    ],
    "crossing": {"examples": 45, "score": 0.64},
}

COMPARE = {
    "kind": "compare",
    "systems": [{"name": "tuned", "source": "runs/good"}, {"name": "base", "source": "smollm2"}],
    "ratings": [
        {
            "system": "base",
            "strength": 0.8,
            "elo": 1432.5,
            "ci_low": 1401.0,
            "ci_high": 1460.2,
            "wins": 4,
            "losses": 11,
            "ties": 1,
        },
        {
            "system": "tuned",
            "strength": 1.25,
            "elo": 1567.5,
            "ci_low": 1540.3,
            "ci_high": 1598.9,
            "wins": 11,
            "losses": 4,
            "ties": 1,
        },
    ],
    "win_rate": {"tuned": {"base": 0.7188}, "base": {"tuned": 0.2812}},
}


def build_ui_runs(root: Path, encoder: Path) -> Path:
    """A runs folder with two trained classify runs (good: 4 epochs; short: 3 steps), an extraction run
    directory, a sweep and a compare result; returns the runs folder."""
    _train_run(root, encoder, "short", {"epochs": 1, "max_steps": 3})
    good = _train_run(root, encoder, "good", {"epochs": 4})
    _suspects(good)
    runs = root / "runs"
    _fields_run(runs)
    (runs / "size").mkdir()
    (runs / "size" / "sweep.json").write_text(json.dumps(SWEEP))
    (runs / "compare").mkdir()
    (runs / "compare" / "compare.json").write_text(json.dumps(COMPARE))
    (runs / "compare" / "other.json").write_text(json.dumps({"kind": "something else"}))
    return runs


@pytest.fixture(scope="module")
def ui_runs(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    return build_ui_runs(tmp_path_factory.mktemp("ui"), tiny_encoder)


@pytest.fixture
def client(ui_runs: Path) -> TestClient:
    return TestClient(create_app(ui_runs, data_root=ui_runs.parent))


def _eval(runs: Path, name: str) -> dict[str, Any]:
    return json.loads((runs / name / "eval.json").read_text())


def test_runs_table_scores_match_registry_and_eval_json(client: TestClient, ui_runs: Path) -> None:
    rows = {r["name"]: r for r in client.get("/api/runs").json()["runs"]}
    assert set(rows) == {"good", "short", "fields"}
    registry = {r.name: r for r in Registry(ui_runs / "registry.sqlite").list()}
    for name in ("good", "short"):
        result = _eval(ui_runs, name)
        assert rows[name]["score"] == registry[name].score == result["metrics"][result["primary_metric"]]
        assert rows[name]["status"] == rows[name]["phase"] == "finished" and rows[name]["task"] == "classify"
    assert rows["fields"]["status"] == "not started" and rows["fields"]["task"] == "extract"
    assert rows["fields"]["method"] == "lora"
    page = client.get("/")
    assert page.status_code == 200 and '<link rel="icon" href="data:,">' in page.text


def test_run_detail_equals_the_run_files(client: TestClient, ui_runs: Path) -> None:
    detail = client.get("/api/runs/short").json()
    result = _eval(ui_runs, "short")
    assert detail["eval"]["confusion"] == result["confusion"]
    assert sum(map(sum, detail["eval"]["confusion"]["matrix"])) == result["n"]
    assert detail["eval"]["verdict"] == result["verdict"] and detail["eval"]["worst"] == result["worst"]
    logged = [json.loads(line) for line in (ui_runs / "short" / "metrics.jsonl").read_text().splitlines()]
    losses = [[r["step"], r["loss"]] for r in logged if "loss" in r]
    assert detail["curves"]["loss"] == losses and detail["curves"]["progress"]["step"] == losses[-1][0] == 3
    baseline = json.loads((ui_runs / "short" / "baseline.json").read_text())
    assert detail["baseline"]["best"] == baseline["best"]
    assert all("predictions" not in b for b in detail["baseline"]["baselines"].values())
    assert detail["has_report"] and client.get("/runs/short/report.html").text == (
        ui_runs / "short" / "report.html"
    ).read_text(encoding="utf-8")
    good = client.get("/api/runs/good").json()
    assert good["eval"]["suspect_labels"]["highest_loss"][0]["text"] == HOSTILE


def test_extraction_run_without_registry_shows_its_per_field_table(client: TestClient) -> None:
    detail = client.get("/api/runs/fields").json()
    assert detail["record"] is None and detail["eval"]["per_field"]["brand"]["tp"] == 6
    assert client.get("/runs/fields").status_code == 200


def test_unknown_run_is_a_404_that_says_where(client: TestClient, ui_runs: Path) -> None:
    r = client.get("/api/runs/nope")
    assert r.status_code == 404 and "nope" in r.json()["detail"] and str(ui_runs) in r.json()["detail"]
    page = client.get("/runs/nope")
    assert page.status_code == 404 and "no run named" in page.text
    assert client.get("/runs/short-but-missing/report.html").status_code == 404
    assert client.get("/runs/fields/report.html").status_code == 404  # the run exists, its report not yet


def test_paths_outside_the_runs_folder_are_refused(client: TestClient, ui_runs: Path) -> None:
    secret = ui_runs.parent / "secret"
    secret.mkdir(exist_ok=True)
    (secret / "report.html").write_text("TOP SECRET")
    (secret / "eval.json").write_text("{}")
    for url in (
        "/runs/..%2Fsecret/report.html",
        "/api/runs/..%2Fsecret",
        "/api/runs/%2E%2E",
        "/runs/.secret/report.html",
    ):
        r = client.get(url)
        assert r.status_code == 404 and "TOP SECRET" not in r.text, url
    for name in ("..", "../secret", "a/b", ".hidden", ""):
        with pytest.raises(runs_data.UnknownRun):
            runs_data.run_path(ui_runs, name)
    r = client.get("/api/compare", params={"runs": "good,../secret"})
    assert r.status_code == 404 and "not a run name" in r.json()["detail"]
    outside = client.post("/api/jobs", json={"data": "/etc/hostname", "task": "classify"})
    assert outside.status_code == 400 and "outside" in outside.json()["detail"]
    saved = client.post("/api/uploads", json={"filename": "../../evil.jsonl", "content": '{"text": "a"}\n'}).json()
    assert Path(saved["path"]).parent == (ui_runs / "uploads").resolve() and Path(saved["path"]).name == "evil.jsonl"


def test_compare_puts_runs_side_by_side_with_deltas(client: TestClient, ui_runs: Path) -> None:
    data = client.get("/api/compare", params={"runs": "good,short"}).json()
    good, short = _eval(ui_runs, "good")["metrics"], _eval(ui_runs, "short")["metrics"]
    rows = {r["metric"]: r for r in data["rows"]}
    assert set(rows) == set(good)
    for metric, row in rows.items():
        assert row["values"] == [good[metric], short[metric]]
        assert row["deltas"][0] == 0 and row["deltas"][1] == pytest.approx(short[metric] - good[metric])
    assert [r["name"] for r in data["runs"]] == ["good", "short"]


def test_sweeps_and_ratings_are_found_under_the_runs_folder(client: TestClient) -> None:
    sweeps = client.get("/api/sweeps").json()["sweeps"]
    assert [s["name"] for s in sweeps] == ["size"] and sweeps[0]["path"] == "size/sweep.json"
    assert sweeps[0]["series"][0]["fit"]["doubling_gain"] == SWEEP["series"][0]["fit"]["doubling_gain"]
    ratings = client.get("/api/ratings").json()["comparisons"]
    assert len(ratings) == 1 and ratings[0]["ratings"] == COMPARE["ratings"]


def test_empty_runs_folder_is_not_an_error_and_creates_no_registry(tmp_path: Path) -> None:
    c = TestClient(create_app(tmp_path / "runs", data_root=tmp_path))
    assert c.get("/api/runs").json()["runs"] == [] and c.get("/api/sweeps").json() == {"sweeps": []}
    assert not (tmp_path / "runs" / "registry.sqlite").exists()


def test_playground_without_a_server_says_so(tmp_path: Path) -> None:
    from browser import free_port

    url = f"http://127.0.0.1:{free_port()}"
    c = TestClient(create_app(tmp_path, serve_url=url))
    r = c.get("/api/playground/models")
    assert r.status_code == 200 and r.json()["ok"] is False and url in r.json()["error"]
    sent = c.post("/api/playground/classify", json={"model": "x", "input": "hi"}).json()
    assert sent["ok"] is False and "hone serve" in sent["error"]
    assert c.post("/api/playground/bogus", json={}).json()["error"].startswith("kind 'bogus'")


def test_new_run_choices_list_data_files_and_task_defaults(client: TestClient) -> None:
    data = client.get("/api/new").json()
    assert {"good.jsonl", "short.jsonl"} <= set(data["files"])
    assert not any(f.startswith("runs/") for f in data["files"])
    assert data["tasks"]["classify"] == "minilm" and data["tasks"]["instruct"] == "smollm2"


def test_a_bad_job_request_names_the_field(client: TestClient) -> None:
    r = client.post("/api/jobs", json={"data": "good.jsonl", "task": "nonsense"})
    assert r.status_code == 400 and "task" in r.json()["detail"]
    r = client.post("/api/jobs", json={"data": "good.jsonl", "task": "classify", "overrides": "train.epoch=2"})
    assert r.status_code == 400 and "epoch" in r.json()["detail"]
    r = client.post("/api/jobs", json={"data": "good.jsonl", "task": "classify", "name": "good"})
    assert r.status_code == 400 and "already exists" in r.json()["detail"]
    assert client.post("/api/jobs", json={"data": "", "task": "classify"}).status_code == 400


def test_job_writes_a_valid_config_and_a_failing_stage_is_reported(
    tmp_path: Path, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    (tmp_path / "bad.jsonl").write_text('{"text": "no label"}\n' * 5)
    app = create_app(tmp_path / "runs", data_root=tmp_path)
    c = TestClient(app)
    body = {"data": "bad.jsonl", "task": "classify", "model": str(tiny_encoder), "name": "broken"}
    started = c.post("/api/jobs", json=body).json()
    assert started["url"] == "/runs/broken"
    cfg = api.config_of(Path(started["config"]))
    assert cfg.name == "broken" and cfg.model.name == str(tiny_encoder) and cfg.data.train == tmp_path / "bad.jsonl"
    assert cfg.runs_dir == (tmp_path / "runs").resolve() and cfg.train.epochs == 4  # hone's default
    app.state.jobs["broken"].wait(120)
    deadline = time.monotonic() + 10
    while (detail := c.get("/api/runs/broken").json())["job"]["state"] == "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert detail["job"]["state"] == "failed" and detail["job"]["stage"] == "baseline"
    assert detail["phase"] == "failed" and "missing_field" in detail["log_tail"]
    assert jobs.stages(Path(started["config"]))[1] == ("train", ["train", started["config"]])


def test_columns_of_a_file_come_from_its_first_rows(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"email": "a", "category": "b"}\n{"email": "c", "extra": 1}\n{"cut": ')
    c = TestClient(create_app(tmp_path / "runs", data_root=tmp_path))
    assert c.post("/api/columns", json={"data": "rows.jsonl"}).json()["columns"] == ["email", "category", "extra"]
    head = '\ufeff"e-mail, address",label\n"x, y",z\n'
    assert c.post("/api/columns", json={"filename": "a.csv", "head": head}).json()["columns"] == [
        "e-mail, address",
        "label",
    ]
    assert jobs.columns("a.tsv", "text\tlabel\nx\ty\n") == ["text", "label"] and jobs.columns("a.conll", "x O") == []
    assert c.post("/api/columns", json={"data": "/etc/passwd"}).status_code == 400
    fields = {f["key"]: f["default"] for f in c.get("/api/new").json()["fields"]["classify"]}
    assert fields == {"data.text_field": "text", "data.label_field": "label"}
