"""Walk-forward optimization of the ATR-D family: data, strategies, grids, phases, runner.

data = WfoData.from_frames(store.get("SMH", "1day"), symbol="SMH")
spec = strategy_from_config(strategy_config)            # typed settings: wfo.settings
grid = grid_for_strategy(grid_from_config(grid_config), spec)
phases = phases_from_config(phases_config, data.timestamps)
cache = wfo_cache_dir("results", "SMH", spec.name, "phase1_slim-default")
result = run_wfo(data, spec, grid, phases, cache_dir=cache)
"""

from __future__ import annotations

from tradelab.wfo.cache import load_phase_dir
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import ComboResult, evaluate_combos, short_atr_period, trace_combos
from tradelab.wfo.phases import Phase, phases_from_config, resolve_phases
from tradelab.wfo.reference import ReferenceRun, simulate_reference
from tradelab.wfo.runner import (
    DEFAULT_CHUNK_SIZE,
    PhaseResult,
    WfoResult,
    run_wfo,
    summarize_phase,
    wfo_cache_dir,
)
from tradelab.wfo.strategy import (
    KIND_PARAMS,
    SHARED_FIELDS,
    ParamSpec,
    StrategyKind,
    StrategySpec,
    expand_strategy,
    expanded_specs,
    grid_for_strategy,
    grid_from_config,
    strategy_from_config,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "KIND_PARAMS",
    "SHARED_FIELDS",
    "ComboResult",
    "ParamSpec",
    "Phase",
    "PhaseResult",
    "ReferenceRun",
    "StrategyKind",
    "StrategySpec",
    "WfoData",
    "WfoResult",
    "evaluate_combos",
    "expand_strategy",
    "expanded_specs",
    "grid_for_strategy",
    "grid_from_config",
    "load_phase_dir",
    "phases_from_config",
    "resolve_phases",
    "run_wfo",
    "short_atr_period",
    "simulate_reference",
    "strategy_from_config",
    "summarize_phase",
    "trace_combos",
    "wfo_cache_dir",
]
