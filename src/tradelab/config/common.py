"""Schemas shared by every app: paths and tracking."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["PathsConfig", "TrackingBackend", "TrackingConfig"]


@dataclass
class PathsConfig:
    """Where things live, relative to the working directory unless absolute."""

    root_dir: str = "."
    data_dir: str = "${paths.root_dir}/data"
    raw_dir: str = "${paths.data_dir}/raw"
    store_dir: str = "${paths.data_dir}/store"
    results_dir: str = "${paths.root_dir}/results"
    reports_dir: str = "${paths.root_dir}/reports"
    production_dir: str = "${paths.root_dir}/conf/production"
    deploy_dir: str = "${paths.root_dir}/production"
    cache_dir: str = "${paths.root_dir}/.cache/tradelab"


class TrackingBackend(StrEnum):
    mlflow = "mlflow"
    memory = "memory"


@dataclass
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
