"""`Run`: the handle of a run directory — its config, results and trained model."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hone.config import HoneConfig, load_config
from hone.runs.rundir import RunDir, read_json


class Run:
    """A run directory: its config, results and trained model."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dir = RunDir(self.path)
        if not self.dir.config.is_file():
            raise FileNotFoundError(not_a_run(self.path))
        self._predictor: Any = None

    @classmethod
    def of(cls, target: Run | str | Path) -> Run:
        """The run `target` names: a run directory, or a config file (its `runs_dir`/`name`)."""
        if isinstance(target, Run):
            return target
        path = Path(target)
        if not path.is_file():
            return cls(path)
        cfg = load_config(path)
        run_dir = cfg.runs_dir / cfg.name
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(
                f"{path} is the config of run {cfg.name!r}, which has not been trained yet (no {run_dir}); "
                f"start it with `hone train {path}`"
            )
        return cls(run_dir)

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

    def baseline_model(self) -> Any:
        """The best baseline, kept as a model of the run by `hone baseline` (`hone.baseline.saved`)."""
        from hone.baseline import saved

        folder = self.path / saved.FOLDER
        if not saved.is_kept(folder):
            raise FileNotFoundError(
                f"{self.path} keeps no baseline model (no {saved.FOLDER}/): run `hone baseline {self.path}` — "
                "the best of majority, TF-IDF + LR and frozen embeddings + LR is kept; other baselines cannot be"
            )
        return saved.load(folder)

    def predict(self, texts: Sequence[Any], baseline: bool = False) -> list[dict[str, Any]]:
        """Predictions of the trained model, or with `baseline` of the best baseline kept with the run, on the
        run's `train.threads`."""
        from hone.train.setup import compute_threads

        with compute_threads(self.config.train.threads):
            return self._predict(texts, baseline)

    def _predict(self, texts: Sequence[Any], baseline: bool) -> list[dict[str, Any]]:
        if baseline:
            preds, confidence = self.baseline_model().predict(list(texts))
            return _labelled(preds, confidence)
        predictor = self.predictor()
        preds, confidence = predictor.predict(list(texts))
        present = getattr(predictor.loaded.task, "present", None)
        if present is not None:
            return [{**present(p), "confidence": float(c)} for p, c in zip(preds, confidence, strict=True)]
        return _labelled(preds, confidence)


def _labelled(preds: Sequence[Any], confidence: Sequence[float]) -> list[dict[str, Any]]:
    return [
        {"labels": list(p), "label": p[0] if len(p) == 1 else None, "confidence": float(c)}
        for p, c in zip(preds, confidence, strict=True)
    ]


def not_a_run(path: Path) -> str:
    """Why `path` is not a run directory, with the closest run beside it (a typo is the usual cause)."""
    where = path.parent if path.parent != Path("") else Path(".")
    runs = sorted(p.name for p in where.iterdir() if (p / "config.yaml").is_file()) if where.is_dir() else []
    guess = difflib.get_close_matches(path.name, runs, n=1, cutoff=0.5)
    hint = (
        f"did you mean {where / guess[0]}?"
        if guess
        else f"runs in {where}: {', '.join(runs[:8])}" + (" ..." if len(runs) > 8 else "")
        if runs
        else "create runs with `hone train hone.yaml`"
    )
    what = "no such directory" if not path.exists() else "not a hone run directory (no config.yaml)"
    return f"{path}: {what}; {hint}"
