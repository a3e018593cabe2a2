"""`hone ui` in a real headless Chromium: every page renders cleanly and shows the run directories' numbers;
a run started from the browser trains to the end; the playground answers through a real `hone serve` app."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from browser import assert_clean, serve_app
from hone.ui.app import create_app
from test_ui import COMPARE, HOSTILE, SWEEP, build_ui_runs

KEY = "ui-key"


@pytest.fixture(scope="module")
def ui_runs(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> Path:
    return build_ui_runs(tmp_path_factory.mktemp("ui-browser"), tiny_encoder)


@pytest.fixture(scope="module")
def ui_url(ui_runs: Path) -> Iterator[str]:
    with serve_app(create_app(ui_runs, data_root=ui_runs.parent)) as url:
        yield url


def _eval(runs: Path, name: str) -> dict[str, Any]:
    return json.loads((runs / name / "eval.json").read_text())


def _value(page: Any, selector: str) -> float:
    return float(page.get_attribute(selector, "data-value"))


def test_runs_page_lists_every_run_with_its_score(page: Any, ui_url: str, ui_runs: Path) -> None:
    page.goto(ui_url + "/")
    page.wait_for_selector("#runs")
    assert page.locator("#runs tbody tr").count() == 3
    for name in ("good", "short"):
        result = _eval(ui_runs, name)
        assert _value(page, f'tr[data-name="{name}"] td.score') == result["metrics"][result["primary_metric"]]
        assert page.inner_text(f'tr[data-name="{name}"] td.status') == "finished"
    assert page.inner_text('tr[data-name="fields"] td.status') == "not started"
    assert_clean(page)


def test_run_page_shows_the_eval_json_numbers(page: Any, ui_url: str, ui_runs: Path) -> None:
    result = _eval(ui_runs, "good")
    page.goto(ui_url + "/runs/good")
    page.wait_for_selector("#confusion")
    assert page.inner_text("#status") == "finished"
    assert _value(page, "#score") == result["metrics"]["macro_f1"]
    assert page.inner_text("#verdict-text") == result["verdict"]
    c = result["comparison"]
    assert _value(page, "#tuned-score") == c["tuned_score"] and _value(page, "#baseline-score") == c["baseline_score"]
    labels = result["confusion"]["labels"]
    for i, gold in enumerate(labels):
        for j, predicted in enumerate(labels):
            cell = f'#confusion td[data-gold="{gold}"][data-predicted="{predicted}"]'
            assert int(page.inner_text(cell)) == result["confusion"]["matrix"][i][j]
    for metric, value in result["metrics"].items():
        assert _value(page, f'#metrics tr[data-metric="{metric}"] td.tuned') == value
    for label, scores in result["per_class"].items():
        assert page.inner_text(f'#breakdown tr[data-key="{label}"] td:nth-child(5)') == str(scores["support"])
    assert page.locator("#curves svg.chart path.series").count() >= 1
    # dataset text is shown as text, never run as markup
    assert page.inner_text("#suspects-loss td.text") == HOSTILE
    assert page.title() != "pwned" and page.locator("#suspects img").count() == 0
    assert_clean(page)
    page.click("#report-link")
    page.wait_for_selector("h1")
    assert result["verdict"] in page.content()
    assert_clean(page)


def test_run_page_of_a_short_run_lists_its_mistakes(page: Any, ui_url: str, ui_runs: Path) -> None:
    result = _eval(ui_runs, "short")
    page.goto(ui_url + "/runs/short")
    page.wait_for_selector("#worst-section")
    shown = page.locator("#worst tbody tr").count()
    assert shown == min(len(result["worst"]), 50)
    off_diagonal = sum(n for i, r in enumerate(result["confusion"]["matrix"]) for j, n in enumerate(r) if i != j)
    assert sum(int(x) for x in page.locator("#confusion td.off").all_inner_texts()) == off_diagonal
    assert_clean(page)


def test_extraction_run_page_has_a_per_field_table(page: Any, ui_url: str, ui_runs: Path) -> None:
    result = _eval(ui_runs, "fields")
    page.goto(ui_url + "/runs/fields")
    page.wait_for_selector("#breakdown")
    for field, scores in result["per_field"].items():
        assert _value(page, f'#breakdown tr[data-key="{field}"] td:nth-child(2)') == scores["precision"]
        assert page.inner_text(f'#breakdown tr[data-key="{field}"] td:nth-child(6)') == str(scores["tp"])
    assert page.inner_text("#verdict-text") == result["verdict"]
    assert_clean(page)


def test_compare_page_shows_both_runs_and_deltas(page: Any, ui_url: str, ui_runs: Path) -> None:
    good, short = _eval(ui_runs, "good")["metrics"], _eval(ui_runs, "short")["metrics"]
    page.goto(ui_url + "/")
    page.wait_for_selector("#runs")
    page.check('input.pick[value="good"]')
    page.check('input.pick[value="short"]')
    page.click("#compare-selected")
    page.wait_for_selector("#compare-table")
    for metric in good:
        row = f'#compare-table tr[data-metric="{metric}"]'
        assert _value(page, f'{row} td[data-run="good"]') == good[metric]
        assert _value(page, f'{row} td[data-run="short"]') == short[metric]
        assert _value(page, f"{row} td.delta") == pytest.approx(short[metric] - good[metric])
    assert_clean(page)


def test_learning_curves_page_draws_every_point(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/curves")
    page.wait_for_selector("section.sweep svg")
    points = sum(len(s["points"]) for s in SWEEP["series"])
    assert page.locator("section.sweep svg circle.point").count() == points
    assert _value(page, "b.doubling") == SWEEP["series"][0]["fit"]["doubling_gain"]
    assert page.locator("table.sweep-summary tbody tr").count() == 6
    assert_clean(page)


def test_ratings_page_ranks_by_elo(page: Any, ui_url: str) -> None:
    page.goto(ui_url + "/ratings")
    page.wait_for_selector("table.ratings")
    systems = page.locator("table.ratings tbody tr td:nth-child(2)").all_inner_texts()
    assert systems == [r["system"] for r in sorted(COMPARE["ratings"], key=lambda r: -r["elo"])]
    assert _value(page, 'tr[data-system="tuned"] td.elo') == 1567.5
    assert_clean(page)


def test_playground_without_a_server_explains(page: Any, ui_runs: Path) -> None:
    from browser import free_port

    with serve_app(create_app(ui_runs, serve_url=f"http://127.0.0.1:{free_port()}")) as url:
        page.goto(url + "/playground")
        page.wait_for_selector("#pg-status")
        assert "no hone server answered" in page.inner_text("#pg-status")
    assert_clean(page)


def test_playground_classifies_through_a_real_server(page: Any, ui_runs: Path) -> None:
    from hone.serve.app import create_app as serve_create_app
    from hone.serve.config import ServeConfig

    server = serve_create_app(ServeConfig(runs=[str(ui_runs / "good")], worker="thread"), keys=[KEY])
    text = "my invoice charge on the card"
    with serve_app(server) as serve_url, serve_app(create_app(ui_runs, serve_url=serve_url, api_key=KEY)) as url:
        auth = {"Authorization": f"Bearer {KEY}"}
        assert server.state.hone.loaded.wait(120)
        direct = httpx.post(f"{serve_url}/v1/classify", json={"model": "good", "input": text}, headers=auth).json()
        page.goto(url + "/playground")
        page.wait_for_selector("#pg-model")
        page.select_option("#pg-model", "good")
        page.fill("#pg-input", text)
        page.click("#pg-send")
        page.wait_for_selector("#pg-raw")
        shown = json.loads(page.inner_text("#pg-raw"))
    assert shown["data"][0]["label"] == direct["data"][0]["label"]
    assert shown["data"][0]["confidence"] == pytest.approx(direct["data"][0]["confidence"], abs=1e-6)
    assert page.inner_text("#pg-answer").startswith(direct["data"][0]["label"])
    assert_clean(page)


def test_a_run_started_from_the_browser_trains_to_a_score(
    page: Any, ui_runs: Path, tiny_encoder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    with serve_app(create_app(ui_runs, data_root=ui_runs.parent)) as url:
        page.goto(url + "/new")
        page.wait_for_selector("#new-form")
        assert_clean(page)
        page.select_option("#new-data", "good.jsonl")
        page.select_option("#new-task", "classify")
        page.fill("#new-model", str(tiny_encoder))
        page.fill("#new-name", "clicked")
        page.fill("#new-overrides", "train.epochs=2\ntrain.lr=3e-3\neval.bootstrap=100")
        page.click("#new-train")
        page.wait_for_url("**/runs/clicked")
        page.wait_for_function("document.querySelector('#status')?.textContent === 'finished'", timeout=90_000)
        result = _eval(ui_runs, "clicked")
        page.wait_for_selector("#score[data-value]")
        assert _value(page, "#score") == result["metrics"]["macro_f1"]
        assert page.inner_text("#verdict-text") == result["verdict"]
        assert (ui_runs / "clicked" / "ui-job.log").read_text().count("== hone") == 4
    assert_clean(page)


# --- a failed job, and the columns of a new run's file -----------------------------------------------------------

ERROR = "error: 5 bad row(s) in the data:"


def _failed_job(runs: Path) -> None:
    """A dashboard job that failed in its first stage: hone.yaml and the job's files, no config.yaml or registry."""
    run = runs / "broken"
    run.mkdir(parents=True)
    (run / "hone.yaml").write_text("name: broken\ntask: classify\nmodel:\n  name: minilm\n  method: full\n")
    state = {"state": "failed", "stage": "baseline", "returncode": 1, "config": str(run / "hone.yaml")}
    (run / "ui-job.json").write_text(json.dumps(state))
    lines = [f"== hone baseline {run / 'hone.yaml'}"] + [f"baseline: reading rows {i}" for i in range(60)]
    lines += [ERROR, "  bad.jsonl:1: error missing_field [label]: no 'label' field", "the end of the log"]
    (run / "ui-job.log").write_text("\n".join(lines) + "\n")


def test_a_failed_job_shows_the_failure_and_the_end_of_its_log(page: Any, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    _failed_job(runs)
    with serve_app(create_app(runs, data_root=tmp_path)) as url:
        page.goto(url + "/")
        page.wait_for_selector("#runs")
        row = 'tr[data-name="broken"]'
        cells = page.locator(f"{row} td").all_inner_texts()
        assert cells[1:5] == ["classify", "minilm", "full", "failed"]
        assert page.get_attribute(f"{row} td.status", "title") == ERROR
        page.goto(url + "/runs/broken")
        page.wait_for_selector("#log pre")
        assert page.inner_text("#status") == "failed"
        assert "—" not in page.inner_text(".meta") and "classify" in page.inner_text(".meta")
        assert page.inner_text("#error-line") == ERROR and "baseline" in page.inner_text("#failure")
        assert "No verdict yet" not in page.content() and "Not evaluated yet" not in page.content()
        scrolled = page.eval_on_selector(
            "#log pre", "e => [e.scrollHeight > e.clientHeight, e.scrollTop + e.clientHeight >= e.scrollHeight - 2]"
        )
        assert scrolled == [True, True], "the log shows its last lines first"
        assert page.locator("#failure").bounding_box()["y"] < page.locator("#log").bounding_box()["y"]
    assert_clean(page)


def test_the_new_run_form_maps_the_columns_of_the_chosen_file(page: Any, tmp_path: Path, tiny_encoder: Path) -> None:
    import os
    import signal

    (tmp_path / "listed.jsonl").write_text(json.dumps({"text": "a", "label": "b", "source": "c"}) + "\n")
    app = create_app(tmp_path / "runs", data_root=tmp_path)
    with serve_app(app) as url:
        page.goto(url + "/new")
        page.wait_for_selector("#new-form")
        page.select_option("#new-data", "listed.jsonl")
        text_field = 'select[data-key="data.text_field"]'
        page.wait_for_selector(f"{text_field} option[value=source]", state="attached")
        assert (
            page.input_value(text_field) == "text"
            and page.input_value('select[data-key="data.label_field"]') == "label"
        )

        csv_file = b"email,category\nmy invoice is wrong,billing\nreset my password,account\n"
        page.set_input_files("#new-upload", files=[{"name": "emails.csv", "mimeType": "text/csv", "buffer": csv_file}])
        page.wait_for_selector(f"{text_field} option[value=email]", state="attached")
        options = page.locator(f"{text_field} option").all_inner_texts()
        assert [o for o in options if not o.startswith("—")] == ["email", "category"]
        page.select_option(text_field, "email")
        page.select_option('select[data-key="data.label_field"]', "category")
        page.select_option("#new-task", "rerank")  # another task's fields, then back: the choices stay
        assert page.locator('select[data-key="data.passage_field"]').count() == 1
        page.select_option("#new-task", "classify")
        assert page.input_value(text_field) == "email"
        page.fill("#new-model", str(tiny_encoder))
        page.fill("#new-name", "mapped")
        page.click("#new-train")
        page.wait_for_url("**/runs/mapped")
        job = app.state.jobs["mapped"]
        os.killpg(job.pid, signal.SIGKILL)  # the config is what this test checks; no need to train
        job.wait(30)
    cfg = api_config(tmp_path / "runs" / "mapped" / "hone.yaml")
    assert (cfg.data.text_field, cfg.data.label_field) == ("email", "category")
    assert_clean(page)


def api_config(path: Path) -> Any:
    from hone import api

    return api.config_of(path)
