"""`hone compare`: Bradley–Terry ratings on simulated games, judge agreement, gathering outputs from tiny runs,
the reference judge, the model judge over real HTTP (fixed verdicts and a real `hone serve`), CLI and resume."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi import FastAPI, Request
from typer.testing import CliRunner

import hone
from browser import serve_app
from hone.cli import app
from hone.compare import compare, make_judge, open_comparison, run_judge
from hone.compare.judges import VERDICT, JudgmentLog, ModelJudge
from hone.compare.outputs import read_outputs_file
from hone.compare.ratings import ELO_SCALE, agreement, bootstrap, kappa, ratings
from tiny import write_tiny_causal

runner = CliRunner()
WORDS = "red blue green cat dog sun moon".split()


# --- ratings on simulated games ----------------------------------------------------------------------


def simulate(elos: dict[str, float], games_per_pair: int, seed: int, tie_rate: float = 0.0) -> list[dict[str, Any]]:
    """Games whose outcomes follow Bradley–Terry with the given Elo points; one prompt per game."""
    rng = random.Random(seed)
    names, out = list(elos), []
    for i, x in enumerate(names):
        for y in names[i + 1 :]:
            p = 1 / (1 + 10 ** ((elos[y] - elos[x]) / 400))
            for g in range(games_per_pair):
                winner = "tie" if rng.random() < tie_rate else ("a" if rng.random() < p else "b")
                out.append({"prompt_id": f"{x}-{y}-{g}", "a": x, "b": y, "winner": winner, "judge": "sim"})
    return out


TRUE = {"best": 1200.0, "good": 1100.0, "fair": 1000.0, "weak": 700.0}


def test_bradley_terry_recovers_order_and_strengths() -> None:
    rows = ratings(list(TRUE), simulate(TRUE, 400, seed=1), resamples=20)
    assert [r["system"] for r in rows] == ["best", "good", "fair", "weak"]
    mean = sum(TRUE.values()) / len(TRUE)
    for r in rows:
        assert abs(r["elo"] - (1000 + TRUE[r["system"]] - mean)) < 40, r
        assert math.isclose(r["elo"], 1000 + ELO_SCALE * r["strength"])
        assert r["ci_low"] <= r["elo"] <= r["ci_high"]
    assert sum(r["wins"] for r in rows) == sum(r["losses"] for r in rows) == 6 * 400


def test_intervals_cover_the_truth_and_shrink_with_more_data() -> None:
    truth = {"x": 1100.0, "y": 1000.0, "z": 900.0}
    systems = list(truth)
    covered, widths = 0, {40: [], 160: []}
    for seed in range(12):
        for n in widths:
            draws = bootstrap(systems, simulate(truth, n, seed), resamples=100, seed=seed)
            low, high = np.percentile(draws, [2.5, 97.5], axis=0)
            widths[n].append(float(np.mean(high - low)))
            if n == 40:
                covered += all(low[k] <= truth[s] <= high[k] for k, s in enumerate(systems))
    assert covered >= 9  # 95% intervals: nearly all of 12 datasets
    assert np.mean(widths[160]) < 0.7 * np.mean(widths[40])  # 4x the games: about half as wide


def test_ties_count_half_and_a_clean_sweep_stays_finite() -> None:
    ties = simulate({"p": 1000.0, "q": 1000.0}, 30, seed=0, tie_rate=1.0)
    rows = {r["system"]: r for r in ratings(["p", "q"], ties, resamples=10)}
    assert rows["p"]["ties"] == rows["q"]["ties"] == 30
    assert abs(rows["p"]["elo"] - rows["q"]["elo"]) < 1e-6
    sweep = [{"prompt_id": str(i), "a": "p", "b": "q", "winner": "a", "judge": "s"} for i in range(10)]
    half = sweep[:5] + [{**j, "winner": "tie"} for j in sweep[5:]]
    full_gap = np.diff([r["elo"] for r in ratings(["p", "q"], sweep, resamples=10)])[0]
    half_gap = np.diff([r["elo"] for r in ratings(["p", "q"], half, resamples=10)])[0]
    assert np.isfinite(full_gap) and full_gap < half_gap < 0  # sorted best first, so the gaps are negative


def test_agreement_and_kappa_on_crafted_labels() -> None:
    human = ["a", "a", "b", "b", "tie", "a", "b", "a"]
    model = ["a", "b", "b", "b", "tie", "a", "a", "a"]
    rows = []
    for i, (h, m) in enumerate(zip(human, model, strict=True)):
        rows.append({"prompt_id": str(i), "a": "x", "b": "y", "winner": h, "judge": "human"})
        rows.append({"prompt_id": str(i), "a": "x", "b": "y", "winner": m, "judge": "model:j"})
    rows.append({"prompt_id": "only-model", "a": "x", "b": "y", "winner": "a", "judge": "model:j"})
    (found,) = agreement(rows)
    assert (found["judge"], found["vs"], found["pairs"]) == ("model:j", "human", 8)
    assert found["agreement"] == pytest.approx(6 / 8)
    labels = ("a", "b", "tie")
    chance = sum((human.count(k) / 8) * (model.count(k) / 8) for k in labels)
    assert found["kappa"] == pytest.approx((6 / 8 - chance) / (1 - chance))
    assert kappa(["a", "a"], ["a", "a"]) is None


# --- outputs files and the reference judge -------------------------------------------------------------


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def graded_outputs(path: Path, n: int = 12) -> Path:
    """Three systems on the same prompts: `exact` repeats the reference, `close` gets most of it, `off` none."""
    rows = []
    for i in range(n):
        reference = f"the {WORDS[i % 7]} order {i} ships on monday morning"
        prompt = f"when does order {i} ship?"
        rows.append({"system": "exact", "prompt": prompt, "output": reference, "reference": reference})
        rows.append(
            {"system": "close", "prompt": prompt, "output": f"order {i} ships on monday", "reference": reference}
        )
        rows.append({"system": "off", "prompt": prompt, "output": "no idea, sorry", "reference": reference})
    return write_jsonl(path, rows)


def test_reference_judge_prefers_the_answer_equal_to_the_reference(tmp_path: Path) -> None:
    result = compare(outputs=[graded_outputs(tmp_path / "o.jsonl")], out=tmp_path / "cmp", resamples=50)
    assert result["judges"] == ["reference"] and result["prompts"] == 12
    assert [r["system"] for r in result["ratings"]] == ["exact", "close", "off"]
    for j in result["judgments"]:
        better = min(j["a"], j["b"], key=["exact", "close", "off"].index)
        assert j["winner"] == ("a" if better == j["a"] else "b")
    assert result["win_rate"]["exact"]["off"] == 1.0
    assert {j["shown_first"] for j in result["judgments"]} == {"exact", "close", "off"}  # the order is drawn


def test_outputs_file_errors_name_the_line_and_missing_overlap(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"system": "x", "prompt": "p", "output": "o"}\n{"system": "x", "prompt": "p"}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: field output"):
        read_outputs_file(bad)
    apart = write_jsonl(
        tmp_path / "apart.jsonl",
        [{"system": "x", "prompt": f"p{i}", "output": "o"} for i in range(3)]
        + [{"system": "y", "prompt": f"q{i}", "output": "o"} for i in range(2)],
    )
    with pytest.raises(ValueError, match=r"x \(.*3 prompts\) and y \(.*2 prompts\) share 0 prompts"):
        open_comparison(outputs=[apart], out=tmp_path / "cmp")
    no_refs = write_jsonl(tmp_path / "n.jsonl", [{"system": s, "prompt": "p", "output": s} for s in "xy"])
    with pytest.raises(ValueError, match="--judge model or --judge human"):
        compare(outputs=[no_refs], out=tmp_path / "cmp2")


def test_resume_skips_pairs_already_judged(tmp_path: Path) -> None:
    outputs, out = graded_outputs(tmp_path / "o.jsonl"), tmp_path / "cmp"
    first = compare(outputs=[outputs], out=out, limit=10, resamples=20)
    assert len(first["judgments"]) == 10
    second = compare(outputs=[outputs], out=out, resamples=20)
    lines = (out / "judgments.jsonl").read_text().splitlines()
    assert len(lines) == len(second["judgments"]) == 36  # 12 prompts x 3 pairs, the first 10 not redone
    assert len({(j["prompt_id"], j["a"], j["b"]) for j in map(json.loads, lines)}) == 36


def test_cli_writes_compare_json_and_html(tmp_path: Path) -> None:
    out = tmp_path / "cmp"
    args = ["compare", "--outputs", str(graded_outputs(tmp_path / "o.jsonl")), "--out", str(out), "--resamples", "30"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "exact" in result.output and "compare.json" in result.output
    data = json.loads((out / "compare.json").read_text())
    assert data["kind"] == "compare" and {s["name"] for s in data["systems"]} == {"exact", "close", "off"}
    assert set(data["ratings"][0]) >= {"system", "strength", "elo", "ci_low", "ci_high", "wins", "losses", "ties"}
    assert set(data["judgments"][0]) == {"prompt_id", "a", "b", "winner", "judge", "shown_first"}
    html = (out / "compare.html").read_text()
    assert "id=win-rate" in html and "exact" in html and 'href="data:,"' in html
    missing = runner.invoke(app, ["compare", str(tmp_path / "nope"), "--out", str(out)])
    assert missing.exit_code == 1 and "nope: no such directory" in missing.output


# --- the model judge over HTTP ------------------------------------------------------------------------


def verdict_app(replies: list[str], failures: int = 0) -> FastAPI:
    """An OpenAI-compatible endpoint answering `replies` in turn, after `failures` HTTP 503s."""
    api = FastAPI()
    state = {"calls": 0, "prompts": []}
    api.state.seen = state

    @api.post("/v1/chat/completions")
    async def chat(request: Request) -> Any:
        from fastapi.responses import JSONResponse

        state["calls"] += 1
        if state["calls"] <= failures:
            return JSONResponse({"error": "busy"}, status_code=503)
        body = await request.json()
        state["prompts"].append(body["messages"][0]["content"])
        reply = replies[(state["calls"] - failures - 1) % len(replies)]
        return {"choices": [{"message": {"role": "assistant", "content": reply}}]}

    return api


def test_model_judge_maps_shown_order_counts_unparsed_and_retries(tmp_path: Path) -> None:
    outputs = graded_outputs(tmp_path / "o.jsonl", n=4)
    api = verdict_app(["A", "B.", "tie", "I cannot decide"], failures=1)
    with serve_app(api) as url:
        comparison = open_comparison(outputs=[outputs], out=tmp_path / "cmp")
        judge = make_judge("model", comparison.systems, judge_url=f"{url}/v1", judge_model="j", retries=3)
        result = run_judge(comparison, judge)
    log = JudgmentLog(tmp_path / "cmp" / "judgments.jsonl").read()
    assert len(log) == 12 and result["unparsed"] == {"model:j": 3}
    for row in log:
        raw = row["raw"]
        if raw == "tie":
            assert row["winner"] == "tie"
        elif raw in ("A", "B."):
            first = "a" if row["shown_first"] == row["a"] else "b"
            assert row["winner"] == (first if raw == "A" else {"a": "b", "b": "a"}[first])
        else:
            assert row["winner"] is None
    assert "Answer A:" in api.state.seen["prompts"][0] and len(result["judgments"]) == 9


def test_model_judge_errors_are_clear(tmp_path: Path) -> None:
    outputs = graded_outputs(tmp_path / "o.jsonl", n=2)
    comparison = open_comparison(outputs=[outputs], out=tmp_path / "cmp")
    with serve_app(verdict_app(["A"], failures=99)) as url:
        judge = ModelJudge(f"{url}/v1", "j", retries=2)
        with pytest.raises(RuntimeError, match=r"did not answer after 2 tries \(HTTP 503"):
            run_judge(comparison, judge)
    with pytest.raises(RuntimeError, match="did not answer after 1 tries"):
        run_judge(comparison, ModelJudge("http://127.0.0.1:9/v1", "j", retries=1, timeout=2))
    with pytest.raises(ValueError, match="--judge-url"):
        make_judge("model", comparison.systems)


# --- tiny generation runs ----------------------------------------------------------------------------


def instruct_run(root: Path, base: Path, data: Path, name: str, steps: int, baseline: bool = False) -> Path:
    """A tiny LoRA instruct run; every run shares the seed, so the same test split."""
    config = hone.load_config(
        {
            "task": "instruct",
            "name": name,
            "runs_dir": str(root / "runs"),
            "data": {"train": str(data), "max_length": 64},
            "model": {"name": str(base), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
            "train": {"max_steps": steps, "batch_size": 8, "lr": 2e-2, "precision": "fp32", "patience": None},
            "generate": {"max_new_tokens": 6},
            "baseline": {"methods": ["zero_shot"]},
        }
    )
    if baseline:
        hone.baseline(config)
    return hone.train(config, progress=False).path


@pytest.fixture(scope="module")
def chat_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("compare-runs")
    base = write_tiny_causal(root / "base")
    rows = [{"prompt": f"say {w} {i}", "completion": f"{w} {w}"} for i, w in enumerate(WORDS * 6)]
    data = write_jsonl(root / "chat.jsonl", rows)
    return {
        "base": base,
        "left": instruct_run(root, base, data, "left", steps=1, baseline=True),
        "right": instruct_run(root, base, data, "right", steps=3),
    }


def test_outputs_gathered_from_two_runs_and_a_baseline(chat_runs: dict[str, Path], tmp_path: Path) -> None:
    comparison = open_comparison([chat_runs["left"], chat_runs["right"]], out=tmp_path / "cmp")
    systems = comparison.systems
    assert systems.names == ["left", "left:zero_shot", "right"]
    stored = json.loads((chat_runs["left"] / "baseline.json").read_text())["baselines"]["zero_shot"]["predictions"]
    assert [o.output for o in systems.outputs["left:zero_shot"].values()] == stored
    n = len(stored)
    assert n > 0 and len(systems.prompt_ids()) == n and len(comparison.pairs) == 3 * n
    for o in systems.outputs["right"].values():
        word = o.prompt.split()[1]
        assert o.reference == f"{word} {word}" and o.prompt.startswith("say ")
    assert (tmp_path / "cmp" / "generated.jsonl").exists()  # a rerun reuses the generated answers
    again = open_comparison([chat_runs["left"], chat_runs["right"]], out=tmp_path / "cmp")
    assert again.systems.outputs["left"] == systems.outputs["left"]
    result = run_judge(again, make_judge("auto", again.systems))
    assert result["judges"] == ["reference"] and len(result["judgments"]) == 3 * n


def test_hone_serve_as_judge_counts_unparseable_verdicts(chat_runs: dict[str, Path], tmp_path: Path) -> None:
    from hone.serve.app import create_app
    from hone.serve.config import ServeConfig

    outputs = graded_outputs(tmp_path / "o.jsonl", n=3)
    server = create_app(ServeConfig(runs=[str(chat_runs["left"])], no_auth=True, worker="thread"), keys=None)
    with serve_app(server) as url:
        assert server.state.hone.loaded.wait(120)
        result = compare(
            outputs=[outputs], judge="model", out=tmp_path / "cmp", judge_url=f"{url}/v1", judge_model="left"
        )
    log = JudgmentLog(tmp_path / "cmp" / "judgments.jsonl").read()
    assert len(log) == 9  # every pair asked, an answer recorded for each
    unread = [r for r in log if r["winner"] is None]
    assert result["unparsed"].get("model:left", 0) == len(unread) > 0  # a random tiny model rarely says A/B/tie
    assert all(VERDICT.match(r["raw"]) is None for r in unread)
    assert len(result["judgments"]) == 9 - len(unread)


def test_cli_on_runs_writes_to_the_runs_dir(chat_runs: dict[str, Path]) -> None:
    result = runner.invoke(app, ["compare", str(chat_runs["left"]), str(chat_runs["right"]), "--resamples", "20"])
    assert result.exit_code == 0, result.output
    data = json.loads((chat_runs["left"].parent / "compare" / "compare.json").read_text())
    assert [s["name"] for s in data["systems"]] == ["left", "left:zero_shot", "right"]
    assert data["systems"][1]["source"].endswith("baseline.json") and data["rated_by"] == "reference"
    assert sum(r["wins"] + r["ties"] / 2 for r in data["ratings"]) == len(data["judgments"])


def test_a_run_without_text_answers_is_refused(config_dict: dict) -> None:
    from hone.api import prepare

    run = prepare({**config_dict, "task": "classify"}).run.path
    with pytest.raises(ValueError, match=r"a classify run answers with .*, not text"):
        open_comparison([run], out=run.parent / "compare")
