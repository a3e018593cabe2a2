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
