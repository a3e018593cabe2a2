"""Fan-out decoding of extraction on a tiny random causal LM: valid objects, parity with one `generate` per
field, batching, and decode forwards bounded by the longest value."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessorList

from hone.tasks import fanout, task_from_description
from hone.tasks.extract import Extraction, ExtractTask
from hone.tasks.json_decode import JsonProgram, read_object
from test_extract_task import COLOURS, RandomScores
from tiny import WORDS, write_tiny_causal

FIELDS = ["colour", "size", "count", "brand"]
TYPES = {"colour": "string", "size": "string", "count": "integer", "brand": "string"}
VALUES = {"colour": COLOURS, "size": None, "count": None, "brand": ["acme"]}


@pytest.fixture(autouse=True, scope="module")
def one_thread() -> object:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lm(tmp_path_factory: pytest.TempPathFactory) -> tuple[torch.nn.Module, object]:
    path = write_tiny_causal(tmp_path_factory.mktemp("tiny-causal"))
    return AutoModelForCausalLM.from_pretrained(str(path)).eval(), AutoTokenizer.from_pretrained(str(path))


def _task(**settings: object) -> ExtractTask:
    return ExtractTask(fields=FIELDS, types=TYPES, values=VALUES, instruction="extract:", **settings)


def _texts(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choices(WORDS, k=rng.randint(1, 30))) for _ in range(n)]


def _objects(tokenizer: object, results: list[dict]) -> list[dict | None]:
    texts = [tokenizer.decode(r["ids"], skip_special_tokens=True, clean_up_tokenization_spaces=False) for r in results]
    return [read_object(text, FIELDS) for text in texts]


@pytest.mark.parametrize("seed", [0, 1])
def test_any_scores_fan_out_to_an_object_of_exactly_the_fields(lm: tuple, seed: int) -> None:
    model, tokenizer = lm
    task = _task()
    program = JsonProgram(tokenizer, task.fields, task.values, max_value_tokens=12 if seed else 48)
    prompts = task.prompts(_texts(24, seed), tokenizer)
    results = fanout.decode(model, tokenizer, program, prompts, 64, 32, scores_hook=RandomScores(seed))
    objects = _objects(tokenizer, results)
    assert all(o is not None and list(o) == FIELDS for o in objects), objects
    assert all(o["colour"] in [*COLOURS, None] and o["brand"] in ("acme", None) for o in objects if o)
    assert len({json.dumps(o) for o in objects}) > 12  # the noise explored many paths
    assert all(r["chosen"] > 0 and r["logprob"] <= 0 for r in results)


def _naive_values(model: torch.nn.Module, program: JsonProgram, prompt: list[int]) -> list[list[int]]:
    """Each field alone: one greedy `generate` on the prompt + that field's fan-out key, same constraint."""
    values = []
    for f, (key, _) in enumerate(program.field_rows()):
        ids = torch.tensor([[*prompt, *key]])
        out = model.generate(
            input_ids=ids,
            attention_mask=torch.ones_like(ids),
            max_new_tokens=64 + 1,
            do_sample=False,
            eos_token_id=program.eos_id,
            pad_token_id=program.eos_id,
            logits_processor=LogitsProcessorList([fanout.ValueProcessor(program, [f], 64)]),
        )
        tokens = out[0, ids.shape[1] :].tolist()
        assert tokens[-1] == program.eos_id
        values.append(tokens[:-1])
    return values


@pytest.fixture(params=["shared", "shared-eager", "copied"])
def layout(request: pytest.FixtureRequest, lm: tuple, monkeypatch: pytest.MonkeyPatch) -> object:
    """How fan-out rows hold their document: one cache row per document and a 4D mask (sdpa or eager attention),
    or a copy of the document per field's row (attention that takes no 4D mask)."""
    model, _ = lm
    if request.param == "copied":
        monkeypatch.setattr(fanout.tree, "reads_4d_mask", lambda _model: False)
    before = model.config._attn_implementation
    if request.param == "shared-eager":
        model.set_attn_implementation("eager")
    yield request.param
    model.set_attn_implementation(before)


def test_each_value_equals_greedy_decoding_of_its_field_alone(lm: tuple, layout: str) -> None:
    model, tokenizer = lm
    task = _task(value_chars={"size": 3})
    program = JsonProgram(tokenizer, task.fields, task.values, value_chars=task.value_chars)
    for prompt in task.prompts(["colour red . size m .", "the order", "a b c " * 10], tokenizer):
        [result] = fanout.decode(model, tokenizer, program, [prompt], 64, 1)
        assert result["values"] == _naive_values(model, program, prompt)


def test_a_batch_of_documents_equals_one_by_one(lm: tuple, layout: str) -> None:
    model, tokenizer = lm
    task = _task()
    program = JsonProgram(tokenizer, task.fields, task.values)
    prompts = task.prompts(_texts(5, seed=3), tokenizer)
    assert len({len(p) for p in prompts}) > 1  # left padding in the prefill, holes in the mask
    batches = []
    hook = model.register_forward_pre_hook(
        lambda _m, _a, kw: batches.append(kw["input_ids"].shape[0]), with_kwargs=True
    )
    try:
        together = fanout.decode(model, tokenizer, program, prompts, 64, 5 * len(FIELDS))  # 5 documents, 20 rows
    finally:
        hook.remove()
    # shared: the document's states are never copied per field, so no forward has more rows than documents
    assert max(batches) == (5 if layout != "copied" else 5 * len(FIELDS))
    alone = [fanout.decode(model, tokenizer, program, [p], 64, 1)[0] for p in prompts]
    assert [r["ids"] for r in together] == [r["ids"] for r in alone]
    assert [r["logprob"] for r in together] == pytest.approx([r["logprob"] for r in alone], abs=1e-5)


def test_decode_forwards_follow_the_longest_value_not_the_sum(lm: tuple) -> None:
    model, tokenizer = lm
    task = _task()
    program = JsonProgram(tokenizer, task.fields, task.values, max_value_tokens=10)
    calls = []
    handle = model.register_forward_pre_hook(lambda module, args: calls.append(1))
    try:
        [result] = fanout.decode(model, tokenizer, program, task.prompts(["size m ."], tokenizer), 64, 1)
    finally:
        handle.remove()
    values = result["values"]
    assert sum(len(v) for v in values) > max(len(v) for v in values) + 4  # several fields wrote values
    # 1 prefill + 1 forward of the keys (its logits give every first value token) + 1 per later chosen token
    assert len(calls) <= 2 + max(len(v) for v in values) - 1, (len(calls), values)


def test_jump_forward_appends_forced_tokens_without_a_step(lm: tuple) -> None:
    """'brand' allows only "acme" or null: once the model picks the first token, the rest is forced."""
    model, tokenizer = lm
    program = JsonProgram(tokenizer, ["brand"], {"brand": ["acme"]})
    slot = fanout.value_slot(program, 0, 64)
    first = slot.allowed().nonzero().squeeze(1).tolist()
    slot.advance(first[0])
    run = slot.jump()
    assert slot.done and run  # the rest of the value and its delimiter, appended at once
    assert tokenizer.decode([first[0], *run]) in (' "acme"}', " null}")


def test_fanout_is_chosen_by_the_task_and_kept_in_its_description(lm: tuple) -> None:
    model, tokenizer = lm
    task = _task(decode="fanout", max_new_tokens=24)
    again = task_from_description(json.loads(json.dumps(task.describe())))
    assert again == task and again.decode == "fanout"
    old = {k: v for k, v in task.describe().items() if k != "decode"}  # a run saved before the setting
    assert task_from_description(old).decode == "object"
    predictions, confidence = task.predict(model, tokenizer, ["colour red", "a b c " * 20, "size xl ."], 2)
    assert all(isinstance(p, Extraction) and list(p) == FIELDS for p in predictions)
    assert confidence.shape == (3,) and all(0 < c <= 1 for c in confidence)


def test_the_serving_engine_fans_out_to_the_same_values(lm: tuple) -> None:
    """/v1/extract's fan-out (`CausalEngine.fan_out`): each document read once through the prefix cache, the keys
    in one forward, the values side by side; the objects equal `decode`'s, read cold or from the cache, one
    document at a time or several in one batch, and the forwards after the reads follow the longest value."""
    from hone.serve.cache import PrefixCache
    from hone.serve.engine import CausalEngine
    from hone.tasks.causal import eos_ids

    model, tokenizer = lm
    task = _task()
    program = JsonProgram(tokenizer, task.fields, task.values, max_value_tokens=12)
    engine = CausalEngine(model, eos_ids(model, tokenizer), PrefixCache(1 << 26))
    prompts = task.prompts(["colour red . size m .", "the order", "brand acme count 3 of them"], tokenizer)
    expected = fanout.decode(model, tokenizer, program, prompts, 16, 1)
    calls = []
    hook = model.register_forward_hook(
        lambda _m, args, kwargs, out: calls.append(kwargs["input_ids"].shape), with_kwargs=True
    )
    reads, prefill = [], engine._prefill
    engine._prefill = lambda g: reads.append(g.prompt) or prefill(g)
    try:
        cold, steps = engine.fan_out(program, prompts, 16, rows=len(FIELDS))  # a document per batch
    finally:
        hook.remove()
        del engine._prefill
    assert [r.ids for r in cold] == [e["ids"] for e in expected]
    assert [r.values for r in cold] == [e["values"] for e in expected]
    assert [r.cached_tokens for r in cold][0] == 0
    assert reads == prompts, "each document is read once, not once per field"
    assert len(calls) == len(prompts) + len(steps)  # the rest are the fields' forwards, all rows in each
    assert all(shape[0] == 1 for shape in calls)  # one cache row per document: its states are not copied per field
    assert all(rows <= len(FIELDS) for rows in steps)
    longest = [max(len(v) for v in e["values"]) for e in expected]
    assert len(steps) <= sum(longest) + len(prompts)  # the keys' forward, then at most one per value token

    warm, _ = engine.fan_out(program, prompts, 16, rows=3 * len(FIELDS))  # all three in one batch, from the cache
    assert [r.ids for r in warm] == [e["ids"] for e in expected]
    assert [r.cached_tokens for r in warm] == [len(p) - 1 for p in prompts]
    assert engine.active == 0  # the running batch is left alone


def test_a_fanout_run_serves_what_its_predictor_predicts(tmp_path: Path) -> None:
    """A run trained with generate.decode: fanout keeps it, and /v1/extract answers as `Run.predictor` does."""
    from starlette.testclient import TestClient

    import hone
    from hone.serve.app import create_app
    from hone.serve.config import ServeConfig

    base = write_tiny_causal(tmp_path / "base")
    rng = random.Random(1)
    rows = [
        {"text": f"colour {c} . " + " ".join(rng.choices(WORDS, k=3)), "fields": {"colour": c, "size": None}}
        for c in rng.choices(["red", "blue"], k=24)
    ]
    data = tmp_path / "attrs.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = {
        "task": "extract",
        "name": "attrs",
        "runs_dir": str(tmp_path / "runs"),
        "data": {"train": str(data), "max_length": 96, "instruction": "extract:", "fields": {"colour": {}, "size": {}}},
        "model": {"name": str(base), "method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}},
        "train": {"max_steps": 2, "batch_size": 8, "lr": 1e-2, "precision": "fp32", "patience": None, "threads": 1},
        "generate": {"max_new_tokens": 12, "decode": "fanout"},
    }
    run = hone.train(hone.load_config(config), progress=False)
    assert json.loads((run.path / "model" / "hone.json").read_text())["decode"] == "fanout"
    texts = ["colour red . cat", "nothing here"]
    expected, _ = hone.Run(run.path).predictor().predict(texts)
    app = create_app(ServeConfig(runs=[str(run.path)], worker="thread"), keys=["k"])
    with TestClient(app, headers={"Authorization": "Bearer k"}, raise_server_exceptions=False) as client:
        assert client.app.state.hone.loaded.wait(120)
        r = client.post("/v1/extract", json={"model": "attrs", "input": texts})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert [d["object"] for d in data] == [dict(e) for e in expected]
    assert all(d["valid"] and d["finish_reason"] == "stop" for d in data), data
    usage = r.json()["usage"]
    assert usage["rows"] == len(texts) * 2  # one row per (document, field)
    assert usage["completion_tokens"] >= usage["rows"]  # at least each row's value or null
    with TestClient(app, headers={"Authorization": "Bearer k"}, raise_server_exceptions=False) as client:
        assert client.app.state.hone.loaded.wait(120)
        first = client.post("/v1/extract", json={"model": "attrs", "input": texts}).json()
        again = client.post("/v1/extract", json={"model": "attrs", "input": texts}).json()
    assert again["data"] == [
        {**d, "cached_tokens": again["data"][i]["cached_tokens"]} for i, d in enumerate(first["data"])
    ]
    # the second time each document comes from the prefix cache (all but its last token: the model reads that)
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert (
        cached
        == sum(d["cached_tokens"] for d in again["data"])
        > first["usage"]["prompt_tokens_details"]["cached_tokens"]
    )
    assert again["usage"]["prompt_tokens"] == usage["prompt_tokens"] > cached + len(texts)
    assert all(d["cached_tokens"] > 0 for d in again["data"])


def test_a_field_row_sees_the_opening_and_its_own_key_as_the_whole_text_tokenises(lm: tuple) -> None:
    _, tokenizer = lm
    program = JsonProgram(tokenizer, FIELDS, VALUES)
    keys = [key for key, _ in program.field_rows()]
    texts = ['{"colour":', '{ "size":', '{ "count":', '{ "brand":']
    assert [tokenizer.decode(key) for key in keys] == texts
    assert keys == [tuple(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in texts]
    assert [value.end for _, value in program.field_rows()] == [",", ",", ",", "}"]


def test_a_model_with_sliding_window_layers_gets_copies_not_a_shared_row(
    lm: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sliding-window layer's cache crops the document's states, so the block mask's columns would not line up."""
    model, tokenizer = lm
    program = JsonProgram(tokenizer, FIELDS, VALUES)
    assert fanout.Batch(model, program, 8, 0).shared
    layers = model.config.num_hidden_layers
    monkeypatch.setattr(model.config, "layer_types", ["sliding_attention", "full_attention"] * layers, raising=False)
    assert not fanout.Batch(model, program, 8, 0).shared
