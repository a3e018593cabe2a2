"""The serving core without HTTP: the batched engine against `generate`, the prefix cache, the scheduler."""

from __future__ import annotations

import contextlib
import itertools
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from hone.serve.cache import PrefixCache, kv_bytes
from hone.serve.engine import CausalEngine, Generation
from hone.serve.generation import Detokenizer
from hone.serve.scheduler import Overloaded, Scheduler
from tiny import write_tiny_causal
from waiting import wait_until

EOS = 2


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> torch.nn.Module:
    base = AutoModelForCausalLM.from_pretrained(str(write_tiny_causal(tmp_path_factory.mktemp("causal"))))
    torch.manual_seed(0)
    lora = LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)  # B != 0: adapters matter
    peft = get_peft_model(base, lora, adapter_name="a")
    peft.add_adapter("b", LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False))
    return peft.eval()


def reference(model: torch.nn.Module, prompt: list[int], adapter: str | None, n: int) -> list[int]:
    if adapter is None:
        context = model.disable_adapter()
    else:
        model.set_adapter(adapter)
        context = contextlib.nullcontext()
    with context, torch.inference_mode():
        out = model.generate(
            input_ids=torch.tensor([prompt]), max_new_tokens=n, do_sample=False, eos_token_id=[EOS], pad_token_id=EOS
        )
    tokens = out[0, len(prompt) :].tolist()
    return tokens[: tokens.index(EOS)] if EOS in tokens else tokens


PROMPTS = [
    [5, 6, 7, 8, 9, 10, 11, 12, 13],
    [20, 21, 22],
    [30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40],
    [5, 6, 7, 8, 9, 10, 11, 12, 99, 98],
]
ADAPTERS = ["a", "b", None, "a"]


def test_mixed_rows_joining_midway_match_generate_row_by_row(model: torch.nn.Module) -> None:
    engine = CausalEngine(model, [EOS], cache=PrefixCache(1 << 30, min_tokens=4), mixed=True)
    rows = [Generation(p, n, adapter=a) for p, a, n in zip(PROMPTS, ADAPTERS, [12, 5, 12, 9], strict=True)]
    engine.admit(rows[:2])
    engine.step()
    engine.step()
    engine.admit(rows[2:])  # join a running batch, with different lengths and adapters
    while engine.active:
        engine.step()
    for row, prompt, adapter in zip(rows, PROMPTS, ADAPTERS, strict=True):
        assert row.tokens == reference(model, prompt, adapter, row.max_tokens)
        assert row.finish_reason in ("length", "stop")
    assert rows[3].cached_tokens == 8, "the fourth prompt shares 8 tokens with the first, same adapter"
    assert engine.mask.shape == (0, 0) and engine.kv == []


def test_cancelled_rows_stop_within_one_step(model: torch.nn.Module) -> None:
    engine = CausalEngine(model, [EOS], mixed=True)
    seen: list[int] = []
    stopper = Generation(PROMPTS[0], 50, adapter="a", stop_ids=frozenset())
    stopper.on_token = lambda t: (seen.append(t), len(seen) == 3 and stopper.cancelled.set())
    other = Generation(PROMPTS[1], 50, adapter="b", stop_ids=frozenset())
    engine.admit([stopper, other])
    while stopper.finish_reason is None:
        engine.step()
    assert stopper.finish_reason == "cancelled" and len(stopper.tokens) == 3
    other.cancelled.set()
    produced = engine.step()
    assert produced == 0 and other.finish_reason == "cancelled" and engine.active == 0


def test_prefix_cache_reuses_the_longest_prefix_and_stays_within_its_bytes() -> None:
    def kv(n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(torch.full((1, 2, n, 4), float(n)), torch.full((1, 2, n, 4), float(n)))]

    one = kv_bytes(kv(10))
    cache = PrefixCache(max_bytes=3 * one, min_tokens=4)
    cache.store("a", list(range(10)), kv(10))
    n, states = cache.lookup("a", [*range(6), 99, 98])
    assert n == 6 and states is not None and states[0][0].shape[2] == 6
    assert cache.lookup("b", list(range(10))) == (0, None), "another adapter's states are never reused"
    assert cache.lookup("a", list(range(10)))[0] == 9, "one prompt token is always left to run"
    assert cache.lookup("a", [1, 2, 3])[0] == 0
    cache.store("a", list(range(12)), kv(10))  # extends the first entry: replaces it
    assert len(cache.entries) == 1
    for start in range(100, 500, 100):
        cache.store("a", list(range(start, start + 10)), kv(10))
    assert cache.bytes <= cache.max_bytes and len(cache.entries) == 3
    assert cache.lookup("a", list(range(100, 110)))[0] == 0, "the oldest entry was evicted"
    cache.drop_adapter("a")
    assert cache.bytes == 0 and not cache.entries


def test_detokenizer_holds_back_stop_prefixes_and_split_characters(tmp_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(str(write_tiny_causal(tmp_path / "t")))
    ids = tokenizer("red blue é green", add_special_tokens=False)["input_ids"]
    text = Detokenizer(tokenizer, [" gr"])
    pieces = [text.push(t) for t in ids]
    assert "".join(pieces) + text.flush() == "red blue é"
    assert all("\ufffd" not in p for p in pieces) and text.stopped


def test_scheduler_batches_calls_survives_a_failing_one_and_bounds_its_queue() -> None:
    sizes: list[int] = []

    def double(items: list[int]) -> list[int]:
        sizes.append(len(items))
        if -1 in items:
            raise ValueError("bad batch")
        return [2 * x for x in items]

    scheduler = Scheduler(max_queue=3, max_batch=8, batch_wait_s=0.05)
    futures = [scheduler.call(("m", "double"), double, [i, i + 10]) for i in range(3)]
    with pytest.raises(Overloaded):
        scheduler.call(("m", "double"), double, [0, 0])  # three requests wait already (not started)
    scheduler.start()
    try:
        assert [f.result(5) for f in futures] == [[0, 20], [2, 22], [4, 24]]
        assert sizes == [6], "three requests that arrived together ran as one batch"
        with pytest.raises(ValueError):
            scheduler.call(("m", "double"), double, [-1]).result(5)
        assert scheduler.call(("m", "double"), double, [7]).result(5) == [14]
    finally:
        scheduler.stop()


def test_a_call_cancelled_while_it_waits_is_dropped_and_the_compute_thread_goes_on() -> None:
    """A client that goes away cancels its call's future; running it anyway and setting its result raised in the
    compute thread and stopped it, so every later request hung."""
    ran: list[list[int]] = []

    def double(items: list[int]) -> list[int]:
        ran.append(items)
        return [2 * x for x in items]

    scheduler = Scheduler(max_queue=8, max_batch=8, batch_wait_s=0.05)
    gone = scheduler.call(("m", "double"), double, [1])
    kept = scheduler.call(("m", "double"), double, [2])
    assert gone.cancel()
    loaded = scheduler.exclusive(lambda: "loaded")
    left = scheduler.exclusive(lambda: "never")
    assert left.cancel()
    scheduler.start()
    try:
        assert kept.result(5) == [4] and loaded.result(5) == "loaded"
        assert ran == [[2]], "the cancelled call did not run"
        assert scheduler.call(("m", "double"), double, [3]).result(5) == [6], "the compute thread still serves"
    finally:
        scheduler.stop()


def test_a_chunked_request_takes_one_queue_place_and_lets_decoding_step_between_chunks(
    model: torch.nn.Module,
) -> None:
    """`calls` with a limit: a long request (a fan-out extraction of many documents) runs a chunk per turn of the
    compute thread, so a generation decoding beside it is not held up for the whole request, and the requests
    waiting take turns."""
    engine = CausalEngine(model, [EOS], mixed=True)
    scheduler = Scheduler(max_queue=3, max_batch=8, batch_wait_s=0.01)
    events: list[str] = []
    row = Generation(PROMPTS[0], 6, stop_ids=frozenset(), on_token=lambda _t: events.append("step"))

    def work(items: list[int]) -> list[int]:
        events.append(f"chunk {items}")
        return items

    scheduler.generate(engine, [row])
    futures = scheduler.calls(("m", "work"), work, [[0, 1], [2, 3], [4, 5]], limit=2)
    later = scheduler.calls(("m", "work"), work, [[8, 9]], limit=2)  # another client's, queued after
    assert scheduler.waiting == 3  # the generation and the two requests, whatever their chunks
    with pytest.raises(Overloaded):
        scheduler.calls(("m", "work"), work, [[6]], limit=2)
    scheduler.start()
    try:
        assert [f.result(30) for f in futures] == [[0, 1], [2, 3], [4, 5]] and later[0].result(30) == [8, 9]
        wait_until(lambda: row.finish_reason is not None, 30, "the generation finished")
    finally:
        scheduler.stop()
    chunks = [i for i, e in enumerate(events) if e.startswith("chunk")]
    # round robin: the later request's chunk runs after the first one's first chunk, not after all of them
    assert [events[i] for i in chunks] == ["chunk [0, 1]", "chunk [8, 9]", "chunk [2, 3]", "chunk [4, 5]"]
    assert all("step" in events[a:b] for a, b in itertools.pairwise(chunks)), events  # a step between chunks


def test_the_queue_bound_counts_requests_and_a_request_queues_all_its_rows_or_none(model: torch.nn.Module) -> None:
    """A 20-field fan-out extraction is one request of 20 rows: it takes one place in the queue, not 20 (with
    the default bound of 64 four such requests would otherwise fill it), and a refused one queues no row."""
    engine = CausalEngine(model, [EOS], mixed=True)
    scheduler = Scheduler(max_queue=2, max_batch=64, batch_wait_s=0.05)
    fields = [Generation(PROMPTS[0], 2) for _ in range(20)]
    scheduler.generate(engine, fields)
    scheduler.generate(engine, [Generation(PROMPTS[1], 2)])
    assert scheduler.waiting == 2
    refused = [Generation(PROMPTS[2], 2) for _ in range(5)]
    with pytest.raises(Overloaded):
        scheduler.generate(engine, refused)
    assert scheduler.waiting == 2
    scheduler.start()
    try:
        wait_until(lambda: all(g.finish_reason for g in fields), 60, "the request's 20 rows finished")
        assert all(g.finish_reason is None and not g.tokens for g in refused)
    finally:
        scheduler.stop()


def test_a_retired_adapter_is_released_only_after_its_running_rows(model: torch.nn.Module) -> None:
    engine = CausalEngine(model, [EOS], mixed=True)
    running = Generation(PROMPTS[0], 6, adapter="b", stop_ids=frozenset())
    engine.admit([running])
    released: list[str] = []
    engine.retire("b", lambda: released.append("b"))
    late = Generation(PROMPTS[1], 6, adapter="b")
    engine.admit([late])
    assert late.finish_reason == "unloaded" and released == []
    while engine.active:
        engine.step()
    assert running.finish_reason == "length" and len(running.tokens) == 6 and released == ["b"]
    later = Generation(PROMPTS[1], 6, adapter="b")
    engine.admit([later])
    assert later.finish_reason == "unloaded"


def test_the_engine_hands_the_kv_cache_over_without_a_deprecation_warning(model: torch.nn.Module) -> None:
    """transformers renamed the forward's `past_key_values` to `cache` and warns on each call with the old name."""
    import warnings

    engine = CausalEngine(model, [EOS], mixed=True)
    row = Generation(PROMPTS[1], 4, adapter="a")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        engine.admit([row])
        while engine.active:
            engine.step()
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert row.tokens == reference(model, PROMPTS[1], "a", 4)
