"""In-memory tracker for unit tests: same contract as MLflow, no I/O."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelab.tracking.base import (
    Job,
    RunStatus,
    Tracker,
    clean_metrics,
    clean_params,
    validate_experiment_name,
)

__all__ = ["MemoryJob", "MemoryRun", "MemoryTracker"]

_ids = itertools.count(1)


@dataclass
class MemoryRun:
    run_id: str
    experiment: str
    name: str
    parent_id: str | None
    status: RunStatus = RunStatus.RUNNING
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    metric_history: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, bytes] = field(default_factory=dict)


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
            self.run.metrics[key] = value
            self.run.metric_history.setdefault(key, []).append((step or 0, value))

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

    def __init__(self) -> None:
        self._runs: dict[str, MemoryRun] = {}

    def _new_run(
        self, experiment: str, name: str, parent_id: str | None, tags: Mapping[str, str]
    ) -> MemoryRun:
        run_id = f"mem{next(_ids):06d}"
        run = MemoryRun(run_id, experiment, name, parent_id, tags=dict(tags))
        self._runs[run_id] = run
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
        validate_experiment_name(experiment)
        inherited = {str(k): str(v) for k, v in (tags or {}).items()}
        run = self._new_run(experiment, run_name or "job", None, inherited)
        job = MemoryJob(self, run, inherited)
        if params:
            job.log_params(params)
        if config is not None:
            job.log_dict(dict(config), "config.yaml")
        return job

    def runs(self, experiment: str | None = None) -> list[MemoryRun]:
        """Return recorded runs, optionally of one experiment, in creation order."""
        return [r for r in self._runs.values() if experiment is None or r.experiment == experiment]

    def get(self, run_id: str) -> MemoryRun:
        return self._runs[run_id]
