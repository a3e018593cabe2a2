"""Rows of many LoRA adapters in one forward pass, in a number of operations per layer that does not grow
with the number of adapters.

Why. PEFT's mixed-adapter forward (`adapter_names=[...]`) runs, in every LoRA-wrapped linear, one sub-batch
per adapter present: select its rows, two small matmuls, scale, add back into the output. With 8 adapters
that is some 40 small operations per layer, 8,000 per decode step of SmolLM2, and a decode step on a small
CPU is bound by what each operation costs, not by its FLOPs: 16 rows over 8 adapters decoded at 0.27x the
base model's speed.

The maths. A linear layer W carries adapters j = 1..n: A_j (r_j x in), B_j (out x r_j), scaling s_j
(alpha_j / r_j, or alpha_j / sqrt(r_j) with rsLoRA). Row b of the batch uses adapter a(b), and PEFT computes

    y_b = W x_b + s_a B_a A_a x_b                                  (nothing added for a base row)

The layer's adapters are stacked once, each padded with zeros to the layer's largest rank r:

    SA[j] = s_j A_j^T   (n x in x r)             SB[j] = B_j^T   (n x r x out)

For one forward, the rows are grouped by adapter: g groups (the adapters with rows here), each padded to
the largest group's m slots. Then, whatever n and g:

    X = x[gather]                     (g x m x in)    one gather of the rows into their groups
    Y = bmm(bmm(X, SA[used]), SB[used])  (g x m x out)  two batched matmuls, each group with its own adapter
    y = W x + where(keep, Y[scatter], 0)               one gather back to row order, one add

where `keep` is false for a row with no adapter on this layer (a base row, or an adapter that does not target
it) and only exists when there is such a row (a selection, not a product with a 0/1 mask: an adapter with a
NaN weight must leave every other row exact, and NaN x 0 is NaN), and `SA[used]` is a gather of the weights
only when some of the layer's adapters have no row in this batch. Each row gets exactly s_a B_a A_a x_b: the
padding adds zeros, so in fp32 the result equals PEFT's up to the order of summation. A forward whose rows all use one
adapter (every prefill: the engine prefills one row at a time) uses that adapter's weights alone, two
matmuls; a forward of base rows only adds nothing.

Measured (decode steps of the serve-multi-lora workload: SmolLM2-135M, 16 rows over 8 adapters of r 16 on
every linear, fp32, 2 torch threads, 2-core shared VM, medians of 4 interleaved rounds): base model 168 ms,
PEFT's mixed forward 649 ms, this 249 ms. The alternative of concatenated A's and B's and a 0/1 block mask,
((x [SA_1 .. SA_n]) * M) [SB_1; ..; SB_n], measured the same 253 ms (both are bound by reading every adapter's
weights once per step), but its FLOPs grow with rows x the ranks of every adapter loaded, this one's with
rows x r: the grouped form is the one that stays cheap with many adapters loaded.

Threads. The delta's few, small operations run on one thread (`torch.set_num_threads(1)` around them, the
caller's count restored): with 2 threads each one wakes the other thread, which costs more than the work
(a 40 x 576 by 576 x 16 matmul: 89 us on 2 threads, 7 us on 1, with `OMP_WAIT_POLICY=PASSIVE` as the
benchmarks set it; the same step with the delta on 2 threads: 289 ms).

How it is wired. One `MultiLora` per PEFT model (`shared`), so engines on one model share its stacks. Each
LoRA linear gets two hooks, inert outside `MultiLora.rows`: a pre-hook hands the layer PEFT's own
`adapter_names` with every row `__base__` (PEFT then runs the base layer alone: the same layer-level
mechanism its mixed forward uses), and a forward hook adds the delta above. No PEFT state is changed, so a
non-mixed engine on the same model (one adapter at a time, `set_adapter`) works as before.

Precision. The delta is computed in the LoRA weights' dtype with autocast off, then added to the base
output in its dtype: under bf16 autocast the stacks would be cast on every call (a copy per layer per step),
and the weights' own dtype is also the more exact.

Memory. The stacks are one copy of the LoRA weights of every adapter on the model (SmolLM2-135M, r 16 on
every linear: 19.5 MB per adapter), held once per model whatever the number of engines; where one layer's
adapters differ in rank, the smaller ones are padded to the largest. A single adapter's weights are views
into the stacks. The stacks are rebuilt whole when the model's set of adapters changes (`refresh`: the pool
calls it after each load and unload, and `usable` calls it whenever it sees the set changed); weights
changed in place (training) need an explicit `refresh`. A batch that uses only some of a layer's adapters
gathers theirs for that layer while it runs (a transient copy of one layer's worth).

What falls back. Anything but plain LoRA on `nn.Linear` layers: DoRA and other LoRA variants, LoRA on
embeddings or convolutions, `lora_bias`, transposed (Conv1D) weights, merged adapters, `modules_to_save` or
`trainable_token_indices`, non-LoRA PEFT methods. For such a model `fallback` says why (logged once), and
the engine uses PEFT's mixed forward for that model. Dropout does not arise: the engine runs in eval mode.

Single-threaded, like the engine: one forward at a time per model.
"""

from __future__ import annotations

import contextlib
import logging
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch
from torch import nn

log = logging.getLogger("hone.serve")
BASE = "__base__"  # PEFT's name for "no adapter" in a mixed batch
_SHARED: weakref.WeakKeyDictionary[nn.Module, MultiLora] = weakref.WeakKeyDictionary()


@dataclass
class _Stack:
    """One LoRA linear's adapters stacked, in its layout's order: `a[j]` = s_j A_j^T (in x r), `b[j]` = B_j^T
    (r x out); an adapter of a smaller rank than the layer's largest is padded with zeros (which add nothing)."""

    a: torch.Tensor  # (n, in, r_max)
    b: torch.Tensor  # (n, r_max, out)
    layout: int  # index of this layer's adapter sequence in MultiLora.layouts
    blocks: dict[str, tuple[torch.Tensor, torch.Tensor]]  # adapter -> (s A^T, B^T) unpadded: views into a and b


@dataclass
class _Layout:
    """A sequence of adapters that layers share (with the dtype and device of their stacks)."""

    index: dict[str, int]  # adapter -> its slot in the stacks
    dtype: torch.dtype
    device: torch.device


@dataclass
class _Groups:
    """How the rows of one forward map onto one layout's stacks: g groups (one per adapter present) of m slots."""

    gather: torch.Tensor  # (g * m,) the row in each slot: group k holds its adapter's rows; padding repeats row 0
    scatter: torch.Tensor  # (rows,) each row's slot
    size: int  # m, the largest group
    adapters: torch.Tensor | None  # the stack slots of the g adapters present; None: all, in order
    keep: torch.Tensor | None  # (rows, 1, 1) bool: false for a row with no adapter on this layout; None: all have one


@dataclass
class _Step:
    """What the hooks need for the forward in progress."""

    base_names: list[str]  # every row `__base__`: PEFT computes the base layer alone
    single: str | None  # every row uses this adapter: its weights alone, no grouping
    groups: list[_Groups | None] = field(default_factory=list)  # per layout; None: no row uses it


def shared(model: nn.Module) -> MultiLora:
    """The model's one `MultiLora` (built on first use)."""
    lora = _SHARED.get(model)
    if lora is None:
        lora = _SHARED[model] = MultiLora(model)
    return lora


class MultiLora:
    """Batched multi-adapter LoRA for one PEFT model; `fallback` (not None) says why PEFT's forward runs instead."""

    def __init__(self, model: nn.Module) -> None:
        self._model = weakref.ref(model)  # the shared registry must not keep the model alive
        self.fallback: str | None = None
        self.stacks: list[_Stack] = []
        self.layouts: list[_Layout] = []
        self.adapters: tuple[str, ...] = ()
        self._hooks: list[Any] = []
        self._step: _Step | None = None
        self.refresh()

    def usable(self) -> bool:
        """Whether `rows` serves this model; first re-stacks if its adapters changed since the last build."""
        model = self._model()
        if model is not None and _adapter_names(model) != self.adapters:
            self.refresh()
        return self.fallback is None

    def refresh(self) -> None:
        """Rebuild the stacks from the model's adapters as they are now."""
        for handle in self._hooks:
            handle.remove()
        self._hooks, self.stacks, self.layouts = [], [], []
        model = self._model()
        if model is None:
            return
        self.adapters, previous = _adapter_names(model), self.fallback
        self.fallback = unsupported(model)
        if self.fallback is not None:
            if self.fallback != previous:
                log.warning("mixed-adapter batches use PEFT's per-adapter forward: %s", self.fallback)
            return
        layouts: dict[tuple[Any, ...], int] = {}
        with torch.no_grad():
            for module in model.modules():
                names = [n for n in self.adapters if n in module.lora_A] if _is_lora_linear(module) else []
                if names:
                    self._add(module, names, layouts)

    def _add(self, layer: nn.Module, names: list[str], layouts: dict[tuple[Any, ...], int]) -> None:
        ranks = [layer.lora_A[n].weight.shape[0] for n in names]
        like = layer.lora_A[names[0]].weight
        a = like.new_zeros(len(names), like.shape[1], max(ranks))
        b = like.new_zeros(len(names), max(ranks), layer.lora_B[names[0]].weight.shape[0])
        for j, (name, r) in enumerate(zip(names, ranks, strict=True)):
            a[j, :, :r] = layer.lora_A[name].weight.T * layer.scaling[name]
            b[j, :r] = layer.lora_B[name].weight.T
        key = (tuple(names), a.dtype, a.device)
        if key not in layouts:
            layouts[key] = len(self.layouts)
            self.layouts.append(_Layout({n: j for j, n in enumerate(names)}, a.dtype, a.device))
        blocks = {n: (a[j, :, :r], b[j, :r]) for j, (n, r) in enumerate(zip(names, ranks, strict=True))}
        stack = _Stack(a, b, layouts[key], blocks)
        self.stacks.append(stack)
        self._hooks.append(layer.register_forward_pre_hook(self._base_only, with_kwargs=True))
        self._hooks.append(layer.register_forward_hook(partial(self._add_delta, stack)))

    @contextlib.contextmanager
    def rows(self, names: Sequence[str]) -> Iterator[None]:
        """Within this block, a forward of the model gives row i adapter `names[i]` (`__base__`: none)."""
        model = self._model()
        if model is not None and model.training:
            raise ValueError("Cannot pass `adapter_names` when the model is in training mode.")
        unknown = sorted({n for n in names if n != BASE} - set(self.adapters))
        if unknown:
            raise ValueError(f"Trying to infer with non-existing adapter(s): {', '.join(unknown)}")
        if self._step is not None:
            raise RuntimeError("MultiLora.rows is not re-entrant: one forward at a time per model")
        names = list(names)
        single = names[0] if len(set(names)) == 1 else None
        groups = [] if single is not None else [_groups(layout, names) for layout in self.layouts]
        self._step = _Step([BASE] * len(names), single, groups)
        try:
            yield
        finally:
            self._step = None

    def _base_only(self, _: nn.Module, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, dict[str, Any]] | None:
        if self._step is None:
            return None
        return args, {**kwargs, "adapter_names": self._step.base_names}

    def _add_delta(self, stack: _Stack, _: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor | None:
        step = self._step
        if step is None:
            return None
        single, groups = None, None
        if step.single is not None:
            single = stack.blocks.get(step.single)
            if single is None:
                return None
        else:
            groups = step.groups[stack.layout]
            if groups is None:
                return None
        x = args[0]
        device = x.device.type
        threads = torch.get_num_threads() if device == "cpu" else 1
        if threads > 1:
            torch.set_num_threads(1)  # see "Threads" above
        try:
            with _no_autocast(device):  # see "Precision" above
                if single is not None:
                    delta = x.to(single[0].dtype) @ single[0] @ single[1]
                else:
                    delta = _grouped(x, stack, groups)
                return output.add_(delta.view_as(output))  # in place: `output` is the layer's own fresh result
        finally:
            if threads > 1:
                torch.set_num_threads(threads)


def _no_autocast(device: str) -> contextlib.AbstractContextManager:
    # entering autocast costs more than the small matmuls it would wrap: only when it is on
    return torch.autocast(device, enabled=False) if torch.is_autocast_enabled(device) else contextlib.nullcontext()


def _grouped(x: torch.Tensor, stack: _Stack, groups: _Groups) -> torch.Tensor:
    """Every row's own LoRA delta: its adapter's rows gathered into one group per adapter, two batched matmuls."""
    a, b = stack.a, stack.b
    if groups.adapters is not None:  # some of the layout's adapters have no row here: leave them out
        a, b = a.index_select(0, groups.adapters), b.index_select(0, groups.adapters)
    tokens = x.reshape(x.shape[0], -1, x.shape[-1]).to(a.dtype)
    slots = tokens.index_select(0, groups.gather)  # (g * m, t, in)
    t = slots.shape[1]
    h = torch.bmm(slots.view(a.shape[0], groups.size * t, -1), a)  # (g, m * t, r_max)
    y = torch.bmm(h, b).view(-1, t, b.shape[-1]).index_select(0, groups.scatter)  # (rows, t, out)
    return y if groups.keep is None else torch.where(groups.keep, y, 0.0)


def _groups(layout: _Layout, names: list[str]) -> _Groups | None:
    slot_of = [layout.index.get(n) for n in names]
    present = sorted({j for j in slot_of if j is not None})
    if not present:
        return None
    members: dict[int, list[int]] = {j: [] for j in present}
    for row, j in enumerate(slot_of):
        if j is not None:
            members[j].append(row)
    size = max(len(rows) for rows in members.values())
    gather, scatter = [0] * (len(present) * size), [0] * len(names)
    for k, j in enumerate(present):
        for i, row in enumerate(members[j]):
            gather[k * size + i], scatter[row] = row, k * size + i
    index = partial(torch.tensor, dtype=torch.long, device=layout.device)
    adapters = None if len(present) == len(layout.index) else index(present)
    keep = None
    if None in slot_of:
        keep = torch.tensor([j is not None for j in slot_of], dtype=torch.bool, device=layout.device).view(-1, 1, 1)
    return _Groups(index(gather), index(scatter), size, adapters, keep)


def _adapter_names(model: nn.Module) -> tuple[str, ...]:
    return tuple(getattr(model, "peft_config", {}))


def _is_lora_linear(module: nn.Module) -> bool:
    from peft.tuners.lora.layer import Linear

    return type(module) is Linear


def unsupported(model: nn.Module) -> str | None:
    """Why the batched forward cannot serve `model` (None: it can)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    configs = getattr(model, "peft_config", None)
    if not configs:
        return "not a PEFT model with adapters"
    kinds = {getattr(c, "peft_type", None) for c in configs.values()}
    if kinds != {"LORA"}:  # PeftType is a str enum
        return f"PEFT methods {sorted(map(str, kinds))}: only LoRA is batched"
    for adapter, config in configs.items():
        extra = [k for k in ("modules_to_save", "trainable_token_indices") if getattr(config, k, None)]
        if extra:  # whole modules (or token rows) of their own per adapter, not a low-rank delta
            return f"adapter {adapter}: {' and '.join(extra)}"
    for name, module in model.named_modules():
        if isinstance(module, BaseTunerLayer) and any(getattr(module, n) for n in module.adapter_layer_names):
            reason = _layer_unsupported(module)  # (a layer whose adapters were all deleted stays, empty)
            if reason is not None:
                return f"{name}: {reason}"
    return None


def _layer_unsupported(layer: nn.Module) -> str | None:
    if not _is_lora_linear(layer):
        return f"{type(layer).__module__}.{type(layer).__name__} layers (only LoRA on nn.Linear is batched)"
    if type(layer.base_layer) is not nn.Linear or layer.fan_in_fan_out:
        return "the wrapped layer is not a plain nn.Linear"
    if layer.merged:
        return "merged adapters"
    if layer.lora_variant:
        return f"LoRA variants ({', '.join(sorted(layer.lora_variant))}: DoRA or another variant)"
    if any(layer.lora_B[n].bias is not None for n in layer.lora_B):
        return "lora_bias"
    return None
