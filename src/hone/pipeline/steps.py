"""The pipeline's steps, shared by every front end (the CLI, the Python API, the dashboard, sweeps, exports):
check the data, prepare a run directory, fit the baselines, train, evaluate, report, predict, list runs.

This package sits below every consumer (compare, export, plan, sweep, ui import from here, and `hone.api` only
re-exports); it imports the stages below it (data, tasks, train, evaluate, report, runs) and nothing above.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hone.config import HoneConfig, RunConfig, config_template, dump_config, load_config, to_mapping
from hone.grammar import article
from hone.pipeline.run import Run
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
    """A typed config from a file, a run directory (its resolved config.yaml, for the run where it is), a mapping
    or a config (overrides applied to a copy)."""
    if isinstance(source, RunConfig):
        if not overrides:
            return source
        return load_config(to_mapping(source), overrides)
    if isinstance(source, (str, Path)) and Path(source).is_dir():
        run = Run(Path(source))  # FileNotFoundError naming the closest run when it is not one
        here = [f"runs_dir={run.path.resolve().parent}", f"name={run.path.name}"]
        return load_config(run.dir.config, [*here, *overrides])
    return load_config(source, overrides)


def init_config(task: str = "classify") -> str:
    """The text of a commented hone.yaml for `task`, every default shown."""
    return config_template(task)


def check(config: ConfigLike, tokenizer: Any = None) -> Any:
    """Read and check the data (every bad row with its line and category); nothing is written."""
    from hone.data.check import check_data
    from hone.tasks import spec_for

    cfg = config_of(config)
    return check_data(cfg, tokenizer if tokenizer is not None else tokenizer_of(cfg), spec=spec_for(cfg.task))


def tokenizer_of(cfg: HoneConfig) -> Any:
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
    run.config.write_text(_config_text(cfg, run, resume), encoding="utf-8")
    return _prepared(cfg, run, result)


def _config_text(cfg: HoneConfig, run: RunDir, resume: bool) -> str:
    """The resolved config; a resumed run reads its learning rates back as given, so the comment that says which
    were chosen for it (and why) is kept from the file the run started with."""
    text = dump_config(cfg)
    if resume and not cfg.defaults_chosen and run.config.is_file():
        lead = run.config.read_text(encoding="utf-8").splitlines(keepends=True)
        text = "".join(line for line in lead[: _comment_lines(lead)]) + text
    return text


def _comment_lines(lines: list[str]) -> int:
    return next((i for i, line in enumerate(lines) if not line.startswith("#")), len(lines))


def prepared(config: ConfigLike) -> Prepared:
    """What `prepare` gives, for a run that exists, writing nothing (its split and reports stay as they are)."""
    cfg = config_of(config)
    result = check(cfg)
    result.raise_for_errors()
    return _prepared(cfg, RunDir(cfg.runs_dir / cfg.name), result)


def _prepared(cfg: HoneConfig, run: RunDir, result: Any) -> Prepared:
    from hone.tasks import spec_for

    task = spec_for(cfg.task).task.from_config(cfg, [ex for split in result.splits.values() for ex in split])
    return Prepared(cfg, run, result.splits, result, task)


def train(config: ConfigLike, resume: bool = False, progress: bool = True) -> Run:
    """Fine-tune per the config into `<runs_dir>/<name>/model`; `resume` continues from a checkpoint.

    The run directory is locked for the whole process (RunInUse at once if another process writes into it).
    """
    from hone.runs.lock import hold
    from hone.train.distributed import is_main

    cfg = config_of(config)
    if not is_main():  # another rank of a data-parallel run: the main rank locks, prepares and records
        return _train_other_rank(cfg, resume)
    with hold(run_dir_of(cfg), "hone train"):
        return _train(cfg, resume, progress)


def _train_other_rank(cfg: HoneConfig, resume: bool) -> Run:
    """A non-main rank of a data-parallel run: the same data and split as the main rank (a pure function of
    the config), nothing written; the main rank writes the run directory, checkpoints and the model."""
    from hone.train.trainer import fit

    p = prepared(cfg)
    fit(p.config, p.run, p.task, training_examples(p), p.splits["dev"], resume=resume, progress=False)
    return Run(p.run.path)


def run_dir_of(cfg: HoneConfig) -> RunDir:
    return RunDir(cfg.runs_dir / cfg.name)


def _train(cfg: HoneConfig, resume: bool, progress: bool, on_step: Callable[..., None] | None = None) -> Run:
    from hone.runs.rebuild import open_registry
    from hone.train.signals import Pruned, Stopped
    from hone.train.trainer import fit

    _refuse_a_start_that_cannot_go_on(run_dir_of(cfg), resume)
    registry = open_registry(cfg.runs_dir, note)  # a damaged one is repaired, or refused, before the slow part
    p = prepare(cfg, resume=resume)
    for key, why in p.config.defaults_chosen.items():  # the config left them empty: say what was chosen
        if key != "train.head_lr" or p.task.head_modules:  # a task without a new head has no use for head_lr
            note(f"{key} = {why}")
    with trackers_of(p.config, p.run, training=True) as trackers:  # a tracker that cannot be used stops us here
        if trackers is not None:
            trackers.log_config(p.config)
        registry.start(
            p.config.name, p.task.name, p.config.model.name, p.config.model.method, str(p.run.path), _config_hash(p)
        )
        try:
            examples = training_examples(p)  # inside: a failure here is recorded as the run's failure too
            fit(
                p.config,
                p.run,
                p.task,
                examples,
                p.splits["dev"],
                resume=resume,
                progress=progress,
                on_step=on_step,
                trackers=trackers,
            )
        except Stopped as exc:
            registry.finish(p.config.name, "stopped", None, None, str(exc))
            raise
        except Pruned as exc:
            registry.finish(p.config.name, "stopped", None, None, f"pruned by the search: {exc}")
            raise
        except BaseException as exc:
            registry.finish(p.config.name, "failed", None, None, f"{type(exc).__name__}: {exc}"[:500])
            raise
        registry.finish(p.config.name, "finished", None, None, None)
    return Run(p.run.path)


def trackers_of(cfg: HoneConfig, run: RunDir, training: bool = False) -> Any:
    """The experiment trackers of `train.report_to`, open (TrackingError now if one cannot be used), as a context
    that closes them with the command's outcome; None inside when the config names none, and then hone.track
    is never imported."""
    if not cfg.train.report_to:
        return nullcontext(None)
    from hone.track import open_trackers

    return open_trackers(cfg, run, training=training)


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


def training_examples(p: Prepared) -> list[Any]:
    """The train split as the task wants to train on it (e.g. with hard negatives mined by the base model)."""
    from hone.models.resolve import resolve_model
    from hone.tasks import spec_for

    spec = spec_for(p.config.task)
    return spec.augment(p.config, str(resolve_model(p.config.model.name)), p.task, p.splits["train"])


def _config_hash(p: Prepared) -> str:
    return hashlib.sha256(p.run.config.read_bytes()).hexdigest()[:16]


def report(run: Run | str | Path) -> Path:
    """Write report.html for a run and return its path."""
    from hone.report.html import write_report

    r = Run.of(run)
    with trackers_of(r.config, r.dir) as trackers:
        path = write_report(r.path)
        if trackers is not None:
            trackers.log_artifact(path)
            trackers.log_artifact(r.dir.eval)
    return path


def predict(run: Run | str | Path, texts: Sequence[str], baseline: bool = False) -> list[dict[str, Any]]:
    """Label texts with a trained run (with `baseline`: with the best baseline kept with it):
    [{"labels": [...], "confidence": p}, ...]."""
    return Run.of(run).predict(texts, baseline=baseline)


def check_run(run: Run | str | Path, limit: int = 16) -> dict[str, Any]:
    """Check a trained chat run: template parity on its data, and that answers stop at EOS without repeating."""
    from hone.evaluate.generation_metrics import repetition_rate
    from hone.tasks import causal
    from hone.tasks.instruct import template_parity
    from hone.train.setup import autocast_for_inference

    r = Run.of(run)
    p = prepare(r.config)
    if not hasattr(p.task, "chat_template"):
        raise ValueError(
            f"{r.path} is {article(p.task.name)} run; `hone check <run>` checks chat tasks (instruct, extract)"
        )
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

    log = log or note
    if rebuild:
        log(rebuild_index(Path(runs_dir)).line())
    elif not (Path(runs_dir) / REGISTRY).exists():
        return []
    return open_registry(Path(runs_dir), log).list()


def note(line: str) -> None:
    """Tell the user something that happened on the side (e.g. a registry repaired), on stderr."""
    print(line, file=sys.stderr)
