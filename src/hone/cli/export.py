"""`hone export`: a run's model or outputs in the format the tool that consumes it loads (see README, Deploy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from hone.cli.errors import friendly_errors

MANY_RUNS = ("vllm",)


@dataclass
class Options:
    tolerance: float
    base_out: Path | None
    quant: str | None
    quantize: str | None


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    runs: Annotated[
        list[Path],
        typer.Argument(help="The run directory, e.g. runs/tickets; for --target vllm one or more (one adapter each)."),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the export (a folder).")],
    target: Annotated[
        str, typer.Option(help="embeddings, adapter, merged, vllm, gguf, onnx or baseline (see below).")
    ] = "embeddings",
    tolerance: Annotated[
        float, typer.Option(help="`merged`: largest logit difference from the unmerged model allowed.")
    ] = 1e-3,
    base_out: Annotated[
        Path | None,
        typer.Option(help="`vllm`: also copy the base model here (e.g. OUT/base) and serve it from there."),
    ] = None,
    quant: Annotated[
        str | None, typer.Option(help="`gguf`: f16 (default), q8_0, bf16 or f32 (k-quants: llama-quantize).")
    ] = None,
    quantize: Annotated[str | None, typer.Option(help="`onnx`: int8 adds dynamically quantised weights.")] = None,
) -> None:
    """Export from a run for use outside hone.

    embeddings: a folder of Qdrant-shaped points (UUID ids, hone id and text as payload) and a manifest,
    for Qdrant, LanceDB or any vector store (embed runs).

    adapter: the PEFT adapter and tokenizer, for PeftModel.from_pretrained on the base.

    merged: adapter merged into the base, for AutoModelForCausalLM.from_pretrained;
    written only if logits match within --tolerance and greedy answers are identical.

    vllm: LoRA runs on one base, for one vLLM server: adapters, chat template, vllm.json, launch.sh;
    runs vLLM cannot serve as they are are refused with every reason.

    gguf: a GGUF file for llama.cpp and Ollama (with a Modelfile), written only if reloading it gives
    the same greedy answers on held-out prompts.

    onnx: an ONNX encoder (classify, ner, embed, rerank) for ONNX Runtime, checked against the run's model.

    baseline: the best baseline kept with the run (no pickle), for `hone predict`/`hone serve` elsewhere.
    """
    if target not in EXPORTERS:
        raise typer.BadParameter(f"--target {target!r}: choose {', '.join(EXPORTERS)}")
    if target not in MANY_RUNS and len(runs) != 1:
        raise typer.BadParameter(
            f"--target {target} exports one run and {len(runs)} were given; only --target vllm takes several runs"
        )
    with friendly_errors():
        EXPORTERS[target](runs, out, Options(tolerance, base_out, quant, quantize))


def _embeddings(runs: list[Path], out: Path, _: Options) -> None:
    from hone import api

    manifest = api.export_embeddings(runs[0], out)
    print(
        f"{manifest['count']} chunk(s), {manifest['dimension']} dimensions, written to {out} "
        "(vectors.jsonl, manifest.json; README.md loads them into Qdrant or LanceDB)"
    )


def _adapter(runs: list[Path], out: Path, _: Options) -> None:
    from hone import api

    print(f"adapter written to {api.export_llm(runs[0], out, 'adapter')['path']}")


def _merged(runs: list[Path], out: Path, options: Options) -> None:
    from hone import api

    result = api.export_llm(runs[0], out, "merged", options.tolerance)
    print(
        f"merged model checked on {result['prompts']} held-out prompt(s): largest logit difference "
        f"{result['max_abs_diff']:.3g}, identical greedy answers"
    )
    print(f"merged written to {result['path']}")


def _vllm(runs: list[Path], out: Path, options: Options) -> None:
    from hone import api

    bundle = api.export_vllm(runs, out, options.base_out)
    names = ", ".join(adapter["name"] for adapter in bundle["adapters"])
    print(
        f"vllm bundle written to {bundle['path']}: adapter(s) {names} on {bundle['base']['name']} "
        f"(--max-lora-rank {bundle['max_lora_rank']})"
    )
    print(f"start it on a GPU machine with vLLM: {Path(bundle['path']) / 'launch.sh'}")


def _gguf(runs: list[Path], out: Path, options: Options) -> None:
    from hone import api

    result = api.export_gguf(runs[0], out, quant=options.quant or "f16")
    check = result["check"]
    print(
        f"{result['file']} ({result['quant']}) reloaded through transformers' GGUF loader: "
        f"{check['agreeing']}/{check['prompts']} held-out prompt(s) answered the same, greedy"
    )
    print(f"gguf written to {result['path']}; `ollama create NAME -f {Path(result['path']) / 'Modelfile'}`")


def _onnx(runs: list[Path], out: Path, options: Options) -> None:
    from hone import api

    result = api.export_onnx(runs[0], out, quantize=options.quantize)
    for name, check in result["checks"].items():
        print(f"{name}: {check['summary']}")
    print(f"onnx written to {result['path']}")


def _baseline(runs: list[Path], out: Path, _: Options) -> None:
    from hone import api

    print(f"the run's best baseline ({api.export_baseline(runs[0], out)}) written to {out}")


EXPORTERS: dict[str, Callable[[list[Path], Path, Options], Any]] = {
    "embeddings": _embeddings,
    "adapter": _adapter,
    "merged": _merged,
    "vllm": _vllm,
    "gguf": _gguf,
    "onnx": _onnx,
    "baseline": _baseline,
}
