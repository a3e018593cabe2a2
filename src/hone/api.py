"""hone's Python API: every CLI command is one of these functions.

The short path is three lines::

    import hone
    run = hone.tune("data.jsonl", task="classify")
    run.predict(["my invoice is wrong"])
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.config import HoneConfig, RunConfig, config_template, dump_config, load_config
from hone.runs.rundir import RunDir, read_json, write_json

ConfigLike = HoneConfig | str | Path | Mapping[str, Any]


@dataclass
class Prepared:
    """A run directory with its data checked and split."""

    config: HoneConfig
    run: RunDir
    splits: dict[str, list[Any]]
    check: Any
    task: Any


def config_of(source: ConfigLike, overrides: Iterable[str] = ()) -> HoneConfig:
    """A typed config from a file, a mapping or a config (overrides applied to a copy)."""
    if isinstance(source, RunConfig):
        if not overrides:
            return source
        return load_config(source.model_dump(mode="json"), overrides)
    return load_config(source, overrides)


def init_config(task: str = "classify") -> str:
    """The text of a commented hone.yaml for `task`, every default shown."""
    return config_template(task)


def check(config: ConfigLike, tokenizer: Any = None) -> Any:
    """Read and check the data (every bad row with its line and category); nothing is written."""
    from hone.data.check import check_data

    cfg = config_of(config)
    return check_data(cfg, tokenizer if tokenizer is not None else _tokenizer(cfg))


def _tokenizer(cfg: HoneConfig) -> Any:
    from transformers import AutoTokenizer

    from hone.models.resolve import quiet_transformers, resolve_model

    quiet_transformers()
    return AutoTokenizer.from_pretrained(str(resolve_model(cfg.model.name)))


def prepare(config: ConfigLike, resume: bool = False) -> Prepared:
    """Create or reopen the run directory, check and split the data, write config + data report.

    Refuses to go on when rows are bad (unless data.on_error is skip), and on `resume` when a data
    file changed since the run started.
    """
    from hone.data.split import changed_files, manifest
    from hone.tasks import spec_for

    cfg = config_of(config)
    run = RunDir(cfg.runs_dir / cfg.name).create()
    if resume and run.manifest.exists() and (changed := changed_files(read_json(run.manifest))):
        raise RuntimeError(
            f"{', '.join(changed)} changed since {run.path} started; resuming would mix two datasets. "
            "Restore the file, or start a new run (another `name`)."
        )
    result = check(cfg)
    write_json(run.check_report, result.to_json())
    result.raise_for_errors()
    files = [f for f in (cfg.data.train, cfg.data.dev, cfg.data.test) if f is not None]
    write_json(run.manifest, manifest(result.splits, files))
    run.config.write_text(dump_config(cfg), encoding="utf-8")
    task = spec_for(cfg.task).task.from_config(cfg, [ex for split in result.splits.values() for ex in split])
    return Prepared(cfg, run, result.splits, result, task)


def baseline(config: ConfigLike) -> dict[str, Any]:
    """Fit and score every configured baseline on the test split; writes baseline.json."""
    from hone.runs.lock import hold

    cfg = config_of(config)
    with hold(_run_dir(cfg), "hone baseline"):
        return _baseline(prepare(cfg))


def _baseline(p: Prepared) -> dict[str, Any]:
    from hone.evaluate.evaluator import best_baseline, evaluate_predictor
    from hone.models.resolve import resolve_model
    from hone.tasks import spec_for

    cfg, test = p.config, p.splits["test"]
    out: dict[str, Any] = {
        "primary_metric": p.task.primary_metric,
        "higher_is_better": p.task.higher_is_better,
        "n": len(test),
        "baselines": {},
    }
    for predictor in spec_for(cfg.task).baselines(cfg, str(resolve_model(cfg.model.name)), p.task):
        predictor.fit(p.splits["train"])
        outcome = evaluate_predictor(p.task, predictor, test)
        out["baselines"][predictor.name] = {
            **outcome.metrics,
            "cost": outcome.cost,
            "predictions": [p.task.to_json(x) for x in outcome.predictions],
        }
    out["best"] = best_baseline(out["baselines"], p.task.primary_metric, p.task.higher_is_better)
    write_json(p.run.baseline, out)
    return out


def train(config: ConfigLike, resume: bool = False, progress: bool = True) -> Run:
    """Fine-tune per the config into `<runs_dir>/<name>/model`; `resume` continues from a checkpoint.

    The run directory is locked for the whole process (RunInUse at once if another process writes into it).
    """
    from hone.runs.lock import hold

    cfg = config_of(config)
    with hold(_run_dir(cfg), "hone train"):
        return _train(cfg, resume, progress)


def _run_dir(cfg: HoneConfig) -> RunDir:
    return RunDir(cfg.runs_dir / cfg.name)


def _train(cfg: HoneConfig, resume: bool, progress: bool) -> Run:
    from hone.runs.rebuild import open_registry
    from hone.train.signals import Stopped
    from hone.train.trainer import fit

    _refuse_a_start_that_cannot_go_on(_run_dir(cfg), resume)
    registry = open_registry(cfg.runs_dir, _note)  # a damaged one is repaired, or refused, before the slow part
    p = prepare(cfg, resume=resume)
    registry.start(
        p.config.name, p.task.name, p.config.model.name, p.config.model.method, str(p.run.path), _config_hash(p)
    )
    try:
        fit(p.config, p.run, p.task, _training_examples(p), p.splits["dev"], resume=resume, progress=progress)
    except Stopped as exc:
        registry.finish(p.config.name, "stopped", None, None, str(exc))
        raise
    except BaseException as exc:
        registry.finish(p.config.name, "failed", None, None, f"{type(exc).__name__}: {exc}"[:500])
        raise
    registry.finish(p.config.name, "finished", None, None, None)
    return Run(p.run.path)


def _refuse_a_start_that_cannot_go_on(run: RunDir, resume: bool) -> None:
    """Refuse, before the data is prepared and before the registry is written, a start that would only fail
    later: training over a trained run (its registry record, score included, must stay as it is) or resuming
    a run with nothing to resume from."""
    from hone.train.checkpoint import checkpoints

    if resume and not checkpoints(run.checkpoints):
        raise FileNotFoundError(f"{run.checkpoints}: no checkpoint to resume from; start the run without --resume")
    if not resume and checkpoints(run.checkpoints):
        raise FileExistsError(
            f"{run.path} already has checkpoints; continue it with `--resume`, or choose a new run name"
        )
    if not resume and run.model.exists():
        raise FileExistsError(f"{run.path} already has a trained model ({run.model}); choose a new run name")


def _training_examples(p: Prepared) -> list[Any]:
    """The train split as the task wants to train on it (e.g. with hard negatives mined by the base model)."""
    from hone.models.resolve import resolve_model
    from hone.tasks import spec_for

    spec = spec_for(p.config.task)
    return spec.augment(p.config, str(resolve_model(p.config.model.name)), p.task, p.splits["train"])


def _config_hash(p: Prepared) -> str:
    return hashlib.sha256(p.run.config.read_bytes()).hexdigest()[:16]


def evaluate(run: Run | str | Path) -> dict[str, Any]:
    """Score the trained model on the test split, compare with the best baseline; writes eval.json."""
    from hone.evaluate.report_data import build_eval
    from hone.runs.lock import hold

    r = run if isinstance(run, Run) else Run(Path(run))
    with hold(r.dir, "hone eval"):
        p = prepare(r.config)
        result = build_eval(p, r.predictor(task=p.task))
        write_json(p.run.eval, result)
        _record_score(p, result)
    return result


def _record_score(p: Prepared, result: dict[str, Any]) -> None:
    from hone.runs.rebuild import open_registry

    registry = open_registry(p.config.runs_dir, _note)
    if registry.get(p.config.name) is not None:
        metric = result["primary_metric"]
        registry.set_metric(p.config.name, metric, result["metrics"][metric])


def report(run: Run | str | Path) -> Path:
    """Write report.html for a run and return its path."""
    from hone.report.html import write_report

    r = run if isinstance(run, Run) else Run(Path(run))
    return write_report(r.path)


def predict(run: Run | str | Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Label texts with a trained run: [{"labels": [...], "confidence": p}, ...]."""
    r = run if isinstance(run, Run) else Run(Path(run))
    return r.predict(texts)


def check_run(run: Run | str | Path, limit: int = 16) -> dict[str, Any]:
    """Check a trained chat run: template parity on its data, and that answers stop at EOS without repeating."""
    from hone.evaluate.generation_metrics import repetition_rate
    from hone.tasks import causal
    from hone.tasks.instruct import template_parity
    from hone.train.setup import autocast_for_inference

    r = run if isinstance(run, Run) else Run(Path(run))
    p = prepare(r.config)
    if not hasattr(p.task, "chat_template"):
        raise ValueError(f"{r.path} is a {p.task.name} run; `hone check <run>` checks chat tasks (instruct, extract)")
    loaded = r.predictor(task=p.task).loaded
    examples = (p.splits["test"] or p.splits["train"])[:limit]
    parity = template_parity(examples, loaded.tokenizer, p.task)
    prompts = p.task.prompts([ex.input for ex in examples], loaded.tokenizer)
    # unconstrained on purpose, also for extraction: does the model itself end its answers?
    results = causal.generate(
        loaded.model, loaded.tokenizer, prompts, p.task.max_new_tokens, limit, autocast_for_inference()
    )
    answers = [loaded.tokenizer.decode(x["ids"], skip_special_tokens=True) for x in results]
    stopped = sum(x["stopped"] for x in results)
    repetition = sum(repetition_rate(a) for a in answers) / max(len(answers), 1)
    stopping = {
        "checked": len(results),
        "stopped": stopped,
        "max_new_tokens": p.task.max_new_tokens,
        "repetition": repetition,
        "ok": stopped == len(results) and repetition <= 0.3,
    }
    return {"template_parity": parity, "stopping": stopping, "ok": parity["ok"] and stopping["ok"]}


def runs(runs_dir: str | Path = "runs", rebuild: bool = False, log: Callable[[str], None] | None = None) -> list[Any]:
    """Every run in the registry, newest first (killed runs show as killed).

    `rebuild` rebuilds the registry from the run directories first. A registry file that is not SQLite (or
    is empty) is moved aside and rebuilt without asking; either says so in one line to `log` (default stderr).
    """
    from hone.runs.rebuild import REGISTRY, open_registry
    from hone.runs.rebuild import rebuild as rebuild_index

    log = log or _note
    if rebuild:
        log(rebuild_index(Path(runs_dir)).line())
    elif not (Path(runs_dir) / REGISTRY).exists():
        return []
    return open_registry(Path(runs_dir), log).list()


def _note(line: str) -> None:
    """Tell the user something that happened on the side (e.g. a registry repaired), on stderr."""
    print(line, file=sys.stderr)


def tune(data: str | Path, task: str = "classify", name: str | None = None, **settings: Any) -> Run:
    """The whole pipeline with defaults: check, baselines, train, evaluate, report.

    `settings` are dotted config overrides with `__` for dots, e.g. `train__epochs=2`.
    """
    raw: dict[str, Any] = {"task": task, "name": name or Path(data).stem, "data": {"train": str(Path(data).resolve())}}
    cfg = load_config(raw, [f"{k.replace('__', '.')}={v}" for k, v in settings.items()])
    baseline(cfg)
    run = train(cfg)
    evaluate(run)
    report(run)
    return run


class Run:
    """A run directory: its config, results and trained model."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dir = RunDir(self.path)
        if not self.dir.config.is_file():
            raise FileNotFoundError(
                f"{self.path}: not a hone run directory (no config.yaml); create runs with `hone train`"
            )
        self._predictor: Any = None

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r})"

    @property
    def config(self) -> HoneConfig:
        return load_config(self.dir.config)

    @property
    def eval(self) -> dict[str, Any]:
        return read_json(self.dir.eval)

    def predictor(self, task: Any = None) -> Any:
        """The trained model as a Predictor.

        `task` (built from the run's data, e.g. holding the corpus to search) replaces the task saved
        with the model when both describe the same model; otherwise the saved one, which matches the
        weights, is kept.
        """
        if self._predictor is None:
            from hone.evaluate.evaluator import TunedPredictor
            from hone.models.load import load_trained

            self._predictor = TunedPredictor(load_trained(self.dir.model), self.config.eval.batch_size)
        if task is not None and task.describe() == self._predictor.loaded.task.describe():
            self._predictor.loaded.task = task
        return self._predictor

    def predict(self, texts: Sequence[Any]) -> list[dict[str, Any]]:
        predictor = self.predictor()
        preds, confidence = predictor.predict(list(texts))
        present = getattr(predictor.loaded.task, "present", None)
        if present is not None:
            return [{**present(p), "confidence": float(c)} for p, c in zip(preds, confidence, strict=True)]
        return [
            {"labels": list(p), "label": p[0] if len(p) == 1 else None, "confidence": float(c)}
            for p, c in zip(preds, confidence, strict=True)
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


def export_embeddings(run: Run | str | Path, out: str | Path) -> int:
    """Embed an embed run's corpus with the tuned model into `{id, text, vector}` JSONL (for OpenSearch,
    Qdrant or any vector store); returns the number of chunks written."""
    from hone.retrieval.index import export_jsonl

    r = run if isinstance(run, Run) else Run(Path(run))
    p = prepare(r.config)
    if not hasattr(p.task, "vectors"):
        raise ValueError(f"{r.path} is a {p.task.name} run; embeddings export needs an embed run")
    loaded = r.predictor(task=p.task).loaded
    corpus = p.task.corpus
    vectors = p.task.vectors(loaded.model, loaded.tokenizer, [d.text for d in corpus], p.config.eval.batch_size)
    return export_jsonl(Path(out), [d.id for d in corpus], [d.text for d in corpus], vectors)


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

    r = run if isinstance(run, Run) else Run(Path(run))
    if target == "adapter":
        return {"path": str(llm.export_adapter(r.path, out))}
    if target == "merged":
        return llm.export_merged(r.path, out, tolerance, prompts)
    raise ValueError(f"target {target!r}: choose adapter or merged")


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
) -> dict[str, Any]:
    """Learning curves: train each config on `fractions` of its train split with `seeds` seeds, all scored on one
    test split; fit score = a - b * n**-c and the gain from doubling; with two configs, where they cross.
    Writes `<runs_dir>/<name or config name-sweep>/sweep.json`, sweep.png and sweep.html; finished points are reused."""
    from hone.sweep import sweep as run_sweep

    many = list(configs) if isinstance(configs, (list, tuple)) else [configs]
    return run_sweep(many, fractions, seeds, name, overrides)


def ui_app(runs_dir: str | Path = "runs", serve_url: str | None = None, api_key: str | None = None) -> Any:
    """The `hone ui` dashboard as a FastAPI app over `runs_dir` (serve it with uvicorn)."""
    from hone.ui.app import create_app

    return create_app(runs_dir, serve_url=serve_url, api_key=api_key)
