"""Tracking settings (`conf/tracking/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["TrackingBackend", "TrackingConfig"]


class TrackingBackend(StrEnum):
    mlflow = "mlflow"
    memory = "memory"


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are recorded.

    `uri` is an MLflow tracking URI; a relative `sqlite:///` path is relative to the working
    directory. `artifact_root` is the folder new experiments keep their artifacts in (null: the
    tracking server decides). `max_trial_runs` caps child runs per job for exhaustive grids;
    the full trials table is always an artifact.
    """

    backend: TrackingBackend = TrackingBackend.mlflow
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: str | None = "mlruns/artifacts"
    busy_timeout_s: float = 60.0
    max_trial_runs: int = 200
