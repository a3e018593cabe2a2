"""Suspect labels: after `hone eval`, the training examples the model fits worst, with their file:line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import hone
from browser import assert_clean
from conftest import TOPICS, make_rows
from hone.evaluate.noise import suspect_labels
from hone.tasks.ner_schema import NerExample, Span
from tiny import write_tiny_causal

FLIPPED = 12  # planted wrong labels, every 10th row


def _noisy_dataset(path: Path, n: int = 150) -> tuple[Path, set[int]]:
    """make_rows with the label of every 10th row moved to the next topic; the planted lines (1-based)."""
    rows, planted, topics = make_rows(n), set(), list(TOPICS)
    for i in range(5, 10 * FLIPPED, 10):
        rows[i]["label"] = topics[(topics.index(rows[i]["label"]) + 1) % len(topics)]
        planted.add(i + 1)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path, planted


@pytest.fixture(scope="module")
def noisy_run(tmp_path_factory: pytest.TempPathFactory, tiny_encoder: Path) -> tuple[hone.Run, dict, set[int]]:
    root = tmp_path_factory.mktemp("noise")
    data, planted = _noisy_dataset(root / "data.jsonl")
    cfg = {
        "name": "noisy",
        "runs_dir": str(root / "runs"),
        "data": {"train": str(data), "max_length": 32},
        "model": {"name": str(tiny_encoder), "method": "full"},
        "train": {"epochs": 6, "batch_size": 8, "lr": 3e-3, "patience": None, "precision": "fp32"},
        "eval": {"bootstrap": 100},
        "baseline": {"methods": ["majority"]},
    }
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    train_lines = {ex.line for ex in hone.api.prepare(cfg).splits["train"]}
    return run, result, planted & train_lines


def test_planted_wrong_labels_dominate_the_suspects(noisy_run: tuple[hone.Run, dict, set[int]]) -> None:
    _, result, planted = noisy_run
    suspects = result["suspect_labels"]
    assert len(planted) >= 6, "the split should keep most planted rows in train"
    assert suspects["split"] == "train" and suspects["scored"] == suspects["of"] > 100
    for table in ("highest_loss", "confidently_wrong"):
        lines = {int(row["line"].rsplit(":", 1)[1]) for row in suspects[table]}
        assert len(suspects[table]) <= 10
        assert len(lines & planted) >= len(planted) / 2, (table, sorted(lines), sorted(planted))
    assert len(suspects["highest_loss"]) == 10
    losses = [row["loss"] for row in suspects["highest_loss"]]
    assert losses == sorted(losses, reverse=True)
    confidences = [row["confidence"] for row in suspects["confidently_wrong"]]
    assert confidences == sorted(confidences, reverse=True)
    assert all(row["predicted"] != row["label"] for row in suspects["confidently_wrong"])


def test_every_row_points_at_its_real_line(noisy_run: tuple[hone.Run, dict, set[int]]) -> None:
    _, result, _ = noisy_run
    suspects = result["suspect_labels"]
    for row in suspects["highest_loss"] + suspects["confidently_wrong"]:
        source, line = row["line"].rsplit(":", 1)
        record = json.loads(Path(source).read_text().splitlines()[int(line) - 1])
        assert record["text"] == row["text"] and record["label"] == row["label"]
        assert row["label_probability"] == pytest.approx(math.exp(-row["loss"]), abs=2e-3)
    on_disk = json.loads((noisy_run[0].path / "eval.json").read_text())
    assert on_disk["suspect_labels"] == suspects


def test_report_has_the_label_noise_section(noisy_run: tuple[hone.Run, dict, set[int]], page) -> None:
    run, result, _ = noisy_run
    path = hone.report(run)
    html = path.read_text()
    assert "Possible label noise" in html and "could not fit it" in html
    first = result["suspect_labels"]["highest_loss"][0]["line"]
    assert first in html  # the file:line a user opens to fix the row
    page.goto(path.as_uri())
    section = page.locator("section", has=page.locator("h2", has_text="Possible label noise"))
    assert section.locator("table").count() == 2
    assert section.locator("tbody tr").count() == len(result["suspect_labels"]["highest_loss"]) + len(
        result["suspect_labels"]["confidently_wrong"]
    )
    assert_clean(page)


def test_a_large_train_split_is_sampled_with_a_seed(noisy_run: tuple[hone.Run, dict, set[int]]) -> None:
    run, _, _ = noisy_run
    loaded = run.predictor().loaded
    train = hone.api.prepare(run.path / "config.yaml").splits["train"]
    a, b = (suspect_labels(loaded.task, loaded.model, loaded.tokenizer, train, 16, seed=3, cap=40) for _ in "ab")
    assert a["scored"] == 40 and a["of"] == len(train) and "sample" in a["note"]
    assert a["highest_loss"] == b["highest_loss"]


def test_instruct_run_gets_highest_loss_and_no_confidently_wrong(tmp_path: Path) -> None:
    base = write_tiny_causal(tmp_path / "causal")
    rows = [{"prompt": f"tell me about item {i}", "completion": f"item {i} is fine"} for i in range(30)]
    data = tmp_path / "chat.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = {
        "task": "instruct",
        "name": "chat",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 48},
        "model": {"name": str(base), "method": "full"},
        "train": {"epochs": 1, "max_steps": 3, "batch_size": 4, "lr": 1e-3, "patience": None, "precision": "fp32"},
        "generate": {"max_new_tokens": 4},
        "eval": {"bootstrap": 100, "batch_size": 16},
        "baseline": {"methods": ["zero_shot"]},
    }
    suspects = hone.evaluate(hone.train(cfg, progress=False))["suspect_labels"]
    assert suspects["confidently_wrong"] == [] and "no single predicted label" in suspects["note"]
    top = suspects["highest_loss"]
    assert 0 < len(top) <= 10 and all(row["loss"] > 0 and row["predicted"] is None for row in top)
    for row in top:
        source, line = row["line"].rsplit(":", 1)
        assert row["label"] == rows[int(line) - 1]["completion"] and Path(source) == data


def test_causal_losses_do_not_depend_on_batching(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    from hone.tasks.instruct import InstructTask, parse_chat

    base = write_tiny_causal(tmp_path / "causal")
    tokenizer = AutoTokenizer.from_pretrained(str(base))
    task = InstructTask(max_length=48)
    model = task.build_model(str(base))
    data = hone.load_config({"task": "instruct", "data": {"train": "x.jsonl"}}).data
    rows = [{"prompt": "hi " * (i + 1), "completion": "answer " * (3 - i % 3)} for i in range(5)]
    examples = [parse_chat(r, data, "x.jsonl", i + 1) for i, r in enumerate(rows)]
    together = [s.loss for s in task.example_losses(model, tokenizer, examples, 5)]
    alone = [task.example_losses(model, tokenizer, [ex], 1)[0].loss for ex in examples]
    assert together == pytest.approx(alone, rel=1e-4)
    assert len(set(round(x, 4) for x in together)) > 1


def test_tasks_without_a_loss_say_why() -> None:
    from hone.tasks.pretrain import PretrainTask

    out = suspect_labels(PretrainTask(), None, None, ["a document"], 8, seed=0)
    assert out["split"] == "train" and "no labels" in out["unavailable"]

    class Foreign:
        name = "custom"

    assert "custom" in suspect_labels(Foreign(), None, None, ["x"], 8, seed=0)["unavailable"]


def test_ner_scores_name_the_most_confidently_wrong_token(tiny_encoder: Path) -> None:
    from transformers import AutoTokenizer

    from hone.tasks.ner import NerTask

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_encoder))
    task = NerTask(types=["LOC"], max_length=16, stride=4)
    model = task.build_model(str(tiny_encoder))
    text = "we flew to paris and then to rome before going home again to london town"
    examples = [NerExample(text, (Span(11, 16, "LOC"),), "d.jsonl", 1), NerExample("home", (), "d.jsonl", 2)]
    scores = task.example_losses(model, tokenizer, examples, 4)
    assert len(scores) == 2 and all(s.loss > 0 for s in scores)
    first = scores[0]
    assert first.label == task.worst(examples[:1], [[]], [0.0], 1)[0]["gold"]
    if first.detail is not None:  # a random model gets some tag wrong; the detail names it with both tags
        assert "tagged" in first.detail and "model says" in first.detail
        assert first.confidence is not None and first.confidence >= first.label_probability
