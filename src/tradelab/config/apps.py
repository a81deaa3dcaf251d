"""Primary schemas, one per app. Group fields are `Any`: each option brings its own schema."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from omegaconf import MISSING

from tradelab.config.common import PathsConfig, TrackingConfig

__all__ = [
    "AnalyzeAppConfig",
    "BiasCheckConfig",
    "IngestAppConfig",
    "IngestStep",
    "PromoteAction",
    "PromoteAppConfig",
    "PromotionGatesConfig",
    "ReportAppConfig",
    "TuneAppConfig",
    "WfoAppConfig",
]


@dataclass
class _AppConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    seed: int = 7


class IngestStep(StrEnum):
    all = "all"
    raw = "raw"
    ingest = "ingest"
    bars = "bars"


@dataclass
class IngestAppConfig(_AppConfig):
    """`tradelab-ingest`: generate or read raw data, validate it, fill the Parquet store.

    `step`: `raw` writes the synthetic flat files, `ingest` fills the 1min/1day datasets,
    `bars` derives the other `timeframes`; `all` does the three.
    """

    data: Any = MISSING
    universe: Any = MISSING
    step: IngestStep = IngestStep.all
    symbols: list[str] = field(default_factory=list)
    timeframes: list[str] = field(default_factory=lambda: ["5min", "1day"])
    offline: bool = False
    progress: bool = True


@dataclass
class BiasCheckConfig:
    """`check=bias`: combinations sampled, look-ahead cut points, extra history for the warmup
    comparison (bars), relative tolerance of indicator differences, sampling seed (null: the
    job's seed)."""

    n_combos: int = 16
    n_cuts: int = 3
    extra_bars: int = 500
    tolerance: float = 0.05
    seed: int | None = None


@dataclass
class WfoAppConfig(_AppConfig):
    """`tradelab-wfo`: walk-forward sweep of one strategy family on one symbol (or pair).

    `expand`: also run the variant's simpler ancestors. `rescore`: rescore cached phase results
    without running kernels. `check=bias`: run the look-ahead and warmup checks instead.
    `log_phase_tables`: full per-phase tables as Parquet artifacts. `max_candidates`: child
    runs tagged for promotion (the best combination and each plateau's best).
    """

    data: Any = MISSING
    symbol: str = "SMH"
    symbol2: str | None = None
    strategy: Any = MISSING
    grid: Any = MISSING
    phases: Any = MISSING
    search: Any = MISSING
    scoring: Any = MISSING
    robustness: Any = MISSING
    rescore: bool = False
    check: str | None = None
    expand: bool = True
    log_phase_tables: bool = True
    max_candidates: int = 5
    progress: bool = True
    metrics_file: str | None = None
    bias: BiasCheckConfig = field(default_factory=BiasCheckConfig)


@dataclass
class TuneAppConfig(_AppConfig):
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


@dataclass
class AnalyzeAppConfig(_AppConfig):
    """`tradelab-analyze`: rank refinement results into the Excel workbook."""

    symbol: str = "SMH"
    input_dir: str | None = None
    top: int = 50


class PromoteAction(StrEnum):
    promote = "promote"
    rollback = "rollback"


@dataclass
class PromotionGatesConfig:
    """Gates a candidate must pass (null disables one; a metric the sweep did not log skips its
    gate unless `require_overfitting_stats` demands PBO and deflated Sharpe)."""

    min_trades: float | None = 10
    max_drawdown: float | None = 0.35
    min_phases_valid: float | None = 3
    max_pbo: float | None = 0.5
    min_deflated_sharpe: float | None = 0.95
    require_overfitting_stats: bool = False


@dataclass
class PromoteAppConfig(_AppConfig):
    """`tradelab-promote`: champion/challenger gate, registry aliases, production configs.

    `target` null promotes every target of `family` that has candidate runs. The candidate must
    beat the champion by `margin` (x |champion| when `relative_margin`, else absolute).
    """

    family: str = "wfo"
    target: str | None = None
    action: PromoteAction = PromoteAction.promote
    margin: float = 0.0
    relative_margin: bool = True
    gates: PromotionGatesConfig = field(default_factory=PromotionGatesConfig)


@dataclass
class ReportAppConfig(_AppConfig):
    """`tradelab-report`: the run summary of a pipeline, from results/, metrics/, production/."""

    title: str = "tradelab pipeline run"
    metrics_dir: str = "metrics"
