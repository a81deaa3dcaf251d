"""Experiment tracking: a `Tracker` makes jobs (parent runs) whose children are trials, and
reads back what they logged as `RunRecord`s."""

from __future__ import annotations

from tradelab.tracking.base import (
    DIAGNOSTICS,
    IN_SAMPLE,
    OUT_OF_SAMPLE,
    VALIDITY,
    DatasetRef,
    Job,
    RunRecord,
    RunStatus,
    StaleRun,
    Tracker,
    grouped,
    validate_experiment_name,
    validity,
)
from tradelab.tracking.lineage import Lineage
from tradelab.tracking.memory_tracker import MemoryTracker

__all__ = [
    "DIAGNOSTICS",
    "IN_SAMPLE",
    "OUT_OF_SAMPLE",
    "VALIDITY",
    "DatasetRef",
    "Job",
    "Lineage",
    "MemoryTracker",
    "RunRecord",
    "RunStatus",
    "StaleRun",
    "Tracker",
    "grouped",
    "make_tracker",
    "validate_experiment_name",
    "validity",
]


def make_tracker(
    backend: str = "mlflow",
    uri: str = "sqlite:///mlruns/mlflow.db",
    artifact_root: str | None = "mlruns/artifacts",
    busy_timeout_s: float = 60.0,
    heartbeat_s: float | None = None,
    namespace: str | None = None,
) -> Tracker:
    """Build the tracker a config names (`mlflow` or `memory`); its jobs beat every
    `heartbeat_s` (None: no heartbeat). `namespace`: see `MlflowTracker`."""
    if backend == "memory":
        return MemoryTracker(heartbeat_s=heartbeat_s)
    if backend == "mlflow":
        from tradelab.tracking.mlflow_tracker import MlflowTracker

        return MlflowTracker(
            uri,
            artifact_root,
            busy_timeout_s=busy_timeout_s,
            heartbeat_s=heartbeat_s,
            namespace=namespace,
        )
    raise ValueError(f"unknown tracking backend {backend!r}: use 'mlflow' or 'memory'")
