"""What a LoRA adapter may hold before it is put on a base model that other models share.

PEFT loads every tensor of `adapter_model.safetensors` whose name it can place, and a name may place it in the
base: a file that also holds `base_model.model.model.embed_tokens.weight` would overwrite the shared embedding,
change the answers of every model on that base, and stay after the adapter is unloaded. So before anything is
written into a served model, every tensor of the file must be a LoRA factor of a module the adapter's config
targets (`<module>.lora_A.weight`, `<module>.lora_B.weight`), that module must be an `nn.Linear` of the base,
the factors must have the shapes the base and the rank imply (A: r x in, B: out x r), each module must have
both, and every value must be finite (a NaN adapter turns its rows' answers to nonsense, and nothing may reach
the rows of other adapters). The first tensor that breaks a rule is named in the error.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from torch import nn

from hone.serve.errors import APIError

PREFIX = "base_model.model."  # how PEFT names the wrapped model in a saved adapter
FACTOR = re.compile(r"^(?P<module>.+)\.(?P<part>lora_A|lora_B)\.weight$")
MAX_RANK = 1024


def refused(key: str, why: str) -> APIError:
    return APIError(400, f"adapter tensor `{key}`: {why}", code="bad_adapter")


def check_adapter(model_dir: Path, config: dict[str, Any], base: nn.Module) -> None:
    """Raise a 400 `APIError` naming the first tensor of the adapter in `model_dir` that breaks a rule above."""
    from safetensors import safe_open

    if config.get("modules_to_save") or config.get("trainable_token_indices"):
        raise APIError(
            400,
            "the adapter trains whole modules or token rows beside LoRA (modules_to_save / trainable_token_indices), "
            "which a shared base cannot hold per adapter; serve `hone export --target merged` as its own model",
            code="unsupported_adapter",
        )
    rank = _rank(config)
    linears = {name: _linear(module) for name, module in base.named_modules()}
    seen: dict[str, set[str]] = {}
    with safe_open(str(model_dir / "adapter_model.safetensors"), framework="pt") as fh:
        for key in fh.keys():  # noqa: SIM118 - safe_open has keys(), not iteration
            module, part = _place(key, config, linears)
            tensor = fh.get_tensor(key)
            _check_shape(key, part, tuple(tensor.shape), linears[module], rank)
            if not bool(tensor.isfinite().all()):
                raise refused(key, "holds NaN or infinite values")
            seen.setdefault(module, set()).add(part)
    lonely = next((m for m, parts in seen.items() if parts != {"lora_A", "lora_B"}), None)
    if lonely is not None:
        key = f"{PREFIX}{lonely}.{'lora_B' if 'lora_A' in seen[lonely] else 'lora_A'}.weight"
        raise refused(key, "is missing: each targeted module needs both LoRA factors")
    if not seen:
        raise APIError(400, "the adapter holds no LoRA tensors", code="bad_adapter")


def _rank(config: dict[str, Any]) -> int | None:
    """The adapter's rank, or None when it varies by module (`rank_pattern`)."""
    if config.get("rank_pattern"):
        return None
    rank = config.get("r")
    if not isinstance(rank, int) or not 0 < rank <= MAX_RANK:
        raise APIError(400, f"adapter_config.json: r must be an integer in 1..{MAX_RANK}, got {rank!r}", "bad_adapter")
    return rank


def _linear(module: nn.Module) -> nn.Linear | None:
    inner = getattr(module, "base_layer", module)  # a module PEFT already wraps holds the base layer inside
    return inner if isinstance(inner, nn.Linear) else None


def _place(key: str, config: dict[str, Any], linears: dict[str, nn.Linear | None]) -> tuple[str, str]:
    """The base module and the factor (`lora_A`/`lora_B`) a tensor name designates, or a 400."""
    match = FACTOR.match(key[len(PREFIX) :]) if key.startswith(PREFIX) else None
    if match is None:
        raise refused(
            key,
            "is not a LoRA factor (`<module>.lora_A.weight` or `.lora_B.weight`); it would be "
            "loaded into the shared base model",
        )
    module = match["module"]
    if linears.get(module) is None:
        raise refused(key, f"`{module}` is not a linear layer of the base model")
    if not _targeted(module, config.get("target_modules")):
        raise refused(key, f"`{module}` is not among the adapter's target_modules")
    return module, match["part"]


def _targeted(module: str, targets: Any) -> bool:
    """PEFT's rule: a regex string must match the whole name; a list matches a name or its last components."""
    if targets == "all-linear":
        return module.rsplit(".", 1)[-1] != "lm_head"
    if isinstance(targets, str):
        return re.fullmatch(targets, module) is not None
    if isinstance(targets, list):
        return any(module == t or module.endswith(f".{t}") for t in targets if isinstance(t, str))
    return False


def _check_shape(key: str, part: str, shape: tuple[int, ...], layer: nn.Linear | None, rank: int | None) -> None:
    assert layer is not None
    if len(shape) != 2:
        raise refused(key, f"has shape {list(shape)}; a LoRA factor is a matrix")
    r = shape[0] if part == "lora_A" else shape[1]
    outer = shape[1] if part == "lora_A" else shape[0]
    expected_outer = layer.in_features if part == "lora_A" else layer.out_features
    if outer != expected_outer or not 0 < r <= MAX_RANK or (rank is not None and r != rank):
        want = f"[{rank or 'r'}, {layer.in_features}]" if part == "lora_A" else f"[{layer.out_features}, {rank or 'r'}]"
        raise refused(key, f"has shape {list(shape)}; the base layer and rank imply {want}")
