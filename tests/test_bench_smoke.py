"""Every benchmark runs in smoke mode (tiny random model, one repeat) and writes complete, sane JSON."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # bench/ sits beside src/, outside the installed package

import bench  # noqa: E402
from bench.common import finite_positive  # noqa: E402


@pytest.fixture(scope="module")
def smoke_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[dict[str, Any], Path]]:
    """Each benchmark's smoke run, once for the module (they share a few seconds of model building)."""
    out = tmp_path_factory.mktemp("bench")
    return {name: bench.run(name, smoke=True, out_dir=out) for name in sorted(bench.BENCHMARKS)}


@pytest.mark.parametrize("name", sorted(bench.BENCHMARKS))
def test_benchmark_smoke(name: str, smoke_runs: dict[str, tuple[dict[str, Any], Path]]) -> None:
    data, path = smoke_runs[name]
    assert path.name == f"{name}.smoke.json"
    saved = json.loads(path.read_text())
    assert saved == json.loads(json.dumps(data))
    assert {"name", "workload", "hone", "comparison", "ratio", "repeats"} <= set(saved)
    assert saved["name"] == name and saved["smoke"] is True and saved["repeats"] == 1
    assert saved["workload"]["model"]["parameters"] > 0
    for figure in [saved["hone"], saved["comparison"], *saved["figures"]]:
        assert finite_positive(figure["value"]), figure
        assert all(finite_positive(s) for s in figure["samples"] + figure["seconds"]), figure
        assert finite_positive(figure.get("ratio", saved["ratio"])), figure
    assert finite_positive(saved["ratio"])
    assert saved["hone"]["side"] == "hone" and saved["comparison"]["side"] == "comparison"


def test_extract_prefix_checks_the_cache(smoke_runs: dict[str, tuple[dict[str, Any], Path]]) -> None:
    data, _ = smoke_runs["extract-prefix"]
    cached = data["checks"]["cached_tokens"]
    assert data["checks"]["identical_outputs"] is True
    assert cached["no_cache"] == 0 < cached["warm_subset"] < cached["warm_repeat"]
    cache_arms = {f["key"]: f["notes"] for f in data["figures"] if f["side"] == "hone" and f["key"] != "fanout"}
    assert {key: notes["cached_tokens"] for key, notes in cache_arms.items()} == {
        "hone": 0,
        "hone-warm-subset": cached["warm_subset"],
        "hone-warm-repeat": cached["warm_repeat"],
    }
    fanout = data["checks"]["fanout"]
    assert fanout["valid_json"] is True and fanout["fields"] > 0
    assert 0 <= fanout["fields_equal_to_whole_object"] <= fanout["fields"]


def test_extract_corpus_served_every_document_with_fan_out_reading_each_once(
    smoke_runs: dict[str, tuple[dict[str, Any], Path]],
) -> None:
    data, _ = smoke_runs["extract-corpus"]
    notes = {f["key"]: f["notes"] for f in data["figures"]}
    fields = data["workload"]["fields"]
    for key in ("fanout", "object"):
        assert notes[key]["documents"] == notes[key]["valid_json"] == data["workload"]["documents_per_run"]
        assert notes[key]["decode_steps_per_document"] > 0
    assert notes["fanout"]["rows_per_document"] == fields and notes["object"]["rows_per_document"] == 1
    # the document is read once: fan-out's prompt tokens are one prompt and the fields' keys per document, not
    # one prompt per field
    per = {key: notes[key]["prompt_tokens"] / notes[key]["documents"] for key in ("fanout", "object")}
    assert per["object"] < per["fanout"] < 2 * per["object"] < fields * per["object"]
    assert notes["naive"]["prefills"] == fields * notes["naive"]["documents"]
    assert set(data["checks"]["fields_right"]) == {"fanout", "object"}


def test_full_runs_need_three_repeats_and_names_must_exist() -> None:
    with pytest.raises(ValueError, match="at least 3"):
        bench.run("serve-multi-lora", repeats=2)
    with pytest.raises(KeyError, match=r"known: .*extract-prefix"):
        bench.run("nope", smoke=True)


def test_serve_batch_served_every_request_on_both_sides(smoke_runs: dict[str, tuple[dict[str, Any], Path]]) -> None:
    data, _ = smoke_runs["serve-batch"]
    served = data["checks"]["served"]
    assert served["hone"] == served["comparison"] and 0 < served["hone"]["ok"] == served["hone"]["requests"]
    # the server a case does not measure sat idle through it (a busy one would have shared the CPU)
    assert data["checks"]["idle_server_cpu_s_max"] < 0.5
    figures = {f["key"]: f for f in data["figures"]}
    assert set(data["checks"]["p50_ms"]) == {k for k in figures if not k.endswith("-rps")}
    for key, figure in figures.items():
        twin = figures[("off-" if figure["side"] == "hone" else "hone-") + key.split("-", 1)[1]]
        assert twin["unit"] == figure["unit"] and figure["ratio"] == twin["ratio"]  # each pair has one ratio
        if "chat" in key:
            assert figure["notes"]["tokens"] > 0
