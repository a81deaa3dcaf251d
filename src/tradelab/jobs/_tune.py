"""What the `tradelab-tune` jobs share: how a job opens tracked runs, where data, results and
Optuna studies live, and the metrics files DVC reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from tradelab.atomic import write_metrics_json
from tradelab.data import ParquetStore
from tradelab.errors import DataError
from tradelab.jobs.base import OpenJob
from tradelab.search import resolve_storage
from tradelab.search.settings import OptunaSearchConfig, SearchConfig
from tradelab.tracking import DatasetRef, Job, RunStatus, Tracker
from tradelab.tracking.settings import TrackingConfig

__all__ = ["STUDY_TAG", "OpenJob", "TrialRunsOnce", "TuneContext", "load_bars", "write_metrics"]

STUDY_TAG = "optuna_study"  # the tag naming the Optuna study of a trial run
_Search = TypeVar("_Search", bound=SearchConfig)


@dataclass(frozen=True)
class TuneContext:
    """Where a tune job reads and writes, and how it records runs.

    `results_dir` receives `<study>/<target>/`; `metrics_file` (None: none) the headline
    metrics per target that `dvc metrics show` reads; `max_trial_runs` caps the child runs per
    job; `progress` shows progress bars. `optuna_dir` holds a journal per family, where Optuna
    studies with `storage: auto` live (None: in memory); `tracker` (the one `open_job` writes
    to) lets a resumed study skip the trial runs finished jobs already hold.
    """

    store: ParquetStore
    open_job: OpenJob
    results_dir: Path
    metrics_file: Path | None = None
    max_trial_runs: int = TrackingConfig.max_trial_runs
    progress: bool = True
    optuna_dir: Path | None = None
    tracker: Tracker | None = None

    def search_for(self, search: _Search, family: str) -> _Search:
        """Return `search` with `storage: auto` made the family's journal in `optuna_dir`."""
        if not isinstance(search, OptunaSearchConfig):
            return search
        journal = None if self.optuna_dir is None else self.optuna_dir / f"{family}.journal"
        return dataclasses.replace(search, storage=resolve_storage(search.storage, journal))

    def trial_runs_once(self, job: Job) -> Job:
        """Wrap `job` so that it logs each Optuna trial run once (`TrialRunsOnce`)."""
        return job if self.tracker is None else TrialRunsOnce(job, self.tracker)


class TrialRunsOnce(Job):
    """A job that logs each trial of an Optuna study once across the runs of the study.

    A trial run (a child tagged `optuna_study`) that a finished job already holds under the
    same name (`trial <k>`, the k-th evaluated trial) is not logged again: `log_trial` returns
    the held run's id. Trial runs under a job that did not finish (killed, failed) do not
    count: the job that completes the study logs them again, so every finished job's trials
    are complete. Everything else goes to the wrapped job.
    """

    def __init__(
        self, inner: Job, tracker: Tracker, held: dict[str, dict[str, str]] | None = None
    ) -> None:
        super().__init__(inner.inherited_tags)
        self._inner = inner
        self._tracker = tracker
        self._held = {} if held is None else held  # study -> {trial run name: run id}
        self._finished: dict[str, bool] = {}
        self.run_id = inner.run_id
        self.experiment = inner.experiment

    def log_params(self, params: Mapping[str, Any]) -> None:
        self._inner.log_params(params)

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        self._inner.log_metrics(metrics, step)

    def log_table(self, frame: Any, artifact_file: str) -> None:
        self._inner.log_table(frame, artifact_file)

    def _log_series(self, key: str, values: Sequence[float], steps: Sequence[int]) -> None:
        self._inner.log_curve(key, values, steps=steps, max_points=len(values))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._inner.set_tags(tags)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._inner.log_artifact(path, artifact_path)

    def log_text(self, text: str, artifact_file: str) -> None:
        self._inner.log_text(text, artifact_file)

    def log_inputs(self, inputs: Sequence[DatasetRef]) -> None:
        self._inner.log_inputs(inputs)

    def _start_child(self, name: str, tags: dict[str, str]) -> Job:
        child = self._inner.child(name, tags=tags)
        return TrialRunsOnce(child, self._tracker, self._held)

    def _terminate(self, status: RunStatus) -> None:
        self._inner.end(status)

    def log_trial(
        self,
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        *,
        name: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> str:
        study = str((tags or {}).get(STUDY_TAG) or "")
        held = self._held_runs(study).get(name or "") if study else None
        if held is not None:
            return held
        return self._inner.log_trial(params, metrics, name=name, tags=tags)

    def _held_runs(self, study: str) -> dict[str, str]:
        """{trial run name: run id} of `study` that finished jobs hold (read once)."""
        if study not in self._held:
            runs = self._tracker.find_runs(
                self.experiment, tags={STUDY_TAG: study}, status=RunStatus.FINISHED
            )
            held: dict[str, str] = {}
            for run in sorted(runs, key=lambda r: r.start_time):
                if run.parent_id is not None and self._finished_line(run.parent_id):
                    held.setdefault(run.name, run.run_id)
            self._held[study] = held
        return self._held[study]

    def _finished_line(self, run_id: str) -> bool:
        """Say whether run `run_id` and every run above it finished."""
        if run_id not in self._finished:
            run = self._tracker.get_run(run_id)
            self._finished[run_id] = run.status == RunStatus.FINISHED and (
                run.parent_id is None or self._finished_line(run.parent_id)
            )
        return self._finished[run_id]


def load_bars(store: ParquetStore, symbol: str, timeframe: str) -> pd.DataFrame:
    """Read one symbol's bars, with a hint when the store lacks them."""
    try:
        return store.get(symbol, timeframe)
    except DataError as exc:
        raise DataError(f"{exc} (run tradelab-ingest first, or check the symbol)") from exc


def write_metrics(path: Path | None, metrics: dict[str, Any]) -> None:
    """Write `metrics` as sorted JSON to `path` (nothing when None; unchanged files kept)."""
    if path is not None:
        write_metrics_json(path, metrics, sort_keys=True)
