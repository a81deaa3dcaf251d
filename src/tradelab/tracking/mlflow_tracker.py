"""MLflow implementation of the tracking contract (SQLite store by default).

Several processes (Hydra joblib multirun) may write to one SQLite file: the store is created
under a file lock, the database runs in WAL mode with a busy timeout, and every write is
retried with backoff when SQLite reports the database locked.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

from tradelab.errors import TrackingError
from tradelab.tracking.base import (
    Job,
    RunStatus,
    Tracker,
    clean_metrics,
    clean_params,
    validate_experiment_name,
)

__all__ = ["MlflowJob", "MlflowTracker", "normalize_sqlite_uri"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_PARENT_TAG = "mlflow.parentRunId"
_RUN_NAME_TAG = "mlflow.runName"
# the MLflow UI shows a runs table (not the GenAI trace views) for this kind of experiment
_EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development"}
_LOCKED_MARKERS = ("database is locked", "database table is locked", "database schema has changed")


def normalize_sqlite_uri(uri: str, busy_timeout_s: float = 60.0) -> str:
    """Make a `sqlite:///` URI absolute and give it a busy timeout; other URIs pass through."""
    if not uri.startswith("sqlite:///"):
        return uri
    rest = uri.removeprefix("sqlite:///")
    path_part, _, query = rest.partition("?")
    path = Path(path_part)
    if not path.is_absolute():
        path = Path.cwd() / path
    options = dict(parse_qsl(query))
    options.setdefault("timeout", f"{busy_timeout_s:g}")
    return f"sqlite:///{path}?{urlencode(options)}"


def sqlite_path(uri: str) -> Path | None:
    """Return the database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


def _is_locked_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


def _retry(fn: Callable[[], T], attempts: int = 10) -> T:
    """Call `fn`, retrying with jittered backoff while SQLite says the database is locked."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt == attempts or not _is_locked_error(exc):
                raise
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)
    raise AssertionError("unreachable")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _now_ms() -> int:
    return int(time.time() * 1000)


class MlflowJob(Job):
    def __init__(
        self,
        tracker: MlflowTracker,
        run_id: str,
        experiment: str,
        experiment_id: str,
        inherited: Mapping[str, str],
    ) -> None:
        super().__init__(inherited)
        self._tracker = tracker
        self._client = tracker.client
        self.run_id = run_id
        self.experiment = experiment
        self.experiment_id = experiment_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, v) for k, v in clean_params(params).items()]
        for start in range(0, len(items), 100):
            batch = items[start : start + 100]
            _retry(lambda b=batch: self._client.log_batch(self.run_id, params=b))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        items = [Metric(k, v, stamp, step or 0) for k, v in clean_metrics(metrics).items()]
        for start in range(0, len(items), 1000):
            batch = items[start : start + 1000]
            _retry(lambda b=batch: self._client.log_batch(self.run_id, metrics=b))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(str(k), str(v)[:8000]) for k, v in tags.items()]
        for start in range(0, len(items), 100):
            batch = items[start : start + 100]
            _retry(lambda b=batch: self._client.log_batch(self.run_id, tags=b))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact {source} does not exist")
        if source.is_dir():
            target = f"{artifact_path}/{source.name}" if artifact_path else source.name
            self._client.log_artifacts(self.run_id, str(source), target)
        else:
            self._client.log_artifact(self.run_id, str(source), artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._client.log_text(self.run_id, text, artifact_file)

    def _start_child(self, name: str, tags: dict[str, str]) -> Job:
        run_id = self._tracker._create_run(
            self.experiment_id, name, {**tags, _PARENT_TAG: self.run_id}
        )
        return MlflowJob(self._tracker, run_id, self.experiment, self.experiment_id, tags)

    def log_trial(
        self,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        from mlflow.entities import Metric, Param

        merged = {**self.inherited_tags, **{k: str(v) for k, v in (tags or {}).items()}}
        run_id = self._tracker._create_run(
            self.experiment_id, name or "trial", {**merged, _PARENT_TAG: self.run_id}
        )
        stamp = _now_ms()
        p = [Param(k, v) for k, v in clean_params(params).items()]
        m = [Metric(k, v, stamp, 0) for k, v in clean_metrics(metrics).items()]
        _retry(lambda: self._client.log_batch(run_id, metrics=m, params=p))
        _retry(lambda: self._client.set_terminated(run_id, RunStatus.FINISHED.value))
        return run_id

    def _terminate(self, status: RunStatus) -> None:
        _retry(lambda: self._client.set_terminated(self.run_id, status.value))


class MlflowTracker(Tracker):
    """Tracker backed by an MLflow tracking store (default: local SQLite file)."""

    def __init__(
        self,
        uri: str = "sqlite:///mlruns/mlflow.db",
        artifact_root: str | Path | None = "mlruns/artifacts",
        *,
        busy_timeout_s: float = 60.0,
    ) -> None:
        self.uri = normalize_sqlite_uri(uri, busy_timeout_s)
        self.artifact_root = None if artifact_root is None else Path(artifact_root).resolve()
        self._experiment_ids: dict[str, str] = {}
        self.client = self._open_store()

    def _open_store(self) -> Any:
        """Create the client; a new SQLite schema is created once, under a file lock, even
        when several processes start together."""
        from mlflow import MlflowClient

        db = sqlite_path(self.uri)
        if db is None:
            return MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
        try:
            with _file_lock(db.with_name(db.name + ".lock")):
                client = MlflowClient(tracking_uri=self.uri, registry_uri=self.uri)
                _retry(lambda: client.search_experiments(max_results=1))
                _retry(lambda: client.search_registered_models(max_results=1))
                with contextlib.closing(sqlite3.connect(db, timeout=60)) as conn:
                    conn.execute("PRAGMA journal_mode=WAL")
        except Exception as exc:
            raise TrackingError(f"cannot open the MLflow store at {db}: {exc}") from exc
        return client

    def experiment_id(self, name: str) -> str:
        """Return the id of experiment `name`, creating (or restoring) it when needed."""
        if name in self._experiment_ids:
            return self._experiment_ids[name]
        from mlflow.exceptions import MlflowException

        exp = _retry(lambda: self.client.get_experiment_by_name(name))
        if exp is None:
            location = None
            if self.artifact_root is not None:
                location = (self.artifact_root / name).as_uri()
            try:
                exp_id = _retry(
                    lambda: self.client.create_experiment(
                        name, artifact_location=location, tags=_EXPERIMENT_TAGS
                    )
                )
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(
                    exc.error_code
                ) and "already exists" not in str(exc):
                    raise
                exp = _retry(lambda: self.client.get_experiment_by_name(name))
                assert exp is not None
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
            if exp.lifecycle_stage == "deleted":
                _retry(lambda: self.client.restore_experiment(exp_id))
        self._experiment_ids[name] = exp_id
        return exp_id

    def _create_run(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
        run = _retry(
            lambda: self.client.create_run(
                experiment_id, tags={**tags, _RUN_NAME_TAG: name}, run_name=name
            )
        )
        return run.info.run_id

    def start_job(
        self,
        experiment: str,
        run_name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Job:
        validate_experiment_name(experiment)
        exp_id = self.experiment_id(experiment)
        inherited = {str(k): str(v)[:8000] for k, v in (tags or {}).items()}
        run_id = self._create_run(exp_id, run_name or "job", inherited)
        job = MlflowJob(self, run_id, experiment, exp_id, inherited)
        try:
            if params:
                job.log_params(params)
            if config is not None:
                job.log_dict(dict(config), "config.yaml")
        except BaseException as exc:
            job.__exit__(type(exc), exc, None)
            raise
        return job
