"""`tradelab-tune`: Kalman residual and pairs studies, forecast tuning.

One MLflow experiment per target (`kalman_residual/RIOT`, `kalman_pairs/DIA-SPY`,
`forecast/AAPL`), a parent run per (target, search), a child run per trial; the best trial is
tagged `candidate=true` for promotion. The study's `kind` picks the job (`tradelab.jobs`);
this app only turns the composed config into the jobs' typed settings. Optuna studies with
`search.storage=auto` live in `optuna/<family>.journal` beside the MLflow store.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig

from tradelab.apps._runtime import (
    data_store,
    hydra_overrides,
    job_for,
    plain,
    run_hydra_app,
    settings,
    tracker_for,
)
from tradelab.apps.schema import AppConfig
from tradelab.data.settings import DATA_SOURCES, UniverseConfig
from tradelab.errors import ConfigError
from tradelab.forecast.settings import (
    MODEL_TYPES,
    ForecastStudyConfig,
    ModelConfig,
    model_config,
)
from tradelab.jobs._tune import TuneContext
from tradelab.jobs.forecast import run_forecast_job
from tradelab.jobs.kalman import run_pairs_job, run_residual_job
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import (
    GridSearchConfig,
    OptunaSearchConfig,
    RandomSearchConfig,
    SearchConfig,
    search_config,
)
from tradelab.strategies.settings import KalmanPairsStudyConfig, KalmanResidualStudyConfig
from tradelab.tracking.mlflow_tracker import sqlite_path
from tradelab.tracking.settings import TrackingBackend, TrackingConfig

__all__ = ["GROUPS", "TuneAppConfig", "main", "model_configs", "optuna_dir", "run"]


@dataclass
class TuneAppConfig(AppConfig):
    """`tradelab-tune`: tune a Kalman strategy or a forecasting model."""

    data: Any = MISSING
    universe: Any = MISSING
    study: Any = MISSING
    search: Any = MISSING
    robustness: Any = MISSING
    model: Any = None
    symbol: str | None = None
    progress: bool = True
    metrics_file: str | None = None
    fetch: bool = True


GROUPS: dict[str, dict[str, type]] = {
    "data": dict(DATA_SOURCES),
    "universe": {"universe": UniverseConfig},
    "study": {
        "kalman_residual": KalmanResidualStudyConfig,
        "kalman_pairs": KalmanPairsStudyConfig,
        "forecast": ForecastStudyConfig,
    },
    "model": {t.value: cls for t, cls in MODEL_TYPES.items()},
    "search": {
        "grid": GridSearchConfig,
        "random": RandomSearchConfig,
        "optuna": OptunaSearchConfig,
    },
    "robustness": {"default": RobustnessConfig},
}


def optuna_dir(tracking: TrackingConfig, root_dir: str | Path) -> Path | None:
    """Where `search.storage=auto` keeps Optuna journals: `optuna/` beside the MLflow store
    (its SQLite file or local folder), `<root_dir>/mlruns/optuna` for a tracking server; None
    (memory) when runs are not stored."""
    if tracking.backend == TrackingBackend.memory:
        return None
    uri = tracking.uri
    db = sqlite_path(uri)
    if db is not None:
        folder = db.parent
    elif uri.startswith("file:") or "://" not in uri:
        folder = Path(uri.removeprefix("file://").removeprefix("file:"))
    else:
        folder = Path(root_dir) / "mlruns"
    return (folder / "optuna").absolute()


def _context(cfg: DictConfig) -> TuneContext:
    tracking = settings(TrackingConfig, cfg.tracking, "tracking")
    tracker = tracker_for(cfg)
    return TuneContext(
        store=data_store(cfg),
        open_job=functools.partial(job_for, tracker, cfg),
        results_dir=Path(cfg.paths.results_dir),
        metrics_file=Path(cfg.metrics_file) if cfg.metrics_file else None,
        max_trial_runs=tracking.max_trial_runs,
        progress=bool(cfg.progress),
        optuna_dir=optuna_dir(tracking, cfg.paths.root_dir),
        tracker=tracker,
    )


def _search(cfg: DictConfig) -> SearchConfig:
    return search_config(plain(cfg.search), "search")


def _residual(cfg: DictConfig) -> float:
    study = settings(KalmanResidualStudyConfig, cfg.study, "study")
    search = _search(cfg)
    robustness = settings(RobustnessConfig, cfg.robustness, "robustness")
    universe = settings(UniverseConfig, cfg.universe, "universe")
    return run_residual_job(
        _context(cfg), study, search, robustness, symbol=cfg.symbol, universe=universe
    )


def _pairs(cfg: DictConfig) -> float:
    study = settings(KalmanPairsStudyConfig, cfg.study, "study")
    search = _search(cfg)
    robustness = settings(RobustnessConfig, cfg.robustness, "robustness")
    universe = settings(UniverseConfig, cfg.universe, "universe")
    return run_pairs_job(_context(cfg), study, search, robustness, universe=universe)


def model_configs(cfg: DictConfig, names: Sequence[str]) -> list[ModelConfig]:
    """The chosen model's settings, or those of every model `names` (conf/model/), composed
    with this job's other overrides so their interpolations resolve alike."""
    if cfg.model is not None:
        return [model_config(plain(cfg.model), "model")]
    from hydra import compose

    keep = [o for o in hydra_overrides() if not o.lstrip("+~").startswith("model")]
    out = []
    for name in names:
        composed = compose(config_name="tune", overrides=[*keep, f"model={name}"])
        out.append(model_config(plain(composed.model), "model"))
    return out


def _forecast(cfg: DictConfig) -> float:
    study = settings(ForecastStudyConfig, cfg.study, "study")
    search = _search(cfg)
    if not isinstance(search, OptunaSearchConfig):
        raise ConfigError(
            "search", f"study=forecast tunes with Optuna: use search=optuna, not {search.kind}"
        )
    models = model_configs(cfg, study.models)
    return run_forecast_job(
        _context(cfg), study, search, models, chosen=cfg.model is not None, symbol=cfg.symbol
    )


_JOBS: dict[str, Callable[[DictConfig], float]] = {
    "kalman_residual": _residual,
    "kalman_pairs": _pairs,
    "forecast": _forecast,
}


def run(cfg: DictConfig) -> float:
    """Run the configured study; return its headline number (for Hydra sweepers)."""
    kind = str(cfg.study.kind)
    if kind not in _JOBS:
        raise ConfigError("study.kind", f"unknown study {kind!r}; use one of {sorted(_JOBS)}")
    return _JOBS[kind](cfg)


main = run_hydra_app("tune", run, TuneAppConfig, GROUPS)

if __name__ == "__main__":
    main()
