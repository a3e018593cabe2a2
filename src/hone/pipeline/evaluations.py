"""The evaluation step: the trained model scored on the run's test split against the best baseline (eval.json),
or on another held-out file (`--test FILE`), where the baselines are fitted on the run's own train split and
scored on that file too; each such evaluation is a record of its own (evaluations/<file>-<hash>.json) and the
run's split, manifest and eval.json stay untouched.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hone.pipeline.baselines import fit_and_score
from hone.pipeline.run import Run
from hone.pipeline.steps import Prepared, check, config_of, note, prepare, prepared, trackers_of
from hone.runs.rundir import write_json


def evaluate(run: Run | str | Path, test: str | Path | None = None) -> dict[str, Any]:
    """Score the trained model on the test split (or on the file `test`) against the best baseline; writes
    eval.json (or evaluations/<file>-<hash>.json, whose path is returned under "path")."""
    from hone.evaluate.report_data import build_eval
    from hone.runs.lock import hold
    from hone.train.setup import compute_threads

    r = Run.of(run)
    with hold(r.dir, "hone eval"), compute_threads(r.config.train.threads):
        if test is not None:
            return _on_file(r, Path(test))
        p = prepare(config_of(r.path))
        with trackers_of(p.config, p.run) as trackers:
            result = build_eval(p, r.predictor(task=p.task))
            write_json(p.run.eval, result)
            _record_score(p, result)
            if trackers is not None:
                trackers.log_eval(result)
    return result


def evaluations(run: Run | str | Path) -> list[dict[str, Any]]:
    """Every evaluation of the run on another file, oldest first."""
    from hone.runs.rundir import read_json

    folder = Run.of(run).dir.evaluations
    found = [read_json(path) for path in sorted(folder.glob("*.json"), key=lambda p: p.stat().st_mtime)]
    return [f for f in found if isinstance(f, dict)]


def _on_file(r: Run, file: Path) -> dict[str, Any]:
    from hone.data.split import file_fingerprint
    from hone.evaluate.report_data import build_eval

    if not file.is_file():
        raise FileNotFoundError(f"--test {file}: no such file")
    p = prepared(config_of(r.path))
    examples = _examples_of(p, file)
    baselines = fit_and_score(p, examples)
    result = build_eval(p, r.predictor(task=p.task), examples, baselines)
    digest = file_fingerprint(file)
    result.update(
        test_file=str(file.resolve()),
        sha256=digest,
        baselines={name: b["metrics"] for name, b in baselines["baselines"].items()},
        best_baseline=baselines["best"],
    )
    out = r.dir.evaluations / f"{_slug(file.stem)}-{digest[:8]}.json"
    write_json(out, result)
    return {**result, "path": str(out)}


def _examples_of(p: Prepared, file: Path) -> list[Any]:
    """The rows of `file` as the run's task reads them (same fields and checks): given as the test file, a file
    passes into the test split whole."""
    result = check(config_of(p.config, [f"data.test={file.resolve()}"]))
    result.raise_for_errors()
    return result.splits["test"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:48] or "test"


def _record_score(p: Prepared, result: dict[str, Any]) -> None:
    from hone.runs.rebuild import open_registry

    registry = open_registry(p.config.runs_dir, note)
    if registry.get(p.config.name) is not None:
        metric = result["primary_metric"]
        registry.set_metric(p.config.name, metric, result["metrics"][metric])
