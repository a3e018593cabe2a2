"""Config: typed tree, key-naming errors, overrides, the commented template, shipped examples."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hone.config import ConfigError, config_template, dump_config, load_config

ROOT = Path(__file__).resolve().parents[1]


def test_defaults_fill_every_section(tmp_path: Path) -> None:
    cfg = load_config({"data": {"train": "d.jsonl"}}, base_dir=tmp_path)
    assert cfg.task == "classify"
    assert cfg.data.train == (tmp_path / "d.jsonl").resolve()
    assert cfg.model.method == "full" and cfg.train.lr == 5e-5 and cfg.data.split.test == 0.2


def test_misspelt_key_names_the_closest_valid_one() -> None:
    with pytest.raises(ConfigError) as err:
        load_config({"data": {"train": "x", "lables": ["a"]}, "trian": {"lr": 1}})
    text = str(err.value)
    assert "data.lables: unknown key; did you mean 'data.labels'?" in text
    assert "trian: unknown key; did you mean 'train'?" in text


def test_wrong_value_names_key_and_input() -> None:
    with pytest.raises(ConfigError, match=r"train\.lr: Input should be greater than 0 \(got -1\)"):
        load_config({"data": {"train": "x"}, "train": {"lr": -1}})
    with pytest.raises(ConfigError, match=r"data: required; add it"):
        load_config({"task": "classify"})
    with pytest.raises(ConfigError, match="task 'nope' is not known"):
        load_config({"task": "nope"})


def test_set_overrides_parse_yaml_values(tmp_path: Path) -> None:
    cfg = load_config(
        {"data": {"train": "x"}}, ["train.lr=3e-5", "model.method=lora", "data.labels=[a, b]", "train.max_steps=7"]
    )
    assert cfg.train.lr == pytest.approx(3e-5)
    assert cfg.model.method == "lora" and cfg.data.labels == ["a", "b"] and cfg.train.max_steps == 7
    with pytest.raises(ConfigError, match="expected KEY=VALUE"):
        load_config({"data": {"train": "x"}}, ["train.lr"])
    with pytest.raises(ConfigError, match="unknown key; did you mean 'train.epochs'"):
        load_config({"data": {"train": "x"}}, ["train.epoch=3"])


def test_duplicate_declared_labels_rejected() -> None:
    with pytest.raises(ConfigError, match=r"\['a'\] more than once"):
        load_config({"data": {"train": "x", "labels": ["a", "b", "a"]}})


def test_template_is_valid_commented_and_complete() -> None:
    text = config_template("classify")
    raw = yaml.safe_load(text)
    cfg = load_config(raw)
    assert cfg.task == "classify"
    comments = [line for line in text.splitlines() if line.strip().startswith("#")]
    keys = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert len(comments) >= len(keys) - 2  # every key is described
    assert "# Peak learning rate" in text and "lr: 5e-05" in text


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = load_config({"data": {"train": "x"}, "train": {"epochs": 2}}, base_dir=tmp_path)
    again = load_config(yaml.safe_load(dump_config(cfg)))
    assert again == cfg


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*/hone.yaml")), ids=lambda p: p.parent.name)
def test_shipped_examples_validate(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.train.is_file(), f"{path}: data file {cfg.data.train} is missing"
