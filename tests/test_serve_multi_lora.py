"""The batched multi-adapter LoRA forward (`hone.serve.multi_lora`) against PEFT's mixed-adapter forward:
the same logits (fp32) for batches mixing base rows and adapters of different ranks, alphas and target
modules, in prefill and decode; stacks kept in sync as adapters come and go; explicit fallbacks."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, DynamicCache

from hone.serve import multi_lora
from hone.serve.engine import CausalEngine, Generation
from hone.serve.multi_lora import BASE, MultiLora
from hone.serve.pool import ModelPool
from tiny import write_tiny_causal

EOS = 2
TOL = {"rtol": 1e-5, "atol": 1e-5}
ADAPTERS = {
    "a": LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False),
    "b": LoraConfig(r=2, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
    "c": LoraConfig(
        r=8,
        lora_alpha=4,
        use_rslora=True,
        target_modules=["gate_proj", "up_proj", "down_proj"],
        init_lora_weights=False,
    ),
}
NAMES = ["a", "b", BASE, "c", "a", "b"]
IDS = torch.tensor([[5, 6, 7, 8, 9, 10, 11], [20, 21, 22, 23, 24, 25, 26], [30, 31, 32, 33, 34, 35, 36]] * 2)


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tiny_causal(tmp_path_factory.mktemp("causal"))


def peft_model(base_dir: Path, configs: dict[str, LoraConfig]) -> torch.nn.Module:
    torch.manual_seed(0)
    base = AutoModelForCausalLM.from_pretrained(str(base_dir))
    (first, config), *rest = configs.items()
    model = get_peft_model(base, config, adapter_name=first)
    for name, more in rest:
        model.add_adapter(name, more)
    return model.eval()


@pytest.fixture
def model(base_dir: Path) -> torch.nn.Module:
    return peft_model(base_dir, ADAPTERS)


def prefill_and_decode(model: torch.nn.Module, names: list[str], lora: MultiLora | None) -> list[torch.Tensor]:
    """Logits of a left-padded prefill and of two decode steps on its cache, by PEFT or by `lora`."""
    mask = torch.ones_like(IDS[: len(names)])
    mask[1, :3] = 0  # a left-padded row
    ids, cache, logits = IDS[: len(names)], DynamicCache(), []
    for _ in range(3):
        extra = {"adapter_names": names} if lora is None else {}
        with torch.inference_mode(), lora.rows(names) if lora is not None else contextlib.nullcontext():
            out = model(input_ids=ids, attention_mask=mask, past_key_values=cache, use_cache=True, **extra)
        cache, logits = out.past_key_values, [*logits, out.logits]
        ids = out.logits[:, -1:].argmax(-1)
        mask = torch.cat([mask, torch.ones_like(ids)], dim=1)
    return logits


def assert_same(ours: list[torch.Tensor], theirs: list[torch.Tensor]) -> float:
    worst = max(float((o - t).abs().max()) for o, t in zip(ours, theirs, strict=True))
    for o, t in zip(ours, theirs, strict=True):
        torch.testing.assert_close(o, t, **TOL)
    return worst


@pytest.mark.parametrize(
    "names",
    [NAMES, ["b"] * 6, [BASE] * 6, ["c", BASE, "c"], ["b", "a"]],
    ids=["mixed", "one-adapter", "base-only", "mlp-adapter-and-base", "two"],
)
def test_batched_forward_matches_peft_mixed_forward_in_prefill_and_decode(
    model: torch.nn.Module, names: list[str]
) -> None:
    lora = MultiLora(model)
    assert lora.usable() and lora.fallback is None
    theirs = prefill_and_decode(model, names, None)
    ours = prefill_and_decode(model, names, lora)
    assert_same(ours, theirs)
    if set(names) != {BASE}:
        plain = prefill_and_decode(model, [BASE] * len(names), None)
        assert not torch.allclose(ours[0], plain[0], **TOL), "the adapters change the logits: not a trivial match"


def test_stacks_hold_one_copy_padded_to_each_layers_largest_rank(model: torch.nn.Module, base_dir: Path) -> None:
    lora = MultiLora(model)
    layers = [m for m in model.modules() if multi_lora._is_lora_linear(m)]
    assert len(lora.stacks) == len(layers) == 14 and len(lora.layouts) == 3  # q/v: a+b, k/o: a, mlp: a+c
    padded = sum(
        len(m.lora_A) * max(w.weight.shape[0] for w in m.lora_A.values()) * (m.in_features + m.out_features)
        for m in layers
    )
    assert sum(s.a.numel() + s.b.numel() for s in lora.stacks) == padded
    for stack in lora.stacks:
        for a, b in stack.blocks.values():  # a single adapter's weights are views, unpadded
            assert a.untyped_storage().data_ptr() == stack.a.untyped_storage().data_ptr()
            assert b.untyped_storage().data_ptr() == stack.b.untyped_storage().data_ptr()
    same_rank = peft_model(base_dir, {"a": ADAPTERS["a"], "d": LoraConfig(r=4, target_modules="all-linear")})
    lora_params = sum(p.numel() for n, p in same_rank.named_parameters() if ".lora_" in n)
    stacked = sum(s.a.numel() + s.b.numel() for s in MultiLora(same_rank).stacks)
    assert stacked == lora_params, "adapters of one rank: exactly one copy of their weights"


def test_stacks_follow_adapters_added_and_deleted(model: torch.nn.Module) -> None:
    lora = MultiLora(model)
    model.add_adapter("d", LoraConfig(r=3, lora_alpha=5, target_modules=["k_proj", "o_proj"], init_lora_weights=False))
    assert lora.usable() and lora.adapters == ("a", "b", "c", "d"), "a new adapter is seen before the next forward"
    names = ["d", "a", BASE, "d"]
    assert_same(prefill_and_decode(model, names, lora), prefill_and_decode(model, names, None))
    model.delete_adapter("a")
    assert lora.usable() and lora.adapters == ("b", "c", "d")
    with pytest.raises(ValueError, match="non-existing adapter"):
        with lora.rows(["a"]):
            pass
    names = ["d", "b", "c", BASE]
    assert_same(prefill_and_decode(model, names, lora), prefill_and_decode(model, names, None))
    hooks = sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())
    assert hooks == 2 * len(lora.stacks), "a rebuild removes the old hooks"


def test_hooks_are_inert_outside_a_batched_forward(model: torch.nn.Module) -> None:
    ids = IDS[:2]
    with torch.inference_mode():
        model.set_adapter("b")
        before = model(input_ids=ids).logits
        multi_lora.shared(model)
        assert multi_lora.shared(model) is multi_lora.shared(model), "one per model"
        after = model(input_ids=ids).logits
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_engine_uses_the_batched_forward_and_generates_what_peft_generates(model: torch.nn.Module) -> None:
    prompts = [[5, 6, 7, 8], [20, 21, 22], [30, 31, 32, 33, 34], [9, 8, 7]]
    adapters = ["a", "c", None, "b"]

    def generate(engine: CausalEngine) -> list[list[int]]:
        rows = [Generation(p, 8, adapter=a, stop_ids=frozenset()) for p, a in zip(prompts, adapters, strict=True)]
        engine.admit(rows[:2])
        engine.step()
        engine.admit(rows[2:])
        while engine.active:
            engine.step()
        return [r.tokens for r in rows]

    def seen_by_peft(engine: CausalEngine) -> tuple[list[list[int]], set[str]]:
        """The tokens, and the adapter names PEFT's layer saw (as every pre-hook left its arguments)."""
        seen: set[str] = set()
        layer = model.get_submodule("base_model.model.model.layers.0.self_attn.q_proj")
        handle = layer.register_forward_hook(
            lambda _m, _a, kwargs, _o: seen.update(kwargs.get("adapter_names", ["<none>"])), with_kwargs=True
        )
        try:
            return generate(engine), seen
        finally:
            handle.remove()

    engine = CausalEngine(model, [EOS], mixed=True)
    assert engine.lora is not None and engine.lora.usable()
    ours, seen = seen_by_peft(engine)
    assert seen == {BASE}, "the kernel ran: PEFT computed the base layer alone"
    engine.lora.fallback = "forced for the test"  # PEFT's mixed forward from here on
    theirs, seen = seen_by_peft(CausalEngine(model, [EOS], mixed=True))
    assert seen == {"a", "c", BASE, "b"} and theirs == ours


def test_bf16_autocast_stays_close_to_peft(model: torch.nn.Module) -> None:
    lora = MultiLora(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ours = prefill_and_decode(model, NAMES, lora)
        theirs = prefill_and_decode(model, NAMES, None)
    exact = prefill_and_decode(model, NAMES, None)
    for o, t, e in zip(ours, theirs, exact, strict=True):
        assert float((o.float() - e).abs().max()) <= 1.5 * float((t.float() - e).abs().max()) + 1e-3


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (LoraConfig(r=4, target_modules="all-linear", use_dora=True, init_lora_weights=False), "DoRA"),
        (LoraConfig(r=4, target_modules=["embed_tokens", "q_proj"], init_lora_weights=False), "Embedding"),
        (LoraConfig(r=4, target_modules=["q_proj"], lora_bias=True, init_lora_weights=False), "lora_bias"),
        (
            LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["lm_head"], init_lora_weights=False),
            "modules_to_save",
        ),
    ],
    ids=["dora", "embedding", "lora-bias", "modules-to-save"],
)
def test_unsupported_adapters_fall_back_to_peft_explicitly(base_dir: Path, config: LoraConfig, reason: str) -> None:
    model = peft_model(base_dir, {"a": ADAPTERS["a"], "x": config})
    lora = MultiLora(model)
    assert not lora.usable() and reason in (lora.fallback or "")
    assert lora.stacks == [] and not any(m._forward_hooks for m in model.modules()), "nothing stacked or hooked"
    engine = CausalEngine(model, [EOS], mixed=True)
    assert engine.lora is not None and not engine.lora.usable()
    if reason != "DoRA":  # PEFT cannot mix DoRA rows either: hone serves DoRA runs on an engine of their own
        rows = [Generation(IDS[i].tolist(), 3, adapter=n, stop_ids=frozenset()) for i, n in enumerate(["x", None])]
        engine.admit(rows)
        while engine.active:
            engine.step()
        assert [r.finish_reason for r in rows] == ["length", "length"], "PEFT's mixed forward served them"
    model.delete_adapter("x")
    assert lora.usable(), "the kernel comes back once the unsupported adapter is gone"


def test_the_pool_restacks_on_load_and_unload(serve_runs: dict[str, Path]) -> None:
    pool = ModelPool(cache=None, autocast=None)
    alpha = pool.load_run(serve_runs["alpha"], pinned=False)  # a runtime load: unloadable
    beta = pool.load_run(serve_runs["beta"])
    engine = alpha.engine
    assert engine is beta.engine and engine.lora is not None
    assert engine.lora.adapters == (alpha.adapter, beta.adapter) and engine.lora.fallback is None
    stacked = {a for s in engine.lora.stacks for a in s.blocks}
    assert stacked == {alpha.adapter, beta.adapter}
    pool.unload(alpha.name)  # no running rows: released at once
    assert {a for s in engine.lora.stacks for a in s.blocks} == {beta.adapter}
    assert engine.lora.adapters == (beta.adapter,)
