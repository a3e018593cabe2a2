"""Export a causal-LM run's model for use without hone: the PEFT adapter as trained, or merged into its base.

A merged export is written only after it is checked: the merged and unmerged models are compared in
float32 on held-out prompts (logits over the prompt tokens within a tolerance, and identical greedy
answers), so a merge that changes what the model says never ships. Both exports are built in a
temporary folder and renamed into place: a failed or refused export leaves nothing that looks finished.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hone.export.staging import check_target, staged
from hone.grammar import article
from hone.train.save import name_base_by_hub_id

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors", "hone.json")
NOT_COPIED = {"README.md"}  # PEFT's empty model card: the export writes its own
MAX_PROMPTS = 8
MAX_NEW_TOKENS = 32


def export_adapter(run_dir: str | Path, out: str | Path) -> Path:
    """Copy the run's adapter, tokenizer (with its chat template) and hone.json to `out`, with a README.

    `peft.PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(<base>), out)` loads it.
    """
    out = Path(out)
    model_dir, meta = adapter_model_dir(Path(run_dir), out)
    with staged(out) as tmp:
        for path in sorted(model_dir.iterdir()):
            if path.is_file() and path.name not in NOT_COPIED:
                shutil.copy2(path, tmp / path.name)
        name_base_by_hub_id(tmp, str(meta["base_model"]))
        (tmp / "README.md").write_text(_adapter_readme(meta, Path(run_dir), out), encoding="utf-8")
    return out


def export_merged(
    run_dir: str | Path, out: str | Path, tolerance: float = 1e-3, prompts: Sequence[Any] | None = None
) -> dict[str, Any]:
    """Merge the adapter into its base, check the merge, and write a plain transformers model to `out`.

    Checked on `prompts` (default: up to 8 prompts of the run's test split): the largest absolute logit
    difference over the prompt tokens must be at most `tolerance`, and greedy answers (the task's
    max_new_tokens, at most 32) identical. Otherwise RuntimeError, and nothing is written.
    """
    from hone.models.load import load_trained

    run_dir, out = Path(run_dir), Path(out)
    model_dir, meta = adapter_model_dir(run_dir, out)
    _check_mergeable(model_dir, meta)
    check_target(out)  # before the slow part
    loaded = load_trained(model_dir)
    model = loaded.model.float()
    ids = _prompt_ids(run_dir, loaded, prompts)
    merged = merged_copy(model)
    max_new = min(loaded.task.max_new_tokens, MAX_NEW_TOKENS)
    diff = _verify(model, merged, loaded.tokenizer, ids, tolerance, max_new, out)
    _set_generation_defaults(merged, loaded.tokenizer, loaded.task)
    with staged(out) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        loaded.tokenizer.save_pretrained(str(tmp))
        (tmp / "hone.json").write_text(json.dumps({**meta, "merged": True}, indent=2))
        (tmp / "README.md").write_text(_merged_readme(meta, run_dir, out, diff, len(ids), tolerance), encoding="utf-8")
    return {"max_abs_diff": diff, "prompts": len(ids), "identical_generations": True, "path": str(out)}


def adapter_model_dir(run_dir: Path, out: Path | None = None) -> tuple[Path, dict[str, Any]]:
    """The run's `model/` folder and its hone.json, refusing runs that have no causal-LM adapter."""
    from hone.models.load import refuse_pickles
    from hone.pipeline import Run
    from hone.tasks import spec_for

    model_dir = Run(run_dir).dir.model
    if not (model_dir / "hone.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no trained model (no hone.json); train the run first with `hone train`")
    meta = json.loads((model_dir / "hone.json").read_text())
    task = str(meta.get("task"))
    if spec_for(task).task.peft_task_type != "CAUSAL_LM":
        raise ValueError(
            f"{run_dir} is {article(task)} run; adapter and merged exports are for causal-LM runs trained with "
            f"adapters (instruct, extract, preference). Its model loads as it is from {model_dir} (`hone predict`)."
        )
    if not (model_dir / "adapter_config.json").is_file():
        raise ValueError(
            f"{model_dir} already holds full weights (config.json + model.safetensors; model.method "
            f"{meta.get('method')}), which transformers' from_pretrained loads as they are: no adapter export or "
            f"merge is needed, use {model_dir}"
        )
    missing = [name for name in ADAPTER_FILES if not (model_dir / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{model_dir} lacks {', '.join(missing)}; train the run again to rewrite it")
    refuse_pickles(model_dir)
    if out is not None and out.resolve() == model_dir.resolve():
        raise ValueError(f"--out {out} is the run's own model folder; export to another folder")
    return model_dir, meta


def merged_copy(model: Any) -> Any:
    """The adapter merged into a copy of its base; `model` itself keeps its adapter, to compare against."""
    return copy.deepcopy(model).merge_and_unload()


def _check_mergeable(model_dir: Path, meta: dict[str, Any]) -> None:
    peft_type = json.loads((model_dir / "adapter_config.json").read_text()).get("peft_type")
    if peft_type != "LORA":
        raise ValueError(
            f"{model_dir} holds a {peft_type} adapter (model.method {meta.get('method')}): its learned virtual "
            "tokens are not weights and cannot be merged into the base; export it with --target adapter"
        )
    if meta.get("quantize_4bit"):
        raise ValueError(
            "a qlora adapter was trained against a 4-bit base; merging it into full-precision weights changes what "
            "it says. Export it with --target adapter and load the base in 4 bit, as training did"
        )


def _prompt_ids(run_dir: Path, loaded: Any, prompts: Sequence[Any] | None) -> list[list[int]]:
    """Token ids of the comparison prompts, rendered as the run renders them; default: its test split."""
    if prompts is None:
        from hone.pipeline import Run, prepare
        from hone.tasks.base import model_inputs

        test = prepare(Run(run_dir).config).splits["test"]
        # a preference pair's input is (prompt, chosen, rejected): the model is asked the prompt
        prompts = [x[0] if isinstance(x, tuple) else x for x in model_inputs(test[:MAX_PROMPTS])]
    if not prompts:
        raise ValueError(f"no prompts to check the merge on ({run_dir} has an empty test split); pass prompts")
    return loaded.task.prompts(list(prompts), loaded.tokenizer)


def _verify(
    model: Any, merged: Any, tokenizer: Any, ids: list[list[int]], tolerance: float, max_new: int, out: Path
) -> float:
    """The largest logit difference, after checking it and the greedy answers; RuntimeError on a mismatch."""
    from hone.tasks.causal import generate

    diff = max_logit_diff(model, merged, ids)
    if not diff <= tolerance:  # also refuses NaN
        raise RuntimeError(
            f"the merged model's logits differ from the adapter's by up to {diff:.3g} on {len(ids)} held-out "
            f"prompt(s), above the tolerance {tolerance:g}; nothing was written to {out}. Export with --target "
            "adapter (exact), or raise the tolerance if this difference is acceptable"
        )
    ours, theirs = (generate(m, tokenizer, ids, max_new, MAX_PROMPTS) for m in (model, merged))
    changed = sum(a["ids"] != b["ids"] for a, b in zip(ours, theirs, strict=True))
    if changed:
        raise RuntimeError(
            f"the merged model answers {changed} of {len(ids)} held-out prompt(s) differently from the adapter "
            f"(greedy, {max_new} tokens); nothing was written to {out}. Export with --target adapter"
        )
    return diff


def max_logit_diff(a: Any, b: Any, ids: list[list[int]]) -> float:
    """Largest absolute float32 logit difference between two models over every prompt token."""
    import torch

    diffs = []
    with torch.inference_mode():
        for prompt in ids:
            x = torch.tensor([prompt])
            diffs.append((a(input_ids=x).logits.float() - b(input_ids=x).logits.float()).abs().max())
    return float(torch.stack(diffs).max())  # torch's max keeps a NaN, so a broken merge cannot pass


def _set_generation_defaults(model: Any, tokenizer: Any, task: Any) -> None:
    """Stop where hone stops (the chat template's end-of-turn token too), so plain `generate` answers the same."""
    from hone.tasks.causal import eos_ids, pad_id

    config = model.generation_config
    config.eos_token_id = eos_ids(model, tokenizer)
    config.pad_token_id = pad_id(tokenizer)
    config.max_new_tokens = task.max_new_tokens


def _base_dir(name: str) -> str:
    """Where hone found the base model, or its name when it is not on this machine."""
    from hone.models.resolve import ModelNotFound, resolve_model

    try:
        return str(resolve_model(name))
    except ModelNotFound:
        return name


def _prompting(meta: dict[str, Any]) -> str:
    system = f" with the system prompt {json.dumps(meta['system'])}" if meta.get("system") else ""
    template = meta.get("template", "chat")
    how = "the tokenizer's chat template (saved here)" if template == "chat" else f"the template {json.dumps(template)}"
    return f"Render prompts as training did: {how}{system}; generation is greedy."


def _adapter_readme(meta: dict[str, Any], run_dir: Path, out: Path) -> str:
    from hone.export.card import base_reference, model_card

    base, local = base_reference(meta), _base_dir(str(meta["base_model"]))
    where = f" (on this machine: `{local}`)" if local != base else ""
    usage = f"""Base model: `{base}`{where}; method {meta.get("method")}. Load the adapter on the exact base weights it
was trained on:

```python
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

base = AutoModelForCausalLM.from_pretrained("{base}")
model = PeftModel.from_pretrained(base, "{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
```

{_prompting(meta)} `hone.json` records the task settings hone trained with.
"""
    return model_card(meta, run_dir, f"{meta.get('task')} adapter exported by hone", usage, "peft", ["lora"])


def _merged_readme(meta: dict[str, Any], run_dir: Path, out: Path, diff: float, prompts: int, tolerance: float) -> str:
    from hone.export.card import base_reference, model_card

    usage = f"""Base model `{base_reference(meta)}`, {meta.get("method")} adapter merged into it; weights in float32.
Checked on {prompts} held-out prompt(s): largest logit difference from the unmerged model {diff:.3g}
(tolerance {tolerance:g}), identical greedy answers.

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

model = AutoModelForCausalLM.from_pretrained("{out}")
tokenizer = AutoTokenizer.from_pretrained("{out}")
```

{_prompting(meta)} `generation_config.json` stops at the template's end-of-turn token.
"""
    return model_card(
        meta, run_dir, f"{meta.get('task')} model exported by hone (adapter merged)", usage, "transformers"
    )
