"""The instruct task on a tiny random Llama: data contract, template parity, packing, methods, end to end."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import hone
from hone.cli import app
from hone.tasks import causal
from hone.tasks.chat import IGNORE, Template, parity, prompt_ids, tokenize_segments
from tiny import write_tiny_causal

runner = CliRunner()
WORDS = "order invoice refund charge card payment password login account email".split()


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))


@pytest.fixture(scope="session")
def tokenizer(tiny_causal: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_causal))


def chat_rows(n: int, seed: int = 0) -> list[dict]:
    """Prompts whose answer is a fixed rewrite of the prompt: a tiny model learns it in a few dozen steps."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        word = rng.choice(WORDS)
        rows.append({"prompt": f"tell me about {word} {i}", "completion": f"the {word} is fine"})
    return rows


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def instruct_config(tmp_path: Path, tiny_causal: Path, data: Path, **overrides) -> dict:
    cfg = {
        "task": "instruct",
        "name": "chat",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 64},
        "model": {"name": str(tiny_causal), "method": "full"},
        "train": {"epochs": 20, "batch_size": 4, "lr": 3e-3, "patience": None, "precision": "fp32"},
        "generate": {"max_new_tokens": 10},
        "eval": {"bootstrap": 100, "batch_size": 16},
        "baseline": {"methods": ["zero_shot"]},
    }
    for key, value in overrides.items():
        section, _, name = key.partition("__")
        cfg[section] = {**cfg[section], name: value} if name else value
    return cfg


# --- data contract --------------------------------------------------------------------------------


def test_check_names_every_bad_conversation_with_its_line(tmp_path: Path, tiny_causal: Path) -> None:
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    rows = [good] * 12 + [
        {"messages": [{"role": "assistant", "content": "first"}, {"role": "user", "content": "then"}]},  # 13
        {"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]},  # 14
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "  "}]},  # 15
        {"messages": [{"role": "robot", "content": "q"}]},  # 16
        {"messages": "not a list"},  # 17
        {"prompt": "only a prompt"},  # 18
        {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}, {"role": "user"}]},  # 19
    ]
    data = write_jsonl(tmp_path / "chat.jsonl", rows)
    result = hone.check(instruct_config(tmp_path, tiny_causal, data))
    found = {(p.line, p.category, p.field) for p in result.errors()}
    assert found == {
        (13, "role_order", "messages"),
        (14, "role_order", "messages"),
        (15, "empty_field", "messages"),
        (16, "role_order", "messages"),
        (17, "wrong_type", "messages"),
        (18, "missing_field", "completion"),
        (19, "wrong_type", "messages"),
    }


def test_check_reports_token_lengths_and_answers_max_length_would_cut(tmp_path: Path, tiny_causal: Path) -> None:
    rows = chat_rows(20)
    rows[4] = {"prompt": "short", "completion": " ".join(["refund"] * 80)}  # line 5: answer longer than max_length
    data = write_jsonl(tmp_path / "chat.jsonl", rows)
    result = hone.check(instruct_config(tmp_path, tiny_causal, data))
    cut = [p for p in result.warnings() if p.category == "truncated"]
    assert [(p.line, p.source) for p in cut] == [(5, str(data))]
    tokens = result.stats["tokens"]
    assert tokens["answer_cut"] == 1 and tokens["answer_cut_lines"] == [f"{data}:5"]
    assert tokens["answer"]["max"] > 64 >= tokens["prompt"]["max"]
    assert any("answer tokens" in line for line in result.summary_lines())


# --- template parity --------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ["chat", "alpaca", "plain", "Q: {prompt}\nA:"])
def test_training_text_is_the_inference_prompt_plus_answer_and_eos(tokenizer, spec: str) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "where is my order"},
        {"role": "assistant", "content": "late package"},
    ]
    template = Template(spec)
    result = parity(messages, tokenizer, template)
    assert all(result.values()), result
    ids, labels, cut = tokenize_segments(template.segments(messages, tokenizer), tokenizer, 1000)
    trained = [i for i, label in zip(ids, labels, strict=True) if label != IGNORE]
    assert not cut
    assert tokenizer.decode(trained) == "late package" + tokenizer.eos_token
    assert ids[: len(ids) - len(trained)] == prompt_ids(messages[:-1], tokenizer, template, 1000)


def test_every_assistant_turn_of_a_conversation_is_trained(tokenizer) -> None:
    messages = [
        {"role": "user", "content": "where is my order"},
        {"role": "assistant", "content": "late package"},
        {"role": "user", "content": "and the invoice"},
        {"role": "assistant", "content": "refund sent"},
    ]
    ids, labels, _ = tokenize_segments(Template("chat").segments(messages, tokenizer), tokenizer, 1000)
    trained = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != IGNORE])
    assert trained == f"late package{tokenizer.eos_token}refund sent{tokenizer.eos_token}"
    assert all(parity(messages, tokenizer, Template("chat")).values())


def test_long_prompts_are_cut_from_the_left_and_the_answer_kept(tokenizer) -> None:
    messages = [{"role": "user", "content": "help " * 100}, {"role": "assistant", "content": "reset password"}]
    ids, labels, cut = tokenize_segments(Template("chat").segments(messages, tokenizer), tokenizer, 32)
    assert len(ids) == 32 and not cut
    assert tokenizer.decode([i for i, x in zip(ids, labels, strict=True) if x != IGNORE]).startswith("reset password")


def test_a_template_without_prompt_placeholder_is_refused(tokenizer) -> None:
    with pytest.raises(ValueError, match=r"\{prompt\}"):
        Template("### no placeholder").check(tokenizer)


# --- packing -------------------------------------------------------------------------------------------


def test_packed_examples_do_not_attend_to_each_other(tiny_causal: Path) -> None:
    model = causal.build_causal_lm(str(tiny_causal)).eval()
    rng = random.Random(1)
    features = []
    for n in (7, 12, 5, 9):
        ids = [rng.randrange(10, 500) for _ in range(n)]
        features.append({"input_ids": ids, "labels": ids})
    rows = causal.pack(features, 40)
    assert len(rows) == 1 and len(rows[0]["input_ids"]) == 33
    packed = causal.collate_lm(rows, 0)
    assert "attention_mask" not in packed
    with torch.no_grad():
        packed_logits = causal.forward_logits(model, packed)[0]
        start = 0
        for f in sorted(features, key=lambda f: -len(f["input_ids"])):  # the packing order
            alone = model(input_ids=torch.tensor([f["input_ids"]])).logits[0]
            n = len(f["input_ids"])
            torch.testing.assert_close(packed_logits[start : start + n], alone, atol=1e-5, rtol=1e-4)
            start += n


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_loss_on_answer_positions_only_equals_the_loss_over_every_logit(tiny_causal: Path, packed: bool) -> None:
    """lm_loss asks the model for logits at answer positions only; loss and gradients must not change."""
    from hone.config.schema import LoraConfig
    from hone.models.adapt import adapt

    torch.manual_seed(3)
    model = adapt(causal.build_causal_lm(str(tiny_causal)), "lora", LoraConfig(r=4, dropout=0.0), (), "CAUSAL_LM")
    features = []
    for n, prompt in ((9, 4), (14, 10), (6, 2)):
        ids = torch.randint(10, 500, (n,)).tolist()
        features.append({"input_ids": ids, "labels": [IGNORE] * prompt + ids[prompt:]})
    batch = causal.collate_lm(causal.pack(features, 40) if packed else features, 0)
    assert causal.keeps_logits(model)

    def every_logit() -> torch.Tensor:
        logits, target = causal.forward_logits(model, batch)[:, :-1], batch["labels"][:, 1:]
        return torch.nn.functional.cross_entropy(logits[target != IGNORE], target[target != IGNORE])

    losses, grads = [], []
    for loss_of in (lambda: causal.lm_loss(model, batch), every_logit):
        model.zero_grad()
        loss = loss_of()
        loss.backward()
        losses.append(loss.detach())
        grads.append([p.grad.clone() for p in model.parameters() if p.requires_grad])
    torch.testing.assert_close(losses[0], losses[1])
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # per-token log-probs (held-out loss, preference training) take the same path
        logprobs, mask = causal.token_logprobs(model, batch)
        logits, target = causal.forward_logits(model, batch)[:, :-1], batch["labels"][:, 1:]
        expected = torch.log_softmax(logits, -1).gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    assert torch.equal(mask, target != IGNORE)
    torch.testing.assert_close(logprobs[mask], expected[mask])
    assert not logprobs[~mask].any()


def test_loss_with_no_answer_token_is_zero_and_differentiable(tiny_causal: Path) -> None:
    model = causal.build_causal_lm(str(tiny_causal))
    batch = causal.collate_lm([{"input_ids": [11, 12, 13], "labels": [IGNORE] * 3}], 0)
    loss = causal.lm_loss(model, batch)
    loss.backward()
    assert float(loss) == 0.0


def test_packing_cuts_padding(tmp_path: Path, tiny_causal: Path, tokenizer) -> None:
    from hone.tasks.instruct import InstructTask

    rows = write_jsonl(tmp_path / "chat.jsonl", chat_rows(40))
    cfg = hone.load_config(instruct_config(tmp_path, tiny_causal, rows))
    examples = hone.check(cfg).splits["train"]
    packed = InstructTask(max_length=64, packing=True).encode(examples, tokenizer)
    plain = InstructTask(max_length=64, packing=False).encode(examples, tokenizer)
    assert len(packed) < len(plain) / 1.5
    assert sum(len(f["input_ids"]) for f in packed) == sum(len(f["input_ids"]) for f in plain)
    assert all(len(f["input_ids"]) <= 64 for f in packed)


# --- end to end ----------------------------------------------------------------------------------------------


def test_instruct_run_learns_beats_zero_shot_and_stops_at_eos(tmp_path: Path, tiny_causal: Path) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", chat_rows(120))
    cfg = instruct_config(tmp_path, tiny_causal, data)
    base = hone.baseline(cfg)
    run = hone.train(cfg, progress=False)
    result = hone.evaluate(run)
    assert result["metrics"]["rouge_l"] > base["baselines"]["zero_shot"]["metrics"]["rouge_l"] + 0.3
    assert result["comparison"]["better"]
    assert set(result["error_categories"]) == {"too_verbose", "repetitive", "empty", "too_short"}
    check = hone.check_run(run)
    assert check["template_parity"]["ok"] and check["template_parity"]["checked"] > 0
    assert check["stopping"]["stopped"] == check["stopping"]["checked"], "answers must end with EOS"
    [answer] = run.predict(["tell me about refund 7"])
    assert answer["answer"].startswith("the ") and answer["answer"].endswith(" is fine")
    cli = runner.invoke(app, ["check", str(run.path)])
    assert cli.exit_code == 0, cli.output
    assert "template parity" in cli.output
    dev = [json.loads(line) for line in (run.path / "metrics.jsonl").read_text().splitlines()]
    assert any("dev" in line and "perplexity" in line["dev"] for line in dev), "checkpoints are selected on dev loss"


@pytest.mark.parametrize("method", ["lora", "dora", "prompt_tuning", "prefix_tuning"])
def test_every_peft_method_trains_saves_and_reloads(tmp_path: Path, tiny_causal: Path, method: str) -> None:
    data = write_jsonl(tmp_path / "chat.jsonl", chat_rows(40))
    cfg = instruct_config(
        tmp_path, tiny_causal, data, model__method=method, train__max_steps=2, train__epochs=1, name=method
    )
    run = hone.train(cfg, progress=False)
    adapter = json.loads((run.path / "model" / "adapter_config.json").read_text())
    assert adapter["peft_type"] == {"lora": "LORA", "dora": "LORA", "prompt_tuning": "PROMPT_TUNING"}.get(
        method, "PREFIX_TUNING"
    )
    assert adapter.get("use_dora", False) == (method == "dora")
    first = run.predict(["tell me about card 3"])
    again = hone.Run(run.path).predict(["tell me about card 3"])
    assert first == again


def test_qlora_on_cpu_says_what_to_do(tmp_path: Path, tiny_causal: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    data = write_jsonl(tmp_path / "chat.jsonl", chat_rows(30))
    with pytest.raises(RuntimeError, match="needs a CUDA GPU.*Use model.method lora"):
        hone.train(instruct_config(tmp_path, tiny_causal, data, model__method="qlora"), progress=False)
