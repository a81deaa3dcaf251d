"""`tradelab-runs`: the runs that crashed processes left RUNNING, and a moved store.

    tradelab-runs repair    end them FAILED, tagged `tradelab.repaired` with the reason
    tradelab-runs list      show every RUNNING run and whether its process still runs
    tradelab-runs relocate  after moving a local store (mlruns/: database and artifacts),
                            point its artifact records at `tracking.artifact_root`

A run of this host is stale when its process is gone; a run of another host when its heartbeat
is older than `tracking.stale_after_s` (see `tradelab.tracking.liveness`). Every app repairs at
its start as well (`tracking.repair_on_start`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from omegaconf import DictConfig

from tradelab.apps._runtime import run_hydra_app, settings, tracker_for
from tradelab.apps.schema import AppConfig
from tradelab.errors import ConfigError
from tradelab.tracking.mlflow_tracker import MlflowTracker
from tradelab.tracking.settings import TrackingConfig


class RunsAction(StrEnum):
    repair = "repair"
    list = "list"
    relocate = "relocate"


@dataclass
class RunsAppConfig(AppConfig):
    """`tradelab-runs`: `repair` ends FAILED the runs crashed processes left RUNNING; `list`
    shows every RUNNING run and why it is stale, changing nothing; `relocate` points a moved
    local store's artifact records at `tracking.artifact_root`."""

    action: RunsAction = RunsAction.repair


def _list(cfg: DictConfig) -> int:
    """Print every RUNNING run, stale or not; return how many are stale."""
    limit = _stale_after_s(cfg)
    tracker = tracker_for(cfg)
    stale = {s.run.run_id: s.reason for s in tracker.stale_runs(stale_after_s=limit)}
    running = tracker.running_runs()
    for run in running:
        verdict = f"STALE {stale[run.run_id]}" if run.run_id in stale else "running"
        print(f"{run.run_id}  {run.experiment}  {run.name}: {verdict}")
    print(f"{len(running)} run(s) RUNNING, {len(stale)} stale: `tradelab-runs repair` ends them")
    return len(stale)


def _stale_after_s(cfg: DictConfig) -> float:
    return settings(TrackingConfig, cfg.tracking, "tracking").stale_after_s


def _relocate(cfg: DictConfig) -> int:
    """Point a moved store's artifact records at the configured root; return how many
    records changed."""
    tracker = tracker_for(cfg)
    if not isinstance(tracker, MlflowTracker):
        raise ConfigError("tracking", "relocate needs an MLflow store (tracking=mlflow)")
    moves = tracker.relocate()
    for move in moves:
        print(f"{move.old} -> {move.new}: {', '.join(move.experiments)} ({move.rows} records)")
    if not moves:
        print(f"the store's records already point at {tracker.artifact_root}")
    return sum(move.rows for move in moves)


def run(cfg: DictConfig) -> int:
    """Repair (or list) the runs left RUNNING, or relocate a moved store; return how many
    runs were (or would be) ended, or records relocated."""
    if str(cfg.action) == RunsAction.list:
        return _list(cfg)
    if str(cfg.action) == RunsAction.relocate:
        return _relocate(cfg)
    repaired = tracker_for(cfg).repair_runs(stale_after_s=_stale_after_s(cfg))
    for item in repaired:
        print(f"{item.run.run_id}  {item.run.experiment}  {item.run.name}: FAILED, {item.reason}")
    print(f"{len(repaired)} run(s) left RUNNING by a dead process ended FAILED")
    return len(repaired)


_main = run_hydra_app("runs", run, RunsAppConfig, repair=False)


def main() -> Any:
    """Run `tradelab-runs [repair|list] [overrides...]`: a leading action word is read as
    `action=<word>`."""
    if len(sys.argv) > 1 and sys.argv[1] in {a.value for a in RunsAction}:
        sys.argv[1] = f"action={sys.argv[1]}"
    return _main()


if __name__ == "__main__":
    main()
