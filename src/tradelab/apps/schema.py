"""Hydra schemas of the apps, derived from the domain packages' frozen settings.

Hydra's structured configs must be mutable while Hydra composes them, and the domain settings
are frozen; `hydra_schema(cls)` derives a mutable twin of a settings dataclass (same fields,
same defaults, `tuple` fields as lists, required fields as `???`), so each default is defined
once, in its domain package. Primary configs start with `defaults: [<app>_schema, ...]`; a
group option starts with `defaults: [<option>_schema, _self_]`, so an unknown key or a wrong
type fails at compose time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import types
import typing
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from tradelab.data.settings import DATA_SOURCES, UniverseConfig
from tradelab.forecast.settings import (
    BaselinesModelConfig,
    ForecastStudyConfig,
    KronosEnsembleModelConfig,
    KronosModelConfig,
    TotoModelConfig,
)
from tradelab.promotion.rules import Gates
from tradelab.promotion.settings import DEFAULT_GATES, PromotionConfig
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import GridSearchConfig, OptunaSearchConfig, RandomSearchConfig
from tradelab.strategies.settings import KalmanPairsStudyConfig, KalmanResidualStudyConfig
from tradelab.tracking.settings import TrackingConfig
from tradelab.wfo.settings import (
    BiasCheckConfig,
    GridConfig,
    PhasesConfig,
    ScoringConfig,
    StrategyConfig,
    StrategyKind,
)

__all__ = [
    "AnalyzeAppConfig",
    "IngestAppConfig",
    "IngestStep",
    "PathsConfig",
    "PromoteAction",
    "PromoteAppConfig",
    "ReportAppConfig",
    "TuneAppConfig",
    "WfoAppConfig",
    "hydra_schema",
    "register_configs",
]


@functools.cache
def hydra_schema(cls: type) -> type:
    """Return a mutable dataclass Hydra can compose into, with the fields of settings `cls`."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = _twin_type(hints[f.name])
        if f.default is not dataclasses.MISSING:
            spec = _default_field(tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            spec = _default_field(tp, f.default_factory())
        else:
            spec = field(default=MISSING)
        fields.append((f.name, tp, spec))
    twin = dataclasses.make_dataclass(cls.__name__, fields)
    twin.__doc__ = cls.__doc__
    twin.__module__ = __name__
    return twin


def _twin_type(tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return hydra_schema(tp)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        twins = tuple(_twin_type(a) for a in args)
        return functools.reduce(lambda a, b: typing.Union[a, b], twins)  # noqa: UP007
    if origin in (tuple, list):
        return list[_twin_type(args[0]) if args else Any]  # type: ignore[misc]
    if origin is dict:
        return dict[str, _twin_type(args[1])]  # type: ignore[misc]
    return tp


def _default_field(tp: Any, value: Any) -> Any:
    twin = _twin_value(value)
    if isinstance(twin, list | dict) or dataclasses.is_dataclass(twin):
        return field(default_factory=lambda: copy.deepcopy(twin))
    return field(default=twin)


def _twin_value(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        twin = hydra_schema(type(value))
        return twin(
            **{f.name: _twin_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    if isinstance(value, tuple | list):
        return [_twin_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _twin_value(v) for k, v in value.items()}
    return value


_Tracking = hydra_schema(TrackingConfig)
_BiasCheck = hydra_schema(BiasCheckConfig)
_Gates = hydra_schema(Gates)


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


@dataclass
class _AppConfig:
    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: _Tracking = field(default_factory=_Tracking)
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
    bias: _BiasCheck = field(default_factory=_BiasCheck)


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
class PromoteAppConfig(_AppConfig):
    """`tradelab-promote`: champion/challenger gate, registry aliases, production configs.

    `target` null promotes every target of `family` that has candidate runs. The candidate must
    beat the champion by `margin` (x |champion| when `relative_margin`, else absolute).
    """

    family: str = "wfo"
    target: str | None = None
    action: PromoteAction = PromoteAction.promote
    margin: float = PromotionConfig.margin
    relative_margin: bool = PromotionConfig.relative_margin
    gates: _Gates = field(default_factory=lambda: _twin_value(DEFAULT_GATES))


@dataclass
class ReportAppConfig(_AppConfig):
    """`tradelab-report`: the run summary of a pipeline, from results/, metrics/, production/."""

    title: str = "tradelab pipeline run"
    metrics_dir: str = "metrics"


_APPS: dict[str, type] = {
    "ingest": IngestAppConfig,
    "wfo": WfoAppConfig,
    "tune": TuneAppConfig,
    "analyze": AnalyzeAppConfig,
    "promote": PromoteAppConfig,
    "report": ReportAppConfig,
}

# group -> option -> settings class (each option file starts with `<option>_schema`; the
# group's name itself is a generic schema for new option files)
_GROUPS: dict[str, dict[str, type]] = {
    "tracking": {"tracking": TrackingConfig},
    "search": {
        "grid": GridSearchConfig,
        "random": RandomSearchConfig,
        "optuna": OptunaSearchConfig,
    },
    "data": dict(DATA_SOURCES),
    "universe": {"universe": UniverseConfig},
    "strategy": {"strategy": StrategyConfig, **{k.value: StrategyConfig for k in StrategyKind}},
    "grid": {name: GridConfig for name in ("grid", "phase1_slim", "smoke", "single", "full")},
    "phases": {name: PhasesConfig for name in ("phases", "default", "compact")},
    "scoring": {"v4": ScoringConfig},
    "robustness": {"default": RobustnessConfig},
    "study": {
        "kalman_residual": KalmanResidualStudyConfig,
        "kalman_pairs": KalmanPairsStudyConfig,
        "forecast": ForecastStudyConfig,
    },
    "model": {
        "toto": TotoModelConfig,
        "kronos": KronosModelConfig,
        "kronos_ensemble": KronosEnsembleModelConfig,
        "baselines": BaselinesModelConfig,
    },
}

_registered = False


def register_configs() -> None:
    """Store app and group schemas in Hydra's ConfigStore (idempotent)."""
    global _registered
    if _registered:
        return
    cs = ConfigStore.instance()
    for name, node in _APPS.items():
        cs.store(name=f"{name}_schema", node=node)
    cs.store(group="paths", name="paths_schema", node=PathsConfig)
    for group, options in _GROUPS.items():
        for name, cls in options.items():
            cs.store(group=group, name=f"{name}_schema", node=hydra_schema(cls))
    _registered = True
