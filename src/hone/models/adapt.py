"""Decide which weights train: `full` (all), `freeze` (new head only), `lora`/`dora`/`qlora` (adapters +
new head), `prompt_tuning`/`prefix_tuning` (learned virtual tokens; causal LMs).

The new head is always trainable and always saved with the weights, so a reload predicts the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from hone.config.schema import LoraConfig, TrainConfig
from hone.models.resolve import quiet_transformers


def adapt(
    model: nn.Module,
    method: str,
    lora: LoraConfig,
    head_modules: Sequence[str],
    peft_task_type: str,
    virtual_tokens: int = 20,
) -> nn.Module:
    """Return the model prepared for `method`; only the weights that should learn require grad."""
    quiet_transformers()  # PEFT's wrap would print a deprecation warning of transformers'
    if method == "full":
        model.requires_grad_(True)
        return model
    if method == "freeze":
        model.requires_grad_(False)
        for name, module in model.named_modules():
            if _is_head(name, head_modules):
                module.requires_grad_(True)
        return model
    if method in ("lora", "dora", "qlora"):
        if method == "qlora":
            from peft import prepare_model_for_kbit_training

            model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
        return _lora(model, lora, head_modules, peft_task_type, dora=method == "dora")
    if method in ("prompt_tuning", "prefix_tuning"):
        return _virtual_tokens(model, method, peft_task_type, virtual_tokens)
    raise ValueError(f"model.method {method!r} is not known; choose full, freeze, lora, dora, qlora or prompt_tuning")


def checkpoint_activations(model: nn.Module) -> int:
    """Turn on gradient checkpointing in every Hugging Face model inside `model` (non-reentrant, so frozen
    inputs need no grad and the RNG state is replayed: the same losses as without); returns how many."""
    from transformers import PreTrainedModel

    found = 0
    for module in model.modules():
        if isinstance(module, PreTrainedModel) and module.supports_gradient_checkpointing:
            if not module.is_activation_checkpointing:
                module.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
            found += 1
    if not found:
        raise ValueError(
            f"train.gradient_checkpointing: {type(model).__name__} holds no model that supports it; set it to false"
        )
    return found


def _virtual_tokens(model: nn.Module, method: str, task_type: str, count: int) -> nn.Module:
    from peft import PrefixTuningConfig, PromptTuningConfig, get_peft_model

    if task_type != "CAUSAL_LM":
        raise ValueError(f"model.method {method} is for causal LM tasks (instruct, extract, preference)")
    kind = PromptTuningConfig if method == "prompt_tuning" else PrefixTuningConfig
    return get_peft_model(model, kind(task_type=task_type, num_virtual_tokens=count))


def _lora(
    model: nn.Module, lora: LoraConfig, head_modules: Sequence[str], task_type: str, dora: bool = False
) -> nn.Module:
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    inner = sentence_transformer_body(model)
    if inner is not None:  # adapt the transformer inside; pooling has no weights
        peft_config = PeftLoraConfig(
            r=lora.r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=lora.target_modules
        )
        set_sentence_transformer_body(model, get_peft_model(inner, peft_config))
        return model
    config = PeftLoraConfig(
        task_type=task_type,
        use_dora=dora,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        modules_to_save=list(head_modules),  # the new head trains fully and is saved in the adapter
    )
    return get_peft_model(model, config)


def _body_attribute(model: nn.Module) -> str | None:
    first = model[0] if isinstance(model, nn.Sequential) and len(model) else None
    # sentence-transformers 6 keeps the Hugging Face model in `.model` (`.auto_model` is a read-only alias).
    for name in ("model", "auto_model"):
        if isinstance(getattr(first, name, None), nn.Module):
            return name
    return None


def sentence_transformer_body(model: nn.Module) -> nn.Module | None:
    """The Hugging Face model inside a sentence-transformers model, or None for other models."""
    name = _body_attribute(model)
    return getattr(model[0], name) if name else None


def set_sentence_transformer_body(model: nn.Module, body: nn.Module) -> None:
    setattr(model[0], _body_attribute(model), body)


def _is_head(name: str, head_modules: Sequence[str]) -> bool:
    return any(name == head or name.endswith(f".{head}") for head in head_modules)


def param_groups(model: nn.Module, train: TrainConfig, head_modules: Sequence[str]) -> list[dict[str, Any]]:
    """AdamW groups: decay vs no decay (biases, norms), and the head at its own learning rate.

    `train` comes from a validated run config, which has filled an empty `lr` and `head_lr` for the method.
    """
    if train.lr is None or train.head_lr is None:
        raise ValueError("train.lr and train.head_lr are unset; build the train section through a run config")
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        is_head = any(f"{head}." in name or name.startswith(f"{head}.") for head in head_modules)
        decay = param.ndim >= 2 and "norm" not in name.lower()
        groups.setdefault((is_head, decay), []).append(param)
    return [
        {
            "params": params,
            "lr": train.head_lr if is_head else train.lr,
            "weight_decay": train.weight_decay if decay else 0.0,
        }
        for (is_head, decay), params in sorted(groups.items())
    ]


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The weights that change during training, detached copies, by parameter name."""
    return {name: p.detach().clone().contiguous() for name, p in model.named_parameters() if p.requires_grad}


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
