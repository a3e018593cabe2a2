"""Test examples whose text is also in train are left out of every score by default, and said so with the
score they would have given; `eval.leaked: keep` scores them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

import hone
from conftest import make_rows
from hone.evaluate.leakage import leaked_indices
from hone.tasks.schema_classify import TextExample


def _ex(text: str) -> TextExample:
    return TextExample(text=text, labels=("a",), source="t.jsonl", line=1)


def test_copies_of_training_texts_are_found_ignoring_case_spacing_and_punctuation() -> None:
    train = [_ex("Where is my order?"), _ex("reset my password")]
    test = [_ex("where is  my ORDER"), _ex("a new question"), _ex("Reset my password!"), _ex("reset my pass word")]
    assert leaked_indices(train, test) == [0, 2]


@pytest.fixture
def leaky(tmp_path: Path, config_dict: dict[str, Any]) -> Path:
    train = make_rows(150)
    copies = [{**r, "text": r["text"].upper() + " "} for r in train[:6]]
    test = make_rows(30, seed=7) + copies
    (tmp_path / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in test))
    config_dict["data"]["test"] = str(tmp_path / "test.jsonl")
    config_dict["train"].update(epochs=1, max_steps=3)
    (tmp_path / "hone.yaml").write_text(yaml.safe_dump(config_dict))
    return tmp_path / "hone.yaml"


def test_leaked_test_rows_are_left_out_of_the_model_and_the_baselines_scores(leaky: Path) -> None:
    n_test = 36
    base = hone.baseline(leaky)
    assert base["n"] == n_test and base["leaked"]["excluded"] == 6 and base["leaked"]["scored"] == 30
    for scores in base["baselines"].values():
        assert len(scores["predictions"]) == n_test and "with_leaked" in scores
    run = hone.train(leaky, progress=False)
    result = hone.evaluate(run)
    assert result["n"] == 30 and result["leaked"]["excluded"] == 6 and result["leaked"]["of"] == n_test
    assert "are also in train" in result["leaked"]["note"] and "comparison" in result
    assert result["primary_metric"] in result["leaked"]["with_leaked"]
    html = hone.report(run).read_text()
    assert "6 of 36 test example(s) are also in train" in html


def test_keep_scores_every_test_row(leaky: Path) -> None:
    cfg = hone.load_config(leaky, ["eval.leaked=keep", "name=kept"])
    base = hone.baseline(cfg)
    assert "leaked" not in base
    result = hone.evaluate(hone.train(cfg, progress=False))
    assert result["n"] == 36 and "leaked" not in result
