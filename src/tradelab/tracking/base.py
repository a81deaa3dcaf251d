"""The tracking contract: a job is a parent run; trials, phases and plateaus are child runs.

Library code receives a `Tracker` (or a `Job`) and never touches MLflow's global active run.
The write side starts jobs and logs into them; the read side (`targets`, `find_runs`,
`get_run`, `list_artifacts`, `load_text`, `load_dict`) answers with backend-neutral
`RunRecord`s, so code that reads what was tracked (promotion) runs on every backend.

Every run records the process that runs it and every job beats a heartbeat
(`tradelab.tracking.liveness`); `Tracker.repair_runs` ends FAILED the RUNNING runs whose process
is gone (`running_runs` and `end_run` are what each backend provides for it).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import math
import re
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from tradelab.tracking.liveness import (
    REPAIRED_TAG,
    Heartbeat,
    ProcessId,
    heartbeat_tags,
    process_gone,
    process_tags,
    staleness,
)

__all__ = [
    "CURVE_POINTS",
    "DIAGNOSTICS",
    "FAMILY_TAG",
    "IN_SAMPLE",
    "OUT_OF_SAMPLE",
    "TABLE_ROWS",
    "TARGET_TAG",
    "VALIDITY",
    "DatasetRef",
    "Job",
    "RunRecord",
    "RunStatus",
    "StaleRun",
    "Tracker",
    "address_tags",
    "flat_params",
    "grouped",
    "validate_experiment_name",
    "validity",
]

CURVE_POINTS = 250
"""Most points `Job.log_curve` keeps of a curve: each of 124 buckets' lowest and highest point,
plus the first and the last, so a chart still shows every drawdown; each point is a row MLflow
writes (about 0.15 ms on SQLite)."""

TABLE_ROWS = 500
"""Rows of a table logged for the UI's preview (`Job.log_table`); whole tables go to Parquet."""

DIAGNOSTICS = "diagnostics/"
"""Prefix of the metrics that describe the run rather than its results (timings, throughput):
MLflow's UI groups metrics by their `/` prefix, so they sit apart from the research numbers."""

IN_SAMPLE = "is/"
OUT_OF_SAMPLE = "oos/"
VALIDITY = "validity/"
"""Prefixes of the research metrics in the tracking store, which MLflow's UI groups its charts
and columns on: in-sample and out-of-sample results (`oos/pnl_phase1`), and the overfitting
statistics of a sweep or study (`validity/pbo`, `validity/deflated_sharpe`)."""


def _bucket_extremes(y: np.ndarray, max_points: int) -> np.ndarray:
    """Sorted indices of `y`'s first and last point and of the lowest and highest finite point
    in each of `(max_points - 2) // 2` equal buckets of the points between: at most
    `max_points` (min-max decimation)."""
    finite = np.where(np.isfinite(y), y, np.nan)
    buckets = max(1, (max_points - 2) // 2)
    edges = np.linspace(1, y.size - 1, buckets + 1).round().astype(np.int64)
    keep = [0, y.size - 1]
    for lo, hi in itertools.pairwise(edges):
        part = finite[lo:hi]
        if hi > lo and not np.isnan(part).all():
            keep += [lo + int(np.nanargmin(part)), lo + int(np.nanargmax(part))]
    return np.unique(np.asarray(keep, dtype=np.int64))


def grouped(metrics: Mapping[str, float]) -> dict[str, float]:
    """`metrics` under the store's prefixes: `is_<x>` is `is/<x>`, `oos_<x>` is `oos/<x>`;
    other names as they are."""
    out = {}
    for key, value in metrics.items():
        for bare, prefix in (("is_", IN_SAMPLE), ("oos_", OUT_OF_SAMPLE)):
            if key.startswith(bare):
                key = prefix + key[len(bare) :]
                break
        out[key] = value
    return out


def validity(statistics: Mapping[str, float]) -> dict[str, float]:
    """The overfitting statistics (`tradelab.robustness.sweep_statistics`) under `validity/`."""
    return {VALIDITY + key: value for key, value in statistics.items()}


FAMILY_TAG = "family"
TARGET_TAG = "target"
"""Every run carries the family and the target of its experiment address (`wfo/SMH`) as these
tags: a store groups one family's targets in one experiment and tells them apart by tag."""

_EXPERIMENT_RE = re.compile(r"^[a-z][a-z0-9_]*/[A-Za-z0-9][A-Za-z0-9._\-]*$")
FAMILY_RE = re.compile(r"^[a-z][a-z0-9_]*$")


class RunStatus(StrEnum):
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"


@dataclass(frozen=True)
class DatasetRef:
    """Data a run read, as MLflow's Dataset column shows it: `name` (`SMH/1day`), `digest`
    (the dataset's content hash), `source` (where it lives), `context` (`training`, `eval`)
    and a small `profile` (rows, first and last session, ...)."""

    name: str
    digest: str
    source: str
    context: str = "training"
    profile: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """A tracked run as the read side returns it: a snapshot taken when it was read.

    `start_time` is in milliseconds since the epoch; `metrics` holds each metric's value at
    its latest step; `tags` are the run's own tags (a backend's bookkeeping tags, such as
    MLflow's `mlflow.*`, are left out: `parent_id` and `name` say what they say).
    """

    run_id: str
    experiment: str
    name: str
    status: RunStatus
    start_time: int
    parent_id: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    inputs: tuple[DatasetRef, ...] = ()


def matches(
    record: RunRecord,
    *,
    tags: Mapping[str, str] | None = None,
    status: RunStatus | None = None,
    parent: str | None = None,
    top_level: bool = False,
) -> bool:
    """Say whether `record` passes the filters of `Tracker.find_runs`."""
    if status is not None and record.status != status:
        return False
    if parent is not None and record.parent_id != parent:
        return False
    if top_level and record.parent_id is not None:
        return False
    return all(record.tags.get(k) == v for k, v in (tags or {}).items())


def check_query(
    tags: Mapping[str, Any] | None,
    status: RunStatus | str | None,
    parent: str | None,
    top_level: bool,
    limit: int | None,
) -> tuple[dict[str, str], RunStatus | None]:
    """Validate the filters of `Tracker.find_runs`; return the tags as strings and the status."""
    if parent is not None and top_level:
        raise ValueError("find_runs: `parent` and `top_level` exclude each other")
    if limit is not None and limit < 1:
        raise ValueError(f"find_runs: limit must be at least 1, got {limit}")
    clean = {str(k): str(v) for k, v in (tags or {}).items()}
    return clean, None if status is None else RunStatus(status)


def validate_experiment_name(name: str) -> str:
    """Check that an experiment is named `<family>/<target>` (e.g. `wfo/SMH`)."""
    if not _EXPERIMENT_RE.match(name):
        raise ValueError(
            f"experiment name {name!r} must be '<family>/<target>', e.g. 'wfo/SMH' or "
            "'kalman_pairs/DIA-SPY'"
        )
    return name


def address_tags(experiment: str) -> dict[str, str]:
    """The `family` and `target` tags of the runs of experiment address `experiment`."""
    family, target = validate_experiment_name(experiment).split("/", 1)
    return {FAMILY_TAG: family, TARGET_TAG: target}


@dataclass(frozen=True)
class StaleRun:
    """A RUNNING run whose process no longer runs, and why (the `tradelab.repaired` tag)."""

    run: RunRecord
    reason: str


def with_process(tags: Mapping[str, str]) -> dict[str, str]:
    """Return `tags` plus the tags recording this process (host, pid, start time)."""
    return {**tags, **process_tags(ProcessId.current())}


def status_for_exception(exc: BaseException | None) -> RunStatus:
    """Map how a block ended to the status its run should get."""
    if exc is None:
        return RunStatus.FINISHED
    if isinstance(exc, KeyboardInterrupt):
        return RunStatus.KILLED
    if isinstance(exc, SystemExit):
        return RunStatus.FINISHED if exc.code in (None, 0) else RunStatus.KILLED
    return RunStatus.FAILED


def flat_params(
    config: Mapping[str, Any], *, skip: tuple[str, ...] = (), prefix: str = ""
) -> dict[str, Any]:
    """Flatten a nested config into dotted keys (`strategy.params.atr_period.default`), the
    params a runs table filters on. Top-level keys in `skip`, `description` leaves (prose)
    and empty values (None, {}) are left out; lists stay one value."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if (not prefix and key in skip) or key == "description" or value is None:
            continue
        if isinstance(value, Mapping):
            out.update(flat_params(value, prefix=f"{name}."))
        else:
            out[name] = value
    return out


def check_table_file(artifact_file: str) -> None:
    """A table artifact is JSON (the layout the MLflow UI previews)."""
    if not artifact_file.endswith(".json"):
        raise ValueError(f"table artifact {artifact_file!r}: name it *.json")


def clean_params(params: Mapping[str, Any]) -> dict[str, str]:
    """Turn parameter values into the strings a tracking store keeps (None is not logged:
    an absent param says it, the string "None" would be a value)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        if isinstance(value, float):
            text = repr(value)
        elif isinstance(value, list | tuple | dict):
            text = json.dumps(value, default=str)
        else:
            text = str(value)
        out[str(key)] = text[:6000]
    return out


def clean_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Turn metric values into floats; None is dropped, NaN kept (a real outcome)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if value is None:
            continue
        number = float(value)
        if math.isinf(number):
            number = math.copysign(1.7976931348623157e308, number)
        out[str(key)] = number
    return out


class Job(ABC):
    """One tracked run. Use as a context manager: an exception ends it FAILED, Ctrl-C KILLED."""

    run_id: str
    experiment: str

    def __init__(self, inherited_tags: Mapping[str, str] | None = None) -> None:
        self._ended = False
        self._heartbeat: Heartbeat | None = None
        self.inherited_tags: dict[str, str] = dict(inherited_tags or {})

    # -- what an implementation provides -------------------------------------------------
    @abstractmethod
    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters (values become strings)."""

    @abstractmethod
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Record metrics in one round trip."""

    @abstractmethod
    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set tags on this run."""

    @abstractmethod
    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Copy a local file (or folder) into this run's artifacts."""

    @abstractmethod
    def log_text(self, text: str, artifact_file: str) -> None:
        """Store `text` as the artifact `artifact_file`."""

    @abstractmethod
    def log_table(self, frame: Any, artifact_file: str) -> None:
        """Store a DataFrame as a table artifact the UI previews (`.json`, pandas' "split"
        layout, as `mlflow.log_table` writes it)."""

    @abstractmethod
    def log_inputs(self, inputs: Sequence[DatasetRef]) -> None:
        """Record the data this run read (each dataset once, in order)."""

    @abstractmethod
    def _log_series(self, key: str, values: Sequence[float], steps: Sequence[int]) -> None:
        """Record metric `key` at each of `steps` (ascending), in as few round trips as the
        backend allows."""

    @abstractmethod
    def _start_child(self, name: str, tags: dict[str, str]) -> Job:
        """Create a nested run."""

    @abstractmethod
    def _terminate(self, status: RunStatus) -> None:
        """Mark the run ended with `status`."""

    @abstractmethod
    def log_trial(
        self,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        """Record one trial as a finished child run; return its id."""

    # -- shared behaviour ----------------------------------------------------------------
    def child(self, name: str, *, tags: Mapping[str, Any] | None = None) -> Job:
        """Start a nested run (a WFO phase, a plateau, ...) carrying this run's lineage tags."""
        merged = {**self.inherited_tags, **{k: str(v) for k, v in (tags or {}).items()}}
        return self._start_child(name, merged)

    def log_curve(
        self,
        key: str,
        values: Sequence[float] | np.ndarray,
        *,
        steps: Sequence[int] | np.ndarray | None = None,
        max_points: int = CURVE_POINTS,
    ) -> int:
        """Log a curve (an equity curve: the value after each bar) as the steps of metric
        `key`, which the MLflow UI draws; `steps` default to 0, 1, ... A longer curve keeps at
        most `max_points`: the first and the last, and the lowest and the highest point of each
        of `(max_points - 2) // 2` equal buckets between them, so a drawdown shorter than a
        bucket is still drawn. Non-finite values are dropped. Return the number of points
        logged."""
        y = np.asarray(values, dtype=np.float64).reshape(-1)
        x = np.arange(y.size) if steps is None else np.asarray(steps, dtype=np.int64).reshape(-1)
        if x.shape != y.shape:
            raise ValueError(f"curve {key!r}: {x.size} steps for {y.size} values")
        if y.size > max_points:
            keep = _bucket_extremes(y, max_points)
            x, y = x[keep], y[keep]
        finite = np.isfinite(y)
        if finite.any():
            self._log_series(key, y[finite].tolist(), x[finite].tolist())
        return int(finite.sum())

    def log_dict(self, obj: Any, artifact_file: str) -> None:
        """Store a JSON- or YAML-serialisable object (format from the file suffix)."""
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            text = yaml.safe_dump(obj, sort_keys=False)
        else:
            text = json.dumps(obj, indent=2, default=str)
        self.log_text(text, artifact_file)

    def log_figure(self, figure: Any, artifact_file: str) -> None:
        """Save a matplotlib figure as an artifact."""
        with tempfile.TemporaryDirectory() as tmp:
            target = Path(tmp) / Path(artifact_file).name
            figure.savefig(target, dpi=110, bbox_inches="tight")
            parent = str(Path(artifact_file).parent)
            self.log_artifact(target, None if parent == "." else parent)

    def start_heartbeat(self, interval_s: float) -> None:
        """Refresh the `tradelab.heartbeat` tag every `interval_s` until the run ends."""
        if self._heartbeat is None and not self._ended:
            self._heartbeat = Heartbeat(
                interval_s, lambda: self.set_tags(heartbeat_tags()), f"heartbeat-{self.run_id}"
            )

    def end(self, status: RunStatus | str = RunStatus.FINISHED) -> None:
        """End the run once (its heartbeat stops first); later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        if self._heartbeat is not None:
            self._heartbeat.stop()
        self._terminate(RunStatus(status))

    @property
    def ended(self) -> bool:
        return self._ended

    def __enter__(self) -> Job:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        status = status_for_exception(exc)
        if status is not RunStatus.FINISHED and exc is not None and not self._ended:
            # the status set below matters more than the message
            with contextlib.suppress(Exception):
                self.set_tags({"error": f"{type(exc).__name__}: {exc}"[:5000]})
        self.end(status)
        return False


class Tracker(ABC):
    """Creates jobs and reads back what they logged. One implementation per backend; all pass
    the suite of `tradelab.testing.tracker_contract`.

    `heartbeat_s`: seconds between the heartbeats of each job (None: no heartbeat).
    """

    heartbeat_s: float | None = None

    def _beating(self, job: Job) -> Job:
        """Start `job`'s heartbeat when this tracker has one; return the job."""
        if self.heartbeat_s is not None:
            job.start_heartbeat(self.heartbeat_s)
        return job

    @abstractmethod
    def start_job(
        self,
        experiment: str,
        run_name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Job:
        """Start a parent run in `experiment` (`<family>/<target>`, created when missing).

        `tags` go on the run and on every child it starts (lineage); `config`, when given, is
        stored as the artifact `config.yaml`.
        """

    # -- read side -----------------------------------------------------------------------
    @abstractmethod
    def targets(self, family: str) -> list[str]:
        """Return the targets that have an experiment `<family>/<target>`, sorted."""

    @abstractmethod
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
        """Return the runs of `experiment` that match every filter, newest first.

        `tags`: runs carrying each of these tag values; `status`: runs in that state;
        `parent`: children of that run; `top_level`: jobs only (runs without a parent);
        `limit`: at most that many. An unknown experiment has no runs.
        """

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """Return run `run_id`; raise `KeyError` when there is no such run."""

    @abstractmethod
    def list_artifacts(self, run_id: str) -> list[str]:
        """Return the paths of every artifact file of `run_id` (folders walked), sorted."""

    @abstractmethod
    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        """Return every (step, value) of metric `key` of `run_id`, by step (empty: none)."""

    @abstractmethod
    def load_text(self, run_id: str, artifact_file: str) -> str:
        """Return the artifact `artifact_file` of `run_id` as text; raise `FileNotFoundError`
        when the run has no such artifact."""

    def load_dict(self, run_id: str, artifact_file: str) -> Any:
        """Return an artifact written by `Job.log_dict` (format from the file suffix)."""
        text = self.load_text(run_id, artifact_file)
        if artifact_file.endswith((".yaml", ".yml")):
            import yaml

            return yaml.safe_load(text)
        return json.loads(text)

    # -- runs left RUNNING by a dead process -----------------------------------------------
    @abstractmethod
    def running_runs(self) -> list[RunRecord]:
        """Return every RUNNING run of every experiment, newest first."""

    @abstractmethod
    def end_run(
        self, run_id: str, status: RunStatus | str, *, tags: Mapping[str, Any] | None = None
    ) -> bool:
        """End a run this process holds no `Job` of: set `tags`, then `status`. Return False
        (changing nothing) when the run is no longer RUNNING; raise `KeyError` for no such run."""

    def stale_runs(
        self,
        *,
        stale_after_s: float,
        now: float | None = None,
        gone: Callable[[ProcessId], str | None] = process_gone,
    ) -> list[StaleRun]:
        """Return the RUNNING runs whose process no longer runs (`liveness.staleness`), children
        first; a child whose parent is RUNNING shares the parent's fate."""
        running = self.running_runs()
        by_id = {r.run_id: r for r in running}
        here, clock = ProcessId.current(), time.time() if now is None else now
        verdicts: dict[str, str | None] = {}

        def verdict(run: RunRecord) -> str | None:
            if run.run_id not in verdicts:
                verdicts[run.run_id] = None  # a parent loop (never made by a Job) stays put
                parent = by_id.get(run.parent_id) if run.parent_id else None
                if parent is not None:
                    why = verdict(parent)
                    reason = None if why is None else f"parent run {parent.run_id}: {why}"
                else:
                    reason = staleness(
                        run.tags,
                        run.start_time,
                        stale_after_s=stale_after_s,
                        now=clock,
                        here=here,
                        gone=gone,
                    )
                verdicts[run.run_id] = reason
            return verdicts[run.run_id]

        def depth(run: RunRecord) -> int:
            seen, node = 0, run
            while node.parent_id in by_id and seen < len(by_id):
                node, seen = by_id[node.parent_id], seen + 1
            return seen

        stale = [StaleRun(r, why) for r in running if (why := verdict(r)) is not None]
        return sorted(stale, key=lambda s: depth(s.run), reverse=True)

    def repair_runs(
        self,
        *,
        stale_after_s: float,
        now: float | None = None,
        gone: Callable[[ProcessId], str | None] = process_gone,
    ) -> list[StaleRun]:
        """End FAILED every stale run (`stale_runs`, children before their parents), tagged
        `tradelab.repaired` with the reason; return those it ended."""
        repaired = []
        for item in self.stale_runs(stale_after_s=stale_after_s, now=now, gone=gone):
            tags = {REPAIRED_TAG: item.reason[:5000]}
            if self.end_run(item.run.run_id, RunStatus.FAILED, tags=tags):
                repaired.append(item)
        return repaired
