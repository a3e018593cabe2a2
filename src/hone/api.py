"""hone's Python API: every CLI command is one of these functions. A façade: the pipeline's steps and the run
handle live in `hone.pipeline` (below every front end) and are re-exported here; the rest are thin doors onto
serve, export, plan, sweep, compare and ui.

The short path is three lines::

    import hone
    run = hone.tune("data.jsonl", task="classify")
    run.predict(["my invoice is wrong"])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from hone.config import load_config
from hone.pipeline import (
    ConfigLike,
    Prepared,
    Run,
    baseline,
    check,
    check_run,
    config_of,
    evaluate,
    evaluations,
    init_config,
    predict,
    prepare,
    report,
    runs,
    train,
    tune,
)

__all__ = [
    "ConfigLike",
    "Prepared",
    "Run",
    "advise",
    "baseline",
    "check",
    "check_run",
    "compare",
    "config_of",
    "demo",
    "estimate",
    "evaluate",
    "evaluations",
    "example_config",
    "export_baseline",
    "export_embeddings",
    "export_gguf",
    "export_llm",
    "export_onnx",
    "export_vllm",
    "init_config",
    "predict",
    "prepare",
    "report",
    "runs",
    "search",
    "serve",
    "sweep",
    "train",
    "tune",
    "ui_app",
]


def serve(
    runs: Sequence[Any] = (),
    api_keys: Sequence[str] | None = None,
    config: str | Path | None = None,
    admin_keys: Sequence[str] | None = None,
    **settings: Any,
) -> None:
    """Serve trained runs over HTTP until SIGTERM (see README, Serving): `hone.serve(["runs/a"], api_keys=["k"])`.

    `runs`: run directories, or {"path", "name"} to serve one under another name. `admin_keys`: operator keys
    (runtime adapter loads with `adapter_root`, /metrics).

    `settings` are serve.yaml keys (host, port, adapter_root, max_batch, ...); with no key, pass no_auth=True.
    """
    from hone.serve.config import load_serve_config
    from hone.serve.server import serve as run_server

    cfg = load_serve_config(Path(config) if config else None, {"runs": list(runs), **settings})
    keys = [*(api_keys or []), *cfg.api_keys]
    run_server(cfg, keys or None, admin_keys=list(admin_keys or []))


def search(config: ConfigLike, trials: int, progress: bool = True, log: Any = print) -> dict[str, Any]:
    """Try `trials` training recipes on the dev split (Optuna), each a run `<name>-t<k>`, and score only the best
    on test; returns what `<runs_dir>/<name>-search.json` holds (see `hone.pipeline.search`)."""
    from hone.pipeline.search import search as run_search

    return run_search(config, trials, progress=progress, log=log)


def example_config(name: str = "tickets") -> Path:
    """The path of a shipped example config (examples/<name>/hone.yaml in the source tree)."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[2]):
        path = root / "examples" / name / "hone.yaml"
        if path.is_file():
            return path
    raise FileNotFoundError(f"examples/{name}/hone.yaml not found; run `hone demo` from a clone of the hone repository")


def demo(runs_dir: str | Path = "runs", epochs: int | None = None, log: Any = print) -> dict[str, Any]:
    """The quickstart: the ticket-routing example through every stage, ending with the verdict."""
    import time

    overrides = [f"runs_dir={Path(runs_dir).resolve()}", f"name=tickets-{time.strftime('%Y%m%d-%H%M%S')}"]
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    cfg = load_config(example_config("tickets"), overrides)
    log(f"[1/5] check    {cfg.data.train}")
    result = check(cfg)
    for line in result.summary_lines():
        log(f"      {line}")
    log("[2/5] baseline majority, TF-IDF + LR, frozen MiniLM embeddings + LR")
    base = baseline(cfg)
    for name, b in base["baselines"].items():
        log(f"      {name:>10}  macro-F1 {b['metrics']['macro_f1']:.4f}")
    log(f"[3/5] train    {cfg.model.name}, method {cfg.model.method}, {cfg.train.epochs} epochs")
    run = train(cfg)
    log("[4/5] evaluate on the test split")
    result_eval = evaluate(run)
    log(f"      tuned      macro-F1 {result_eval['metrics']['macro_f1']:.4f}")
    log("[5/5] report")
    return {"run": run, "verdict": result_eval["verdict"], "report": report(run), "eval": result_eval}


def export_embeddings(run: Run | str | Path, out: str | Path) -> dict[str, Any]:
    """Embed an embed run's corpus with the tuned model into the folder `out`: `vectors.jsonl` (Qdrant-shaped
    points: UUID ids, the hone id and text as payload), `manifest.json` and a README with the commands that load
    it into Qdrant or LanceDB (see `hone.export.embeddings`). Returns the manifest with "path"."""
    from hone.export.embeddings import export_embeddings as write

    return write(Run.of(run).path, out)


def export_baseline(run: Run | str | Path, out: str | Path) -> str:
    """Copy the best baseline kept with `run` (`hone.baseline.saved`) to `out`; returns its method. The folder
    loads with `hone.baseline.saved.load`, serves with `hone serve OUT` and needs nothing else (for embed_lr,
    the base encoder by its name)."""
    import shutil

    from hone.baseline import saved

    r = Run.of(run)
    method = r.baseline_model().meta["method"]  # FileNotFoundError with the fix when none is kept
    target = Path(out)
    if target.exists():
        raise FileExistsError(f"{target} exists; export to a new folder")
    shutil.copytree(r.path / saved.FOLDER, target)
    return method


def export_llm(
    run: Run | str | Path,
    out: str | Path,
    target: str = "adapter",
    tolerance: float = 1e-3,
    prompts: Sequence[Any] | None = None,
) -> dict[str, Any]:
    """Export a causal-LM run's model to `out`: `adapter` (the PEFT adapter and tokenizer, as trained) or
    `merged` (merged into the base, written only if it matches the adapter on held-out prompts within
    `tolerance`; see `hone.export.llm.export_merged`). Returns {"path", ...} (merged: the check's figures)."""
    from hone.export import llm

    r = Run.of(run)
    if target == "adapter":
        return {"path": str(llm.export_adapter(r.path, out))}
    if target == "merged":
        return llm.export_merged(r.path, out, tolerance, prompts)
    raise ValueError(f"target {target!r}: choose adapter or merged")


def export_gguf(
    run: Run | str | Path,
    out: str | Path,
    quant: str = "f16",
    prompts: Sequence[Any] | None = None,
    min_agreement: float = 1.0,
) -> dict[str, Any]:
    """Export a causal-LM run to `out` as a GGUF file (`quant`: f16, q8_0, bf16 or f32) with an Ollama Modelfile,
    through llama.cpp's converter (`pip install 'hone[export-gguf]'`); written only when the file, reloaded
    through transformers' GGUF loader, answers `prompts` (default: the test split) as the run does (the share
    `min_agreement` of them; default all). See
    `hone.export.gguf`. Returns {"path", "file", "quant", "check"}."""
    from hone.export.gguf import export_gguf as write

    return write(run.path if isinstance(run, Run) else Path(run), out, quant, prompts, min_agreement)


def export_onnx(run: Run | str | Path, out: str | Path, quantize: str | None = None) -> dict[str, Any]:
    """Export an encoder run (classify, ner, embed, rerank) to `out` as ONNX for ONNX Runtime, written only when it
    matches the run on its test texts; `quantize="int8"` adds a dynamically quantised copy, reported as measured.
    See `hone.export.onnx`. Returns {"path", "checks"}."""
    from hone.export.onnx import export_onnx as write

    return write(run.path if isinstance(run, Run) else Path(run), out, quantize)


def export_vllm(
    runs: Run | str | Path | Iterable[Run | str | Path], out: str | Path, base_out: str | Path | None = None
) -> dict[str, Any]:
    """Write a vLLM bundle to `out` serving the LoRA adapters of `runs` (causal-LM runs on one base model):
    the adapters, the chat template they were trained with, `launch.sh` and `vllm.json`; `base_out` also
    copies the base model there. When vLLM cannot serve the runs as they are: ValueError listing every
    problem, nothing written. See `hone.export.vllm`. Returns vllm.json's content and {"path"}."""
    from hone.export import vllm

    many = [runs] if isinstance(runs, (Run, str, Path)) else list(runs)
    return vllm.export_vllm([r.path if isinstance(r, Run) else Path(r) for r in many], out, base_out)


# Deciding and comparing: thin doors onto hone.plan, hone.sweep, hone.compare and hone.ui.


def advise(answers: Any = None, run: str | Path | None = None, **overrides: Any) -> Any:
    """Recommend prompting, RAG, an agent, an encoder or a LoRA fine-tune from questionnaire answers (a mapping or
    a YAML file; `overrides` win) and, given `run`, its baseline and eval results; `.to_json()` has the checklist."""
    from hone.plan.advise import advise as decide

    return decide(answers, run, **overrides)


def compare(
    runs: Sequence[str | Path] = (),
    outputs: Sequence[str | Path] = (),
    judge: str = "auto",
    out: str | Path | None = None,
    **settings: Any,
) -> dict[str, Any]:
    """Judge every pair of systems on their shared prompts and rate them (Bradley–Terry, Elo scale, 95% CIs);
    writes `<out>/compare.json` and `compare.html` (default out: `<runs_dir>/compare`).

    Systems are each run, its baselines (`<run>:<method>`) and the rows of `outputs` JSONL files. `judge`:
    reference, model (settings judge_url, judge_model, api_key) or auto. `settings` also take seed,
    pairs_per_prompt, limit, resamples and margin. The human judge is a web page: `hone compare --judge human`.
    """
    from hone.compare import compare as compare_systems

    out_path = Path(out) if out is not None else None
    return compare_systems([Path(r) for r in runs], [Path(o) for o in outputs], judge, out_path, **settings)


def estimate(config: ConfigLike, device: str = "cpu", measure_steps: int | None = None) -> dict[str, Any]:
    """Predict peak training memory (by component), time per epoch and the GPU-size table; with measure_steps,
    also run that many real steps in a fresh process and add "comparison" (predicted vs measured)."""
    from hone.plan.estimate import estimate as predict
    from hone.plan.measure import compare as against_measured
    from hone.plan.measure import measure

    cfg = config_of(config)
    result = predict(cfg, device)
    if measure_steps:
        result["comparison"] = against_measured(result, measure(cfg, measure_steps))
    return result


def sweep(
    configs: ConfigLike | Sequence[ConfigLike],
    fractions: Sequence[float] = (0.1, 0.25, 0.5, 1.0),
    seeds: int = 3,
    name: str | None = None,
    overrides: Sequence[str] = (),
    jobs: int = 1,
) -> dict[str, Any]:
    """Learning curves: train each config on `fractions` of its train split with `seeds` seeds, all scored on one
    test split; fit score = a - b * n**-c and the gain from doubling; with two configs, where they cross.
    Writes `<runs_dir>/<name or config name-sweep>/sweep.json`, sweep.png and sweep.html; finished points are reused.
    `jobs`: points run at once, each in its own process (one GPU each, or a share of the CPU cores)."""
    from hone.sweep import sweep as run_sweep

    many = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    return run_sweep(many, fractions, seeds, name, overrides, jobs=jobs)


def ui_app(runs_dir: str | Path = "runs", serve_url: str | None = None, api_key: str | None = None) -> Any:
    """The `hone ui` dashboard as a FastAPI app over `runs_dir` (serve it with uvicorn)."""
    from hone.ui.app import create_app

    return create_app(runs_dir, serve_url=serve_url, api_key=api_key)
