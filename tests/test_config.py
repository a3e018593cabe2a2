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
    assert "# Peak learning rate" in text and "lr: null  # empty: 5e-05 for method full" in text


def test_dump_round_trips(tmp_path: Path) -> None:
    cfg = load_config({"data": {"train": "x"}, "train": {"epochs": 2}}, base_dir=tmp_path)
    again = load_config(yaml.safe_load(dump_config(cfg)))
    assert again.model_dump() == cfg.model_dump()  # the same settings (the learning rates are now given, not chosen)


@pytest.mark.parametrize("path", sorted(ROOT.glob("examples/*/hone.yaml")), ids=lambda p: p.parent.name)
def test_shipped_examples_validate(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.data.train.is_file(), f"{path}: data file {cfg.data.train} is missing"


# --- learning rates chosen by method ------------------------------------------------------------

CHAT = {"data": {"train": "x"}}


@pytest.mark.parametrize(
    ("task", "method", "lr", "head_lr"),
    [
        ("classify", "full", 5e-5, 1e-3),  # a new head at 20x the body: at 5e-5 it barely moved in an epoch
        ("ner", "full", 5e-5, 1e-3),
        ("rerank", "full", 5e-5, 1e-3),
        ("classify", "freeze", 5e-5, 1e-3),
        ("classify", "lora", 5e-4, 1e-2),
        ("instruct", "lora", 5e-4, 1e-2),  # the bundled chat model's default: what examples/*/hone.yaml use
        ("extract", "dora", 5e-4, 1e-2),
        ("preference", "lora", 5e-4, 1e-2),
        ("instruct", "qlora", 2e-4, 4e-3),
        ("instruct", "prompt_tuning", 3e-2, 0.6),
        ("instruct", "full", 2e-5, 1e-3),
        ("pretrain", "full", 5e-5, 1e-3),
        ("pretrain", "lora", 5e-4, 1e-2),
    ],
)
def test_empty_learning_rates_are_chosen_by_method(task: str, method: str, lr: float, head_lr: float) -> None:
    cfg = load_config({"task": task, **CHAT, "model": {"method": method}})
    assert (cfg.train.lr, cfg.train.head_lr) == pytest.approx((lr, head_lr))
    chosen = cfg.defaults_chosen
    assert set(chosen) == {"train.lr", "train.head_lr"} and chosen["train.lr"].startswith(f"{lr:g}, ")
    assert method in chosen["train.lr"]


def test_the_bundled_chat_models_default_method_gets_the_lora_rate() -> None:
    for task in ("instruct", "extract", "preference"):
        cfg = load_config({"task": task, **CHAT})
        assert cfg.model.method == "lora" and cfg.train.lr == 5e-4
    assert load_config({"task": "pretrain", **CHAT}).train.lr == 5e-5  # pretrain tunes every weight by default


def test_given_learning_rates_are_kept() -> None:
    cfg = load_config({**CHAT, "train": {"lr": 3e-5}})
    assert (cfg.train.lr, cfg.train.head_lr) == pytest.approx((3e-5, 1e-3)) and set(cfg.defaults_chosen) == {
        "train.head_lr"
    }
    high = load_config({**CHAT, "train": {"lr": 3e-3}})
    assert high.train.head_lr == 3e-3  # never slower than the body
    both = load_config({**CHAT, "model": {"method": "lora"}, "train": {"lr": 1e-4, "head_lr": 2e-4}})
    assert (both.train.lr, both.train.head_lr) == (1e-4, 2e-4) and both.defaults_chosen == {}


def test_an_override_of_the_method_chooses_the_rates_again() -> None:
    from hone.pipeline import config_of

    full = load_config(CHAT)
    lora = config_of(full, ["model.method=lora"])
    assert (lora.train.lr, lora.train.head_lr) == pytest.approx((5e-4, 1e-2))
    given = config_of(load_config({**CHAT, "train": {"lr": 3e-5}}), ["model.method=lora"])
    assert given.train.lr == 3e-5 and given.train.head_lr == pytest.approx(6e-4)


def test_the_resolved_config_records_the_chosen_rates_and_why() -> None:
    text = dump_config(load_config({"task": "instruct", **CHAT}))
    assert text.startswith("# Left empty in the config, so chosen for this run:\n# train.lr: 0.0005, the default for")
    again = load_config(yaml.safe_load(text))
    assert (again.train.lr, again.train.head_lr) == (5e-4, 1e-2) and again.defaults_chosen == {}


def test_the_head_param_group_gets_head_lr() -> None:
    from torch import nn

    from hone.models.adapt import param_groups

    model = nn.ModuleDict({"body": nn.Linear(4, 4), "classifier": nn.Linear(4, 2)})
    cfg = load_config(CHAT)
    groups = param_groups(model, cfg.train, ("classifier",))
    rates = {id(p): g["lr"] for g in groups for p in g["params"]}
    assert rates[id(model["classifier"].weight)] == 1e-3 and rates[id(model["body"].weight)] == 5e-5


def test_init_writes_each_tasks_own_defaults_and_leaves_the_rates_empty() -> None:
    from hone.config.schema import TASK_CONFIGS

    raw = yaml.safe_load(config_template("instruct"))
    assert raw["train"]["batch_size"] == 8 and raw["train"]["lr"] is None and raw["train"]["head_lr"] is None
    for task in TASK_CONFIGS:  # what `hone init` writes is what the task defaults to
        raw = yaml.safe_load(config_template(task))
        written = load_config({**raw, "data": {**raw["data"], "train": "x"}})
        default = load_config({"task": task, "data": {"train": "x"}})
        assert written.model_dump(exclude={"data"}) == default.model_dump(exclude={"data"}), task


def test_a_resumed_run_keeps_the_record_of_the_chosen_rates(tmp_path: Path, tiny_encoder: Path) -> None:
    import json

    from conftest import make_rows
    from hone.pipeline import config_of, prepare

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in make_rows(40)))
    cfg = load_config({"data": {"train": str(data)}, "model": {"name": str(tiny_encoder)}, "runs_dir": str(tmp_path)})
    first = prepare(cfg).run.config.read_text()
    assert first.startswith("# Left empty in the config, so chosen for this run:\n# train.lr: 5e-05, the default")
    again = prepare(config_of(tmp_path / "run"), resume=True).run.config.read_text()
    assert again == first
