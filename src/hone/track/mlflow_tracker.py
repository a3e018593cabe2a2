"""MLflow: one MLflow run per hone run, through `mlflow.tracking.MlflowClient` (the `mlflow-skinny` package).

The store is `train.tracking_uri`, else $MLFLOW_TRACKING_URI, else `sqlite:///<runs_dir>/mlflow.db` with
artifacts in `<runs_dir>/mlartifacts/` (MLflow 3 refuses a plain `mlruns/` folder unless told to accept it).
The experiment is `train.experiment`, else the run's name. The MLflow run's id is kept in the run directory's
tracking.json, so `--resume`, `hone eval` and `hone report` log into the same MLflow run; a resumed run does
not log again the steps MLflow already has (they replay to the same values).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from hone.config.schema import HoneConfig
from hone.runs.rundir import RunDir
from hone.track.base import TrackingError, missing_library, store, stored

DEFAULT_DB = "mlflow.db"
ARTIFACTS = "mlartifacts"
PARAMS_PER_CALL, METRICS_PER_CALL = 100, 1000  # MLflow's limits for one log_batch
MAX_VALUE = 6000  # longest param value MLflow stores
PROBE_TIMEOUT_S = 10


def tracking_uri(config: HoneConfig) -> str:
    default = f"sqlite:///{(Path(config.runs_dir) / DEFAULT_DB).resolve()}"
    return config.train.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or default


def artifact_location(uri: str) -> str | None:
    """Next to a local SQLite store (else MLflow would write artifacts under the working directory);
    a server or another store decides for itself."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix) :].startswith(":memory:"):
        return None
    return (Path(uri[len(prefix) :]).resolve().parent / ARTIFACTS).as_uri()


def open_mlflow(config: HoneConfig, run: RunDir, training: bool) -> MlflowTracker:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise missing_library("mlflow", "mlflow-skinny", "track-mlflow") from None
    uri = tracking_uri(config)
    try:
        _probe(uri)
        client = MlflowClient(tracking_uri=uri)
        run_id = _reopen(client, stored(run, "mlflow"), uri)
        created = run_id is None
        run_id = run_id or _create(client, config, run, uri)
        if training:
            client.update_run(run_id, status="RUNNING")
    except ImportError as exc:  # the SQLite store needs SQLAlchemy and Alembic (in the extra, not in mlflow-skinny)
        raise missing_library("mlflow", exc.name or "a module MLflow needs", "track-mlflow") from None
    except Exception as exc:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        if "MLFLOW_ALLOW_FILE_STORE" in str(exc):
            reason = "MLflow 3 refuses a folder store unless MLFLOW_ALLOW_FILE_STORE=true; use a sqlite:/// URI"
        raise TrackingError(
            f"train.report_to: mlflow cannot use the tracking store {uri} ({type(exc).__name__}: {reason}); "
            "point train.tracking_uri or MLFLOW_TRACKING_URI at a store that answers, or remove mlflow from "
            "train.report_to"
        ) from None
    store(run, "mlflow", {"run_id": run_id, "tracking_uri": uri})
    return MlflowTracker(client, run_id, owns_status=training or created)


def _probe(uri: str) -> None:
    """Fail in seconds when a tracking server cannot be reached: MLflow's own client retries a refused
    connection with backoff for minutes before it gives up. Any HTTP answer (401 too) counts as reachable."""
    if not uri.startswith(("http://", "https://")):
        return
    import requests

    requests.get(f"{uri.rstrip('/')}/health", timeout=PROBE_TIMEOUT_S)


def _reopen(client: Any, entry: dict[str, Any], uri: str) -> str | None:
    """The MLflow run recorded for this hone run in this store, if it still exists."""
    from mlflow.exceptions import MlflowException

    if entry.get("tracking_uri") != uri or not entry.get("run_id"):
        return None
    try:
        found = client.get_run(entry["run_id"])
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    return None if found.info.lifecycle_stage == "deleted" else found.info.run_id


def _create(client: Any, config: HoneConfig, run: RunDir, uri: str) -> str:
    name = config.train.experiment or config.name
    experiment = client.get_experiment_by_name(name)
    if experiment is None:
        experiment_id = client.create_experiment(name, artifact_location=artifact_location(uri))
    else:
        experiment_id = experiment.experiment_id
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    tags = {"hone.run_dir": str(run.path.resolve()), "hone.task": config.task, "mlflow.source.name": "hone"}
    return client.create_run(experiment_id, run_name=config.name, tags=tags).info.run_id


class MlflowTracker:
    name = "mlflow"

    def __init__(self, client: Any, run_id: str, owns_status: bool) -> None:
        self.client, self.run_id, self.owns_status = client, run_id, owns_status
        self._logged: dict[str, int] | None = None  # after a resume: the last step MLflow has, per metric

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        have = self.client.get_run(self.run_id).data.params  # a resumed run: its params are there already
        new = [Param(k, v[:MAX_VALUE]) for k, v in params.items() if k not in have]
        for i in range(0, len(new), PARAMS_PER_CALL):
            self.client.log_batch(self.run_id, params=new[i : i + PARAMS_PER_CALL])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        rows = [Metric(k, v, now, step) for k, v in metrics.items() if step > self._last_logged(k)]
        for i in range(0, len(rows), METRICS_PER_CALL):
            self.client.log_batch(self.run_id, metrics=rows[i : i + METRICS_PER_CALL])

    def log_results(self, metrics: dict[str, float], step: int) -> None:
        self.log_metrics(metrics, step)

    def set_tags(self, tags: dict[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(k, v[:MAX_VALUE]) for k, v in tags.items()])

    def log_artifact(self, path: Path) -> None:
        self.client.log_artifact(self.run_id, str(path))

    def resumed(self, step: int) -> None:
        self._logged = {}

    def close(self, status: str) -> None:
        if self.owns_status:
            self.client.set_terminated(self.run_id, status)

    def _last_logged(self, key: str) -> int:
        if self._logged is None:
            return -1
        if key not in self._logged:
            known = self.client.get_run(self.run_id).data.metrics
            history = self.client.get_metric_history(self.run_id, key) if key in known else []
            self._logged[key] = max((m.step for m in history), default=-1)
        return self._logged[key]
