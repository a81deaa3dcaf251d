"""Tracking settings (`conf/tracking/*.yaml`)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tradelab.errors import ConfigError

__all__ = ["TrackingBackend", "TrackingConfig"]


class TrackingBackend(StrEnum):
    mlflow = "mlflow"
    memory = "memory"


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are recorded.

    `uri` is an MLflow tracking URI: a `sqlite:///` file (relative: to the working directory)
    or a shared tracking server, `http://host:port` (`tracking=server`: `mlflow server` on
    PostgreSQL with proxied artifacts). `artifact_root` is the folder new experiments keep
    their artifacts in (null: the tracking server decides and proxies them; a server refuses a
    relative folder, which every machine would resolve in its own working directory).
    `namespace` (null: none) keeps this user's or CI job's experiments (`<namespace>/wfo/SMH`)
    and registered models (`<namespace>.tradelab.wfo.SMH`) apart on a shared server: the apps
    see only those of their namespace. `max_trial_runs` caps the trial child runs of a Kalman
    study (its best trials): each run costs about 20 ms on SQLite, more than such a trial costs
    to evaluate; every trial is in the study run's `trials/score` curve and trials table.

    Runs left RUNNING by a process that died (`kill -9`, a lost machine) are ended FAILED with a
    `tradelab.repaired` tag at the start of every app (`repair_on_start`) and by `tradelab-runs
    repair`: a run of this host when its process is gone, a run of another host when its last
    heartbeat is older than `stale_after_s`. Every job beats every `heartbeat_s` (null: never;
    runs of other hosts are then judged by their start time).
    """

    backend: TrackingBackend = TrackingBackend.mlflow
    uri: str = "sqlite:///mlruns/mlflow.db"
    artifact_root: str | None = "mlruns/artifacts"
    busy_timeout_s: float = 60.0
    max_trial_runs: int = 10
    heartbeat_s: float | None = 60.0
    stale_after_s: float = 1800.0
    repair_on_start: bool = True
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.namespace is not None:
            from tradelab.tracking.mlflow_tracker import validate_namespace

            try:
                validate_namespace(self.namespace)
            except ValueError as exc:
                raise ConfigError("tracking.namespace", str(exc)) from None
        if self.heartbeat_s is not None and self.heartbeat_s <= 0:
            raise ConfigError("tracking.heartbeat_s", "must be > 0 (null: no heartbeat)")
        if self.stale_after_s <= 0:
            raise ConfigError("tracking.stale_after_s", "must be > 0")
        if self.heartbeat_s is not None and self.stale_after_s <= 2 * self.heartbeat_s:
            raise ConfigError(
                "tracking.stale_after_s",
                f"must exceed two heartbeats ({2 * self.heartbeat_s:g} s), or live runs of "
                "other hosts would be ended",
            )
