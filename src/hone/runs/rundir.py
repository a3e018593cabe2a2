"""The run directory: every file a run writes, by name, so no stage guesses a path.

runs/<name>/
  config.yaml      resolved config (every default written out)
  data/            split manifest (ids + hashes) and the data-check report
  baseline.json    baseline metrics and test predictions
  checkpoints/     resumable state: safetensors + JSON, COMPLETE marker last
  model/           final weights (PEFT adapter or full model) + tokenizer + hone.json
  metrics.jsonl    one line per logged step and per dev evaluation
  eval.json        test metrics, breakdowns, worst examples, comparison with the best baseline
  evaluations/     the same for other held-out files (`hone eval RUN --test FILE`), one JSON each
  baseline-model/  the best baseline kept as a model (majority, TF-IDF + LR, frozen embeddings + LR)
  report.html      the human view
  tracking.json    the ids of the run in its experiment trackers (train.report_to), so a resume reopens them
  tensorboard/     TensorBoard event files (train.report_to: [tensorboard])
  .lock            held (flock) by the one process writing into the run; see hone.runs.lock
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class RunDir:
    path: Path

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def config(self) -> Path:
        return self.path / "config.yaml"

    @property
    def data(self) -> Path:
        return self.path / "data"

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.json"

    @property
    def check_report(self) -> Path:
        return self.data / "check.json"

    @property
    def baseline(self) -> Path:
        return self.path / "baseline.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def model(self) -> Path:
        return self.path / "model"

    @property
    def metrics(self) -> Path:
        return self.path / "metrics.jsonl"

    @property
    def eval(self) -> Path:
        return self.path / "eval.json"

    @property
    def evaluations(self) -> Path:
        """Evaluations on other held-out files (`hone eval RUN --test FILE`), one JSON each."""
        return self.path / "evaluations"

    @property
    def report(self) -> Path:
        return self.path / "report.html"

    @property
    def tracking(self) -> Path:
        """The run's ids in the experiment trackers of `train.report_to` (hone.track)."""
        return self.path / "tracking.json"

    @property
    def tensorboard(self) -> Path:
        return self.path / "tensorboard"

    @property
    def lock(self) -> Path:
        return self.path / ".lock"

    def create(self) -> RunDir:
        self.data.mkdir(parents=True, exist_ok=True)
        return self


def write_json(path: Path, payload: Any) -> None:
    """Write JSON atomically: a reader sees the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(payload, fh, indent=2, ensure_ascii=False, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:  # a failed or interrupted write leaves the old file and no stray temporary
        tmp.unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))
