"""In-memory tracker for unit tests: same contract as MLflow (write and read side), no I/O."""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelab.tracking.base import (
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
    with_process,
)

__all__ = ["MemoryJob", "MemoryRun", "MemoryTracker"]

_ids = itertools.count(1)


def _now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class MemoryRun:
    """A run as the memory tracker holds it (mutable: tests inspect it; `record()` snapshots)."""

    run_id: str
    experiment: str
    name: str
    parent_id: str | None
    status: RunStatus = RunStatus.RUNNING
    start_time: int = field(default_factory=_now_ms)
    seq: int = 0  # creation order: breaks start-time ties (runs started in the same millisecond)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)

    def record(self) -> RunRecord:
        """Return a snapshot of this run for the read side."""
        return RunRecord(
            run_id=self.run_id,
            experiment=self.experiment,
            name=self.name,
            status=self.status,
            start_time=self.start_time,
            parent_id=self.parent_id,
            params=dict(self.params),
            metrics=dict(self.metrics),
            tags=dict(self.tags),
            inputs=tuple(self.inputs),
        )


class MemoryJob(Job):
    def __init__(
        self, tracker: MemoryTracker, run: MemoryRun, inherited: Mapping[str, str]
    ) -> None:
        super().__init__(inherited)
        self._tracker = tracker
        self.run = run
        self.run_id = run.run_id
        self.experiment = run.experiment

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.run.params.update(clean_params(params))

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        for key, value in clean_metrics(metrics).items():
            history = self.run.metric_history.setdefault(key, [])
            if not history or (step or 0) >= max(s for s, _ in history):
                self.run.metrics[key] = value  # the latest step's value, as MLflow keeps it
            history.append((step or 0, value))

    def log_table(self, frame: Any, artifact_file: str) -> None:
        check_table_file(artifact_file)
        text = frame.to_json(orient="split", index=False, date_format="iso")
        self.run.artifacts[artifact_file] = text.encode()

    def _log_series(self, key: str, values: Sequence[float], steps: Sequence[int]) -> None:
        history = self.run.metric_history.setdefault(key, [])
        history.extend((int(t), float(v)) for t, v in zip(steps, values, strict=True))
        self.run.metrics[key] = max(history, key=lambda point: point[0])[1]

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self.run.tags.update({str(k): str(v) for k, v in tags.items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact {source} does not exist")
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )
        for file in files:
            rel = file.name if source.is_file() else f"{source.name}/{file.relative_to(source)}"
            key = f"{artifact_path}/{rel}" if artifact_path else rel
            self.run.artifacts[key] = file.read_bytes()

    def log_text(self, text: str, artifact_file: str) -> None:
        self.run.artifacts[artifact_file] = text.encode()

    def log_inputs(self, inputs: Sequence[DatasetRef]) -> None:
        for ref in inputs:
            if ref not in self.run.inputs:
                self.run.inputs.append(ref)

    def _start_child(self, name: str, tags: dict[str, str]) -> Job:
        run = self._tracker._new_run(self.experiment, name, self.run_id, tags)
        return MemoryJob(self._tracker, run, tags)

    def log_trial(
        self,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        merged = {**self.inherited_tags, **{k: str(v) for k, v in (tags or {}).items()}}
        run = self._tracker._new_run(self.experiment, name or "trial", self.run_id, merged)
        run.params.update(clean_params(params))
        run.metrics.update(clean_metrics(metrics))
        run.status = RunStatus.FINISHED
        return run.run_id

    def _terminate(self, status: RunStatus) -> None:
        self.run.status = status


class MemoryTracker(Tracker):
    """Keeps runs in a dict; `runs()` lets tests inspect what a job logged."""

    def __init__(self, *, heartbeat_s: float | None = None) -> None:
        self._runs: dict[str, MemoryRun] = {}
        self.heartbeat_s = heartbeat_s

    def _new_run(
        self, experiment: str, name: str, parent_id: str | None, tags: Mapping[str, str]
    ) -> MemoryRun:
        seq = next(_ids)
        run = MemoryRun(
            f"mem{seq:06d}", experiment, name, parent_id, tags=with_process(tags), seq=seq
        )
        self._runs[run.run_id] = run
        return run

    def start_job(
        self,
        experiment: str,
        run_name: str | None = None,
        *,
        tags: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
        config: Mapping[str, Any] | None = None,
    ) -> Job:
        inherited = {str(k): str(v) for k, v in (tags or {}).items()}
        inherited.update(address_tags(experiment))
        run = self._new_run(experiment, run_name or "job", None, inherited)
        job = MemoryJob(self, run, inherited)
        if params:
            job.log_params(params)
        if config is not None:
            job.log_dict(dict(config), "config.yaml")
        return self._beating(job)

    def runs(self, experiment: str | None = None) -> list[MemoryRun]:
        """Return recorded runs, optionally of one experiment, in creation order."""
        return [r for r in self._runs.values() if experiment is None or r.experiment == experiment]

    def get(self, run_id: str) -> MemoryRun:
        """Return the live record of run `run_id` (tests inspect and may edit it)."""
        return self._runs[run_id]

    # -- read side -----------------------------------------------------------------------
    def targets(self, family: str) -> list[str]:
        prefix = f"{family}/"
        return sorted(
            {
                r.experiment.removeprefix(prefix)
                for r in self._runs.values()
                if r.experiment.startswith(prefix)
            }
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
        newest = sorted(
            (r for r in self._runs.values() if r.experiment == experiment),
            key=lambda r: (r.start_time, r.seq),
            reverse=True,
        )
        out = []
        for run in newest:
            record = run.record()
            if matches(record, tags=wanted, status=state, parent=parent, top_level=top_level):
                out.append(record)
                if limit is not None and len(out) >= limit:
                    break
        return out

    def get_run(self, run_id: str) -> RunRecord:
        return self._run(run_id).record()

    def list_artifacts(self, run_id: str) -> list[str]:
        return sorted(self._run(run_id).artifacts)

    def metric_history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted(self._run(run_id).metric_history.get(key, []))

    def load_text(self, run_id: str, artifact_file: str) -> str:
        artifacts = self._run(run_id).artifacts
        if artifact_file not in artifacts:
            raise FileNotFoundError(f"run {run_id} has no artifact {artifact_file!r}")
        return artifacts[artifact_file].decode()

    def _run(self, run_id: str) -> MemoryRun:
        if run_id not in self._runs:
            raise KeyError(f"no run {run_id!r}")
        return self._runs[run_id]

    def running_runs(self) -> list[RunRecord]:
        running = [r for r in self._runs.values() if r.status is RunStatus.RUNNING]
        running.sort(key=lambda r: (r.start_time, r.seq), reverse=True)
        return [r.record() for r in running]

    def end_run(
        self, run_id: str, status: RunStatus | str, *, tags: Mapping[str, Any] | None = None
    ) -> bool:
        run = self._run(run_id)
        if run.status is not RunStatus.RUNNING:
            return False
        run.tags.update({str(k): str(v) for k, v in (tags or {}).items()})
        run.status = RunStatus(status)
        return True
