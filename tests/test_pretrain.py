"""The pretrain task on tiny random models: text files, both objectives end to end, and the result as a base."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import hone
from hone.baseline.prompting import UntunedModel
from hone.data.problems import DataError, Problem
from hone.data.read import Record, read_rows
from hone.tasks.chat import IGNORE
from hone.tasks.pretrain import PretrainTask, TextDoc, detect_objective
from tiny import write_tiny_causal

# A domain whose sentences follow a few fixed frames: a tiny model learns them in a few dozen steps.
FRAMES = (
    "my {a} was late and the {b} is not here",
    "please help i want my {a} back",
    "the {a} page is slow and the {b} is broken",
    "where is my {a} ? the {b} was not {c}",
)
NOUNS = "order invoice refund card payment password login account email package".split()


def corpus(n: int, seed: int = 0) -> list[str]:
    """`n` documents of two or three sentences, one sentence per line."""
    rng = random.Random(seed)
    docs = []
    for _ in range(n):
        lines = [
            rng.choice(FRAMES).format(a=rng.choice(NOUNS), b=rng.choice(NOUNS), c=rng.choice(["fast", "great"]))
            for _ in range(rng.randint(2, 3))
        ]
        docs.append("\n".join(lines))
    return docs


def write_text(path: Path, docs: list[str]) -> Path:
    path.write_text("\n\n".join(docs) + "\n")
    return path


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


def pretrain_config(tmp_path: Path, model_dir: Path, data: Path, **overrides: dict) -> dict:
    cfg = {
        "task": "pretrain",
        "name": "domain",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 64, "split": {"test": 0.2, "dev": 0.1}},
        "model": {"name": str(model_dir), "method": "full"},
        "train": {"epochs": 3, "batch_size": 8, "lr": 1e-2, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 200, "batch_size": 16},
    }
    for section, values in overrides.items():
        cfg[section] = {**cfg[section], **values}
    return cfg


# --- reading text -----------------------------------------------------------------------------------


def test_text_file_is_one_document_per_block_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(
        b"\xef\xbb\xbf\nfirst block\nstill first\n\n  \t\nsecond\r\n\r\nthird \xff bad\nmore\n\n\n"
        b"fourth, no newline at the end"
    )
    items = list(read_rows(path))
    assert [(r.line, r.data) for r in items if isinstance(r, Record)] == [
        (2, {"text": "first block\nstill first"}),
        (6, {"text": "second"}),
        (12, {"text": "fourth, no newline at the end"}),
    ]
    [bad] = [p for p in items if isinstance(p, Problem)]
    assert (bad.line, bad.category) == (8, "encoding")
    (tmp_path / "notes.log").write_text("a\n\nb\n")
    assert [r.line for r in read_rows(tmp_path / "notes.log", "text")] == [1, 3]  # explicit format, any name
    assert [r.data for r in read_rows(write_text(tmp_path / "doc.md", ["# title", "body"]))] == [
        {"text": "# title"},
        {"text": "body"},
    ]


def test_bad_rows_are_errors_with_their_lines(tmp_path: Path, tiny_causal: Path) -> None:
    rows = [json.dumps({"text": doc}) for doc in corpus(12)]
    rows += [json.dumps({"body": "no text field"}), json.dumps({"text": "   "}), json.dumps({"text": 7})]
    data = tmp_path / "docs.jsonl"
    data.write_text("\n".join(rows) + "\n")
    result = hone.check(pretrain_config(tmp_path, tiny_causal, data))
    assert [(p.line, p.category) for p in result.errors()] == [
        (13, "missing_field"),
        (14, "empty_field"),
        (15, "wrong_type"),
    ]
    assert "data.text_field" in result.errors()[0].message
    with pytest.raises(DataError):
        result.raise_for_errors()
    assert any("no text is cut" in line for line in result.summary_lines())


# --- the task contract ------------------------------------------------------------------------------


def test_objective_follows_the_model_and_mlm_refuses_adapters(
    tmp_path: Path, tiny_causal: Path, tiny_encoder: Path
) -> None:
    assert detect_objective(str(tiny_causal)) == "clm"
    assert detect_objective(str(tiny_encoder)) == "mlm"
    data = write_text(tmp_path / "d.txt", corpus(20))
    with pytest.raises(ValueError, match="model.method lora is not supported with data.objective mlm"):
        hone.prepare(pretrain_config(tmp_path, tiny_encoder, data, model={"method": "lora"}))
    with pytest.raises(ValueError, match="prompt_tuning cannot be used for pretrain"):
        hone.prepare(pretrain_config(tmp_path, tiny_causal, data, model={"method": "prompt_tuning"}))


def test_mlm_masks_are_deterministic_and_never_hide_special_tokens(tiny_encoder: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder))
    docs = [TextDoc(text, "d.txt", i) for i, text in enumerate(corpus(30))]
    task = PretrainTask(objective="mlm", max_length=32, mlm_probability=0.15, seed=3)
    features = task.encode(docs, tokenizer)
    assert features == task.encode(docs, tokenizer)
    assert features != PretrainTask("mlm", 32, 0.15, seed=4).encode(docs, tokenizer)
    special = set(tokenizer.all_special_ids)
    originals = [t for doc in tokenizer([d.text for d in docs])["input_ids"] for t in doc]
    targets = total = 0
    for k, f in enumerate(features):
        block = originals[k * 32 : (k + 1) * 32]
        assert all(label in (IGNORE, token) for label, token in zip(f["labels"], block, strict=True))
        assert all(label == IGNORE and kept == token for label, kept, token in _at(special, f, block))
        targets += sum(label != IGNORE for label in f["labels"])
        total += sum(token not in special for token in block)
    assert 0.1 < targets / total < 0.2
    masked = sum(i == tokenizer.mask_token_id for f in features for i in f["input_ids"])
    assert 0.7 < masked / targets < 0.9  # 80% of targets become [MASK]
    assert len({len(f["input_ids"]) for f in features[:-1]}) == 1  # full blocks; only the last may be short


def _at(special: set[int], feature: dict, block: list[int]) -> list[tuple[int, int, int]]:
    return [
        (label, kept, token)
        for label, kept, token in zip(feature["labels"], feature["input_ids"], block, strict=True)
        if token in special
    ]


def test_scores_do_not_depend_on_batching(tiny_causal: Path, tiny_encoder: Path) -> None:
    from transformers import AutoTokenizer

    texts = corpus(5, seed=1) + [" ".join(corpus(12, seed=2))]  # the last spans several windows
    for model_dir, objective in ((tiny_causal, "clm"), (tiny_encoder, "mlm")):
        task = PretrainTask(objective=objective, max_length=32)
        tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
        model = task.build_model(str(model_dir))
        together, confidence = task.predict(model, tokenizer, texts, batch_size=4)
        alone = [task.predict(model, tokenizer, [t], batch_size=1)[0][0] for t in texts[::-1]][::-1]
        assert [n for _, n in together] == [n for _, n in alone]
        assert [s for s, _ in together] == pytest.approx([s for s, _ in alone], rel=1e-4)
        assert not confidence.any()
        assert together[-1][1] > 32  # several windows cover the long text
    # The encoder's checkpoint has no MLM head: the baseline's new one is seeded, so it is the same model every time.
    # Two task objects, so the second base is built anew rather than taken from load_base's cache.
    tasks = [PretrainTask("mlm", 32) for _ in range(2)]
    first, again = (UntunedModel(task, str(tiny_encoder), 8, seed=task.seed).predict(texts)[0] for task in tasks)
    assert first == again


# --- end to end -------------------------------------------------------------------------------------


def test_clm_pretrain_lowers_perplexity_and_is_a_base_for_instruct(tmp_path: Path, tiny_causal: Path) -> None:
    data = write_text(tmp_path / "domain.txt", corpus(80))
    cfg = hone.load_config(pretrain_config(tmp_path, tiny_causal, data))
    base = hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    before = base["baselines"]["base"]["metrics"]["perplexity"]
    after = result["metrics"]["perplexity"]
    assert after < 0.5 * before, (before, after)
    assert result["comparison"]["better"] and result["higher_is_better"] is False
    assert result["worst"][0]["loss"] >= result["worst"][-1]["loss"]
    model_dir = run.path / "model"
    assert (model_dir / "model.safetensors").is_file() and not (model_dir / "adapter_config.json").exists()

    chat = tmp_path / "chat.jsonl"
    chat.write_text(
        "".join(json.dumps({"prompt": f"where is my order {i}", "completion": "it is late"}) + "\n" for i in range(20))
    )
    follow = {
        "task": "instruct",
        "name": "chat",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(chat), "max_length": 64},
        "model": {"name": str(model_dir), "method": "lora"},
        "train": {"max_steps": 2, "batch_size": 4, "precision": "fp32"},
    }
    assert (hone.train(hone.load_config(follow), progress=False).path / "model" / "adapter_config.json").is_file()


def test_lora_pretrain_saves_merged_weights(tmp_path: Path, tiny_causal: Path) -> None:
    from safetensors.torch import load_file

    data = write_text(tmp_path / "domain.txt", corpus(40))
    overrides = {"model": {"method": "lora"}, "train": {"max_steps": 3, "lr": 1e-2}}
    run = hone.train(hone.load_config(pretrain_config(tmp_path, tiny_causal, data, **overrides)), progress=False)
    model_dir = run.path / "model"
    assert not (model_dir / "adapter_config.json").exists()
    tuned, original = load_file(str(model_dir / "model.safetensors")), load_file(str(tiny_causal / "model.safetensors"))
    assert set(tuned) == set(original)  # a plain model: no lora_A/lora_B or base_layer keys
    assert any(not (tuned[k] == original[k]).all() for k in original)
    loaded = hone.Run(run.path).predictor().loaded
    assert loaded.task.objective == "clm" and not hasattr(loaded.model, "peft_config")


def test_mlm_pretrain_lowers_perplexity_and_is_a_base_for_classify(
    tmp_path: Path, tiny_encoder: Path, config_dict: dict
) -> None:
    data = write_text(tmp_path / "domain.txt", corpus(80))
    cfg = hone.load_config(pretrain_config(tmp_path, tiny_encoder, data))
    base = hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    before = base["baselines"]["base"]["metrics"]["perplexity"]
    after = result["metrics"]["perplexity"]
    assert after < 0.5 * before, (before, after)
    assert json.loads((run.path / "model" / "hone.json").read_text())["objective"] == "mlm"

    config_dict["model"]["name"] = str(run.path / "model")
    config_dict["train"]["max_steps"] = 2
    classify = hone.train(hone.load_config(config_dict), progress=False)
    assert classify.predict(["invoice charge"])[0]["label"] in {"billing", "shipping", "account"}
