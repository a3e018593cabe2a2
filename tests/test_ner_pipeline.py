"""NER through the whole pipeline on a tiny random encoder: check, baseline, train, eval, report."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import hone
from hone.cli import app

CITIES = ["paris", "london", "lima", "oslo", "rome", "cairo", "delhi", "quito", "bern", "kyiv"]
PEOPLE = ["anna", "maria", "tom", "ivan", "sara"]
VERBS = ["flew to", "moved to", "lives in", "works in", "left"]


def _doc(rng: random.Random) -> dict:
    """Sentences like 'anna flew to paris' with LOC and PER spans at exact character offsets."""
    text, spans = "", []
    for _ in range(rng.randint(1, 6)):  # long enough that windows start mid-sentence
        person, verb, city = rng.choice(PEOPLE), rng.choice(VERBS), rng.choice(CITIES)
        start = len(text)
        spans.append({"start": start, "end": start + len(person), "label": "PER"})
        text += f"{person} {verb} "
        spans.append({"start": len(text), "end": len(text) + len(city), "label": "LOC"})
        text += f"{city} . "
    return {"text": text.strip(), "spans": spans}


@pytest.fixture
def ner_config(tmp_path: Path, tiny_encoder: Path) -> dict:
    rng = random.Random(3)
    data = tmp_path / "ner.jsonl"
    data.write_text("".join(json.dumps(_doc(rng)) + "\n" for _ in range(160)))
    return {
        "task": "ner",
        "name": "ner",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 24, "stride": 6},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"epochs": 6, "batch_size": 8, "lr": 5e-3, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 100},
    }


def test_ner_end_to_end(ner_config: dict, tmp_path: Path) -> None:
    cfg = hone.load_config(ner_config)
    result = hone.check(cfg)
    assert not result.errors() and result.stats["splits"]["test"] > 0
    base = hone.baseline(cfg)
    assert set(base["baselines"]) == {"gazetteer"} and base["primary_metric"] == "f1"
    run = hone.train(cfg, progress=False)
    ev = hone.evaluate(run)
    assert set(ev["per_type"]) == {"LOC", "PER"} and "errors" in ev and "comparison" in ev
    assert ev["metrics"]["f1"] > 0.8, ev["metrics"]  # names and positions are easy to learn
    errors = ev["errors"]["LOC"]
    assert (
        errors["correct"] + errors["missed"] + errors["wrong_type"] + errors["wrong_boundary"]
        == ev["per_type"]["LOC"]["support"]
    )
    html = Path(hone.report(run)).read_text()
    assert "Errors by kind" in html and ev["verdict"] in html
    spans = hone.Run(run.path).predictor().predict(["maria moved to oslo ."])[0][0]
    assert {(0, 5, "PER"), (15, 19, "LOC")} <= {(s.start, s.end, s.label) for s in spans}  # character offsets


def _long_text() -> tuple[str, list[tuple[int, int]]]:
    text = " ".join(f"{p} flew to {c} ." for p, c in zip(PEOPLE * 4, CITIES * 2, strict=True))
    expected, cursor = [], 0
    for city in CITIES * 2:
        start = text.index(f" {city} .", cursor) + 1
        expected.append((start, start + len(city)))
        cursor = start
    return text, expected


def test_ner_long_document_gives_valid_character_spans(ner_config: dict) -> None:
    run = hone.train(hone.load_config(ner_config), progress=False)
    text, _ = _long_text()  # ~290 subwords: many 24-token windows
    spans = sorted(run.predictor().predict([text])[0][0], key=lambda s: s.start)
    assert spans and all(0 <= s.start < s.end <= len(text) and text[s.start : s.end].strip() for s in spans)
    assert not [a for a, b in zip(spans, spans[1:], strict=False) if a.end > b.start], (
        "overlapping spans from the window merge"
    )


@pytest.mark.slow
def test_ner_long_document_with_minilm_finds_every_entity_once(ner_config: dict) -> None:
    """The real encoder generalises across window positions; the tiny one does not, hence the slow tier."""
    ner_config["model"]["name"] = "minilm"
    ner_config["train"].update(epochs=8, lr=2e-4, precision="auto")
    run = hone.train(hone.load_config(ner_config), progress=False)
    text, expected = _long_text()
    spans = run.predictor().predict([text])[0][0]
    assert sorted((s.start, s.end) for s in spans if s.label == "LOC") == expected


def test_ner_check_reports_span_and_tag_problems(tmp_path: Path, ner_config: dict) -> None:
    data = Path(ner_config["data"]["train"])
    good = data.read_text()
    bad = [
        {"text": "anna flew to paris", "spans": [{"start": 13, "end": 40, "label": "LOC"}]},
        {
            "text": "anna flew to paris",
            "spans": [{"start": 0, "end": 9, "label": "PER"}, {"start": 5, "end": 18, "label": "LOC"}],
        },
        {"tokens": ["anna", "flew", "to", "paris"], "tags": ["O", "O", "O", "I-LOC"]},
    ]
    data.write_text(good + "".join(json.dumps(b) + "\n" for b in bad))
    config = tmp_path / "ner.yaml"
    config.write_text(yaml.safe_dump(ner_config))
    result = CliRunner().invoke(app, ["check", str(config)])
    assert result.exit_code == 1
    n = len(good.splitlines())
    out = result.output.replace("\n", "")
    for offset, category in [(1, "bad_span"), (2, "overlapping_spans"), (3, "broken_tags")]:
        assert f"{data}:{n + offset}: error {category}" in out


def test_init_ner_validates() -> None:
    text = CliRunner().invoke(app, ["init", "ner"]).output
    assert hone.load_config(yaml.safe_load(text)).task == "ner"


def test_conll_file_imports_directly(tmp_path: Path) -> None:
    rows = "".join(f"{p} B-PER\nflew O\nto O\n{c} B-LOC\n. O\n\n" for p, c in zip(PEOPLE * 4, CITIES * 2, strict=True))
    path = tmp_path / "train.conll"
    path.write_bytes(("-DOCSTART- -X- O\n\n" + rows).encode() + b"anna B-PER\n\xff O\n")
    result = hone.check({"task": "ner", "data": {"train": str(path)}})
    assert result.stats["rows_usable"] == 20
    bad_line = 2 + 6 * 20 + 2
    assert [(p.category, p.line) for p in result.errors()] == [("encoding", bad_line)]
    first = result.splits["train"][0] if result.splits["train"] else result.splits["test"][0]
    assert first.text.split()[1:3] == ["flew", "to"] and {s.label for s in first.spans} == {"PER", "LOC"}
