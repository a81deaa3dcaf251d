"""MLflow implementation of the tracking contract (SQLite store by default).

Several processes (Hydra joblib multirun) may write to one SQLite file: the store is created
under a file lock, the database runs in WAL mode with a busy timeout, and every call is
retried with backoff when SQLite reports the database locked. MLflow filter strings live
here only: the read side takes typed filters and turns them into MLflow searches.

With an `http(s)://` URI the store is a shared tracking server (`mlflow server` on PostgreSQL,
artifacts proxied): nothing is opened locally, artifacts go up and come back through the
server, and only tradelab's experiments are read, so the runs of other tools on the server are
never listed or repaired. A `namespace` keeps a tracker's experiments (`<namespace>/<family>`)
and registered models apart from everyone else's on one server (tests sharing a server, a
personal sandbox).

One MLflow experiment holds a family (`wfo`, `kalman_residual`, `promotion`, ...): the runs a
user compares sit in one runs table. The tracking contract's address `<family>/<target>`
(`wfo/SMH`) becomes the family's experiment plus the `target` tag every run carries; a
top-level run's name starts with its target (`SMH atr_d_ls demo`), and the experiment lists its
targets as `tradelab.target.<target>` tags. Stores written before this layout kept one
experiment per address (`wfo/SMH`): they are not read (a warning says so once).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import random
import re
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.error import HTTPError, URLError
from urllib.parse import parse_qsl, urlencode

from tradelab.errors import TrackingError
from tradelab.tracking.base import (
    FAMILY_RE,
    TARGET_TAG,
    DatasetRef,
    Job,
    RunRecord,
    RunStatus,
    Tracker,
    address_tags,
    check_query,
    check_table_file,
    clean_metrics,
    clean_params,
    matches,
    validate_experiment_name,
    with_process,
)
from tradelab.tracking.relocate import (
    Relocation,
    file_uri_path,
    moved_artifacts,
    relocate_artifacts,
)

__all__ = [
    "MlflowJob",
    "MlflowTracker",
    "is_server_uri",
    "normalize_sqlite_uri",
    "validate_namespace",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

_PARENT_TAG = "mlflow.parentRunId"
_RUN_NAME_TAG = "mlflow.runName"
# the MLflow UI shows a runs table (not the GenAI trace views) for this kind of experiment
_LAYOUT_TAG = "tradelab.layout"  # "family": one experiment per family (older stores lack it)
_EXPERIMENT_TAGS = {"mlflow.experimentKind": "custom_model_development", _LAYOUT_TAG: "family"}
_SYSTEM_TAG_PREFIX = "mlflow."
TARGETS_TAG_PREFIX = "tradelab.target."  # an experiment tag per target its runs belong to
_PAGE = 1000  # runs per search request
_INSERT_RACE_MARKERS = ("unique constraint failed", "duplicate key value violates unique")
_LOCKED_MARKERS = ("database is locked", "database table is locked", "database schema has changed")
_NAMESPACE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")  # also a registered-model prefix
_URI_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_PROBE_TIMEOUT_S = 5.0
START_SERVER_HINT = (
    "start one (`make server`, or `mlflow server --backend-store-uri postgresql://... "
    "--artifacts-destination ...`) and pass tracking=server tracking.uri=http://HOST:PORT, "
    "or use tracking=mlflow (a local SQLite store)"
)


def _dataset_refs(run: Any) -> tuple[DatasetRef, ...]:
    """The run's MLflow dataset inputs as `DatasetRef`s (in the order they were logged)."""
    inputs = getattr(run, "inputs", None)
    out = []
    for entry in getattr(inputs, "dataset_inputs", None) or []:
        data = entry.dataset
        try:
            source = json.loads(data.source).get("uri", data.source)
        except (ValueError, AttributeError):
            source = data.source
        context = next((t.value for t in entry.tags if t.key == "mlflow.data.context"), "")
        profile = json.loads(data.profile) if data.profile else {}
        out.append(DatasetRef(data.name, data.digest, str(source), context, profile))
    return tuple(out)


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


def validate_namespace(namespace: str) -> str:
    """Check that `namespace` can prefix experiment and registered model names."""
    if not _NAMESPACE_RE.match(namespace):
        raise ValueError(
            f"namespace {namespace!r} must be letters, digits, '_', '.' or '-' (e.g. 'alice')"
        )
    return namespace


def is_server_uri(uri: str) -> bool:
    """Say whether `uri` names a tracking server (`http://` or `https://`)."""
    return uri.startswith(("http://", "https://"))


def _probe_server(uri: str) -> None:
    """Raise `TrackingError` when nothing answers at `uri` (refused, unknown host, timeout);
    an HTTP or TLS answer is left to the MLflow client (auth, proxies, certificates)."""
    import ssl
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=_PROBE_TIMEOUT_S):
            return
    except HTTPError:
        return
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLError) or not isinstance(reason, OSError):
            return
        why = reason.strerror or str(reason)
    except (TimeoutError, ConnectionError) as exc:
        why = str(exc) or type(exc).__name__
    raise TrackingError(
        f"cannot reach the MLflow tracking server at {uri} ({why}): {START_SERVER_HINT}"
    )


def _artifact_location(uri: str, artifact_root: str | Path | None) -> str | None:
    """Return the artifact root new experiments get, as a URI (None: the server decides).

    A local path is made absolute; against a tracking server a relative one is refused: every
    machine would resolve it in its own working directory, and no other could read it back.
    """
    if artifact_root is None:
        return None
    root = str(artifact_root)
    if _URI_SCHEME_RE.match(root):  # s3://, file:///, mlflow-artifacts:/ ...
        return root.rstrip("/")
    if is_server_uri(uri) and not Path(root).is_absolute():
        raise TrackingError(
            f"artifact root {root!r} is a relative path but {uri} is a tracking server: set "
            "tracking.artifact_root=null (the server keeps artifacts: tracking=server), or an "
            "absolute path or URI every machine reaches"
        )
    return Path(root).resolve().as_uri()


def sqlite_path(uri: str) -> Path | None:
    """Return the database file of a `sqlite:///` URI, else None."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///").partition("?")[0])


def _is_locked_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _LOCKED_MARKERS)


def _is_insert_race(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(marker in text for marker in _INSERT_RACE_MARKERS)


def _retry(fn: Callable[[], T], attempts: int = 10, *, idempotent: bool = False) -> T:
    """Call `fn`, retrying with jittered backoff while SQLite says the database is locked;
    an `idempotent` call is also retried when another process inserted the same row first
    (MLflow reads, then inserts: two processes logging one dataset to one experiment, or
    setting one experiment tag, race on the unique key; the retry finds the row)."""
    delay = 0.05
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except Exception as exc:
            retry = _is_locked_error(exc) or (idempotent and _is_insert_race(exc))
            if attempt == attempts or not retry:
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


def _literal(value: str) -> str | None:
    """Quote `value` for an MLflow filter string; None when it cannot be quoted safely (the
    caller then filters in Python)."""
    if "'" in value or "\\" in value:
        return None
    return f"'{value}'"


def _filter_string(tags: Mapping[str, str], status: RunStatus | None, parent: str | None) -> str:
    """The MLflow filter for what `find_runs` can ask the store directly."""
    clauses = []
    for key, value in tags.items():
        literal = _literal(value)
        if literal is not None and "`" not in key:
            clauses.append(f"tags.`{key}` = {literal}")
    if status is not None:
        clauses.append(f"attributes.status = '{status.value}'")
    if parent is not None and _literal(parent) is not None:
        clauses.append(f"tags.`{_PARENT_TAG}` = {_literal(parent)}")
    return " and ".join(clauses)


def _is_missing(exc: BaseException) -> bool:
    return getattr(exc, "error_code", None) == "RESOURCE_DOES_NOT_EXIST"


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

    def log_table(self, frame: Any, artifact_file: str) -> None:
        check_table_file(artifact_file)
        _retry(lambda: self._client.log_table(self.run_id, data=frame, artifact_file=artifact_file))

    def _log_series(self, key: str, values: Sequence[float], steps: Sequence[int]) -> None:
        from mlflow.entities import Metric

        stamp = _now_ms()
        items = [Metric(key, float(v), stamp, int(t)) for v, t in zip(values, steps, strict=True)]
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

    def log_inputs(self, inputs: Sequence[DatasetRef]) -> None:
        """Log each dataset as an MLflow dataset input (the runs table's Dataset column)."""
        from mlflow.entities import Dataset, DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        entries = [
            DatasetInput(
                Dataset(
                    name=ref.name,
                    digest=ref.digest,
                    source_type="local",
                    source=json.dumps({"uri": ref.source}),
                    profile=json.dumps(dict(ref.profile), default=str) if ref.profile else None,
                ),
                tags=[InputTag(MLFLOW_DATASET_CONTEXT, ref.context)],
            )
            for ref in inputs
        ]
        if entries:
            _retry(lambda: self._client.log_inputs(self.run_id, datasets=entries), idempotent=True)

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
    """Tracker backed by an MLflow tracking store (default: local SQLite file).

    `uri`: `sqlite:///` file (relative: to the working directory) or `http(s)://` tracking
    server. `artifact_root`: where new experiments keep artifacts (None: the server decides;
    a server needs None, an absolute path or a URI every machine reaches). `namespace`: the
    experiments of this tracker are `<namespace>/<family>` on the store and its
    registered models `<namespace>.tradelab.<family>.<target>`; it reads no others (None: the
    experiments outside any namespace).
    """

    def __init__(
        self,
        uri: str = "sqlite:///mlruns/mlflow.db",
        artifact_root: str | Path | None = "mlruns/artifacts",
        *,
        busy_timeout_s: float = 60.0,
        heartbeat_s: float | None = None,
        namespace: str | None = None,
    ) -> None:
        self.uri = normalize_sqlite_uri(uri, busy_timeout_s)
        self.heartbeat_s = heartbeat_s
        self.namespace = None if namespace is None else validate_namespace(namespace)
        self.artifact_root = _artifact_location(self.uri, artifact_root)
        self._experiment_ids: dict[str, str] = {}  # family or address -> experiment id
        self._warned_legacy = False
        self.client = self._open_store()

    def _open_store(self) -> Any:
        """Create the client; a new SQLite schema is created once, under a file lock, even
        when several processes start together; a tracking server must answer."""
        from mlflow import MlflowClient

        db = sqlite_path(self.uri)
        if db is None:
            if is_server_uri(self.uri):
                _probe_server(self.uri)
                # against a server MLflow prints two "View run" lines to stdout (after an extra
                # request) each time a run ends, every trial of a sweep, and a progress bar for
                # each artifact read back: quiet unless the user asked for them
                os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
                os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
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

    def stored_name(self, experiment: str) -> str:
        """Return the store's experiment of address `experiment` (`wfo/SMH` or a family
        `wfo`): the family, with the namespace."""
        family = experiment.split("/", 1)[0]
        return f"{self.namespace}/{family}" if self.namespace else family

    def _strip_namespace(self, stored: str) -> str | None:
        """A store's experiment name without this tracker's namespace; None when it lies in
        another namespace (or outside this tracker's)."""
        if not self.namespace:
            return stored
        prefix = f"{self.namespace}/"
        return stored.removeprefix(prefix) if stored.startswith(prefix) else None

    def _own_name(self, stored: str) -> str | None:
        """Return the family a store's experiment holds, None when it is not one of this
        tracker's (another namespace, another tool's experiment, an older layout)."""
        name = self._strip_namespace(stored)
        return name if name is not None and FAMILY_RE.match(name) else None

    def experiment_id(self, name: str) -> str:
        """Return the id of the experiment holding address `name` (`wfo/SMH`), creating (or
        restoring) it when needed, and list the target among the experiment's tags."""
        family, _, target = name.partition("/")
        exp_id = self._family_id(family)
        if target and name not in self._experiment_ids:
            tag = f"{TARGETS_TAG_PREFIX}{target}"
            _retry(lambda: self.client.set_experiment_tag(exp_id, tag, "true"), idempotent=True)
            self._experiment_ids[name] = exp_id
        return exp_id

    def _family_id(self, family: str) -> str:
        if family in self._experiment_ids:
            return self._experiment_ids[family]
        from mlflow.exceptions import MlflowException

        stored = self.stored_name(family)
        exp = _retry(lambda: self.client.get_experiment_by_name(stored))
        if exp is None:
            location = None
            if self.artifact_root is not None:
                location = f"{self.artifact_root}/{stored}"
            try:
                exp_id = _retry(
                    lambda: self.client.create_experiment(
                        stored, artifact_location=location, tags=_EXPERIMENT_TAGS
                    )
                )
            except MlflowException as exc:
                if "RESOURCE_ALREADY_EXISTS" not in str(
                    exc.error_code
                ) and "already exists" not in str(exc):
                    raise
                exp = _retry(lambda: self.client.get_experiment_by_name(stored))
                assert exp is not None
                exp_id = exp.experiment_id
        else:
            exp_id = exp.experiment_id
            self._check_not_moved(stored, str(exp.artifact_location or ""))
            if exp.lifecycle_stage == "deleted":
                _retry(lambda: self.client.restore_experiment(exp_id))
        self._experiment_ids[family] = exp_id
        return exp_id

    def _check_not_moved(self, stored: str, recorded: str) -> None:
        """Refuse to log into an experiment whose recorded artifact folder is gone while the
        configured one holds its files: the store was moved, and MLflow would write (and the
        UI read) at the old path."""
        if self.artifact_root is None:
            return
        expected = f"{self.artifact_root}/{stored}"
        if moved_artifacts(recorded, expected):
            where = sqlite_path(self.uri) or self.uri
            raise TrackingError(
                f"the MLflow store {where} was moved: experiment {stored!r} records its "
                f"artifacts in {file_uri_path(recorded)}, which is gone, and they are in "
                f"{file_uri_path(expected)}: run `tradelab-runs relocate` (same tracking "
                "settings) to point the store's records there"
            )

    def relocate(self) -> list[Relocation]:
        """Point this local store's artifact records at `artifact_root` after the store was
        moved (`tracking.relocate.relocate_artifacts`)."""
        db = sqlite_path(self.uri)
        if db is None or self.artifact_root is None:
            raise TrackingError(
                f"{self.uri} is not a local SQLite store with an artifact root: only such a "
                "store's records can be relocated (a tracking server keeps its artifacts)"
            )
        self._experiment_ids.clear()
        return relocate_artifacts(db, self.artifact_root)

    def _create_run(self, experiment_id: str, name: str, tags: Mapping[str, str]) -> str:
        """Create a run carrying `tags` and the tags of this process (one call: a run never
        exists without saying where it runs)."""
        all_tags = {**with_process(tags), _RUN_NAME_TAG: name}
        run = _retry(lambda: self.client.create_run(experiment_id, tags=all_tags, run_name=name))
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
        inherited = {str(k): str(v)[:8000] for k, v in (tags or {}).items()}
        inherited.update(address_tags(experiment))
        exp_id = self.experiment_id(experiment)
        shown = f"{inherited[TARGET_TAG]} {run_name or 'job'}"
        run_id = self._create_run(exp_id, shown, inherited)
        job = MlflowJob(self, run_id, experiment, exp_id, inherited)
        try:
            if params:
                job.log_params(params)
            if config is not None:
                job.log_dict(dict(config), "config.yaml")
        except BaseException as exc:
            job.__exit__(type(exc), exc, None)
            raise
        return self._beating(job)

    # -- read side -----------------------------------------------------------------------
    def _family(self, experiment_id: str) -> str:
        for name, known in self._experiment_ids.items():
            if known == experiment_id and "/" not in name:
                return name
        stored = str(_retry(lambda: self.client.get_experiment(experiment_id)).name)
        return self._own_name(stored) or stored

    def _record(self, run: Any, family: str | None = None) -> RunRecord:
        tags = dict(run.data.tags)
        family = family or self._family(run.info.experiment_id)
        target = tags.get(TARGET_TAG)
        name = run.info.run_name or tags.get(_RUN_NAME_TAG, "")
        if target is not None and _PARENT_TAG not in tags:
            name = name.removeprefix(f"{target} ")  # the store shows the target; the address has it
        return RunRecord(
            run_id=run.info.run_id,
            experiment=family if target is None else f"{family}/{target}",
            name=name,
            status=RunStatus(run.info.status),
            start_time=int(run.info.start_time or 0),
            parent_id=tags.get(_PARENT_TAG),
            params=dict(run.data.params),
            metrics=dict(run.data.metrics),
            tags={k: v for k, v in tags.items() if not k.startswith(_SYSTEM_TAG_PREFIX)},
            inputs=_dataset_refs(run),
        )

    def targets(self, family: str) -> list[str]:
        exp = _retry(lambda: self.client.get_experiment_by_name(self.stored_name(family)))
        if exp is None or exp.lifecycle_stage == "deleted":
            return []
        return sorted(
            key.removeprefix(TARGETS_TAG_PREFIX)
            for key in exp.tags
            if key.startswith(TARGETS_TAG_PREFIX)
        )

    def find_runs(
        self,
        experiment: str,
        *,
        tags: Mapping[str, Any] | None = None,
        status: RunStatus | str | None = None,
        parent: str | None = None,
        top_level: bool = False,
        limit: int | None = None,
    ) -> list[RunRecord]:
        wanted, state = check_query(tags, status, parent, top_level, limit)
        family = validate_experiment_name(experiment).split("/", 1)[0]
        wanted[TARGET_TAG] = address_tags(experiment)[TARGET_TAG]
        exp = _retry(lambda: self.client.get_experiment_by_name(self.stored_name(family)))
        if exp is None or exp.lifecycle_stage == "deleted":
            return []
        query = _filter_string(wanted, state, parent)
        out: list[RunRecord] = []
        token = None
        while True:
            size = _PAGE if limit is None or top_level else min(_PAGE, limit - len(out))
            page = _retry(
                lambda t=token, n=size: self.client.search_runs(
                    [exp.experiment_id],
                    filter_string=query,
                    order_by=["attributes.start_time DESC"],
                    max_results=n,
                    page_token=t,
                )
            )
            for run in page:
                record = self._record(run, family)
                if matches(record, tags=wanted, status=state, parent=parent, top_level=top_level):
                    out.append(record)
                    if limit is not None and len(out) >= limit:
                        return out
            token = page.token
            if not token:
                return out

    def get_run(self, run_id: str) -> RunRecord:
        from mlflow.exceptions import MlflowException

        try:
            run = _retry(lambda: self.client.get_run(run_id))
        except MlflowException as exc:
            if _is_missing(exc):
                raise KeyError(f"no run {run_id!r}") from exc
            raise
        return self._record(run)

    def list_artifacts(self, run_id: str) -> list[str]:
        self.get_run(run_id)  # KeyError for an unknown run
        out: list[str] = []
        folders: list[str | None] = [None]
        while folders:
            folder = folders.pop()
            for item in _retry(lambda f=folder: self.client.list_artifacts(run_id, f)):
                if item.is_dir:
                    folders.append(item.path)
                else:
                    out.append(item.path)
        return sorted(out)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        self.get_run(run_id)  # KeyError for an unknown run
        history = _retry(lambda: self.client.get_metric_history(run_id, key))
        return sorted((int(m.step), float(m.value)) for m in history)

    def load_text(self, run_id: str, artifact_file: str) -> str:
        self.get_run(run_id)  # KeyError for an unknown run
        folder = str(Path(artifact_file).parent)
        listed = _retry(
            lambda: self.client.list_artifacts(run_id, None if folder == "." else folder)
        )
        if not any(item.path == artifact_file and not item.is_dir for item in listed):
            raise FileNotFoundError(f"run {run_id} has no artifact {artifact_file!r}")
        with tempfile.TemporaryDirectory() as tmp:
            local = _retry(lambda: self.client.download_artifacts(run_id, artifact_file, tmp))
            return Path(local).read_text()

    def _experiments(self) -> dict[str, str]:
        """Return {id: family} of every active experiment of this tracker (warning once when
        the store also holds experiments of the older one-per-target layout)."""
        found: dict[str, str] = {}
        legacy: list[str] = []
        token = None
        while True:
            page = _retry(
                lambda t=token: self.client.search_experiments(max_results=_PAGE, page_token=t)
            )
            for e in page:
                if (name := self._own_name(e.name)) is not None:
                    found[e.experiment_id] = name
                elif _LAYOUT_TAG not in e.tags and self._legacy_address(e.name) is not None:
                    legacy.append(e.name)
            token = page.token
            if not token:
                break
        if legacy and not self._warned_legacy:
            self._warned_legacy = True
            log.warning(
                "the MLflow store %s holds %d experiment(s) of the older one-per-target layout "
                "(%s): tradelab no longer reads them (promotion, reports, repair); they stay "
                "in the UI. Keep that store for them and give new runs a fresh one (README, "
                "Tracking)",
                self.uri,
                len(legacy),
                ", ".join(sorted(legacy)[:3]) + (", ..." if len(legacy) > 3 else ""),
            )
        return found

    def _legacy_address(self, stored: str) -> str | None:
        """The address (`wfo/SMH`) of an experiment of the older layout, else None."""
        name = self._strip_namespace(stored)
        if name is None:
            return None
        try:
            return validate_experiment_name(name)
        except ValueError:
            return None

    def running_runs(self) -> list[RunRecord]:
        names = self._experiments()
        ids = sorted(names)
        out: list[RunRecord] = []
        for start in range(0, len(ids), 100):  # a search takes a bounded list of experiments
            token = None
            while True:
                page = _retry(
                    lambda t=token, chunk=ids[start : start + 100]: self.client.search_runs(
                        chunk,
                        filter_string=f"attributes.status = '{RunStatus.RUNNING.value}'",
                        max_results=_PAGE,
                        page_token=t,
                    )
                )
                out += [self._record(run, names[run.info.experiment_id]) for run in page]
                token = page.token
                if not token:
                    break
        return sorted(out, key=lambda r: r.start_time, reverse=True)

    def end_run(
        self, run_id: str, status: RunStatus | str, *, tags: Mapping[str, Any] | None = None
    ) -> bool:
        from mlflow.entities import RunTag

        if self.get_run(run_id).status is not RunStatus.RUNNING:
            return False
        items = [RunTag(str(k), str(v)[:8000]) for k, v in (tags or {}).items()]
        if items:
            _retry(lambda: self.client.log_batch(run_id, tags=items))
        _retry(lambda: self.client.set_terminated(run_id, RunStatus(status).value))
        return True
