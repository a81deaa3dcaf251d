"""Tune the Kalman pairs strategy on one pair (seed 001) and record everything through a Job.

`tune_pairs` aligns the two legs, starts the hedge filter at the configured hedge ratio (or
the OLS slope of asset_1 on asset_2), searches (the seed's 72-combination grid by default; a
batch of trials is one kernel call) and ranks the trials. The results table has the seed's
columns sorted by Sharpe descending then max drawdown ascending
(`kalman_param_optimization_results.csv`); the best trial by the objective becomes
`kalman_prod_config.json` (the seed's keys, then the pair). With a job: a child run per trial
(the best `max_trial_runs` when there are more), `trials.parquet`, both files above,
`best_equity.png`, `best_fills.csv`, and the best trial's metrics. `tune_best_pair` screens a
universe first (`cointegrated_pairs.csv`) and tunes the configured or best pair.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError, DataValidationError
from tradelab.strategies._config import coerce_config
from tradelab.strategies._io import write_csv_atomic, write_json_atomic
from tradelab.strategies._logging import log_frame, log_trials
from tradelab.strategies._robustness import study_statistics
from tradelab.strategies.cointegration import ols_hedge_ratio, screen_pairs, select_pairs
from tradelab.strategies.objectives import check_objective, rank_trials
from tradelab.strategies.pairs import (
    METRIC_COLUMNS,
    SEARCHABLE,
    PairBacktest,
    PairData,
    backtest_pair,
    evaluate_pairs,
)
from tradelab.strategies.plots import equity_figure
from tradelab.strategies.search import SearchSettings, run_search
from tradelab.strategies.settings import KalmanPairsStudyConfig
from tradelab.tracking import Job

__all__ = [
    "CONFIG_KEYS",
    "RESULT_COLUMNS",
    "PairsStudyResult",
    "choose_pair",
    "results_table",
    "save_pairs_study",
    "tune_best_pair",
    "tune_pairs",
]

RESULT_COLUMNS = [
    "window",
    "entry_z",
    "exit_z",
    "stop_z",
    "stake",
    "long_only",
    "delta",
    "R",
    "final_value",
    "total_return",
    "sharpe_ratio",
    "max_dd_pct",
    "max_dd_abs",
    "total_trades",
    "n_days",
]
CONFIG_KEYS = ["window", "entry_z", "exit_z", "stop_z", "stake", "long_only", "delta", "R",
               "initial_cash", "commission", "note"]  # fmt: skip
_LOGGED_METRICS = ("final_value", "total_return", "sharpe", "max_dd_pct", "max_dd_abs",
                   "max_drawdown", "num_trades", "win_rate", "n_days")  # fmt: skip


@dataclass
class PairsStudyResult:
    """The search of one pair: trials, the seed's results table and production config."""

    asset_1: str
    asset_2: str
    hedge_ratio: float
    n_bars: int
    trials: pd.DataFrame
    results: pd.DataFrame
    best_trial: int | None
    best_config: dict[str, Any] | None
    backtest: PairBacktest | None
    statistics: dict[str, float] = field(default_factory=dict)  # pbo, deflated_sharpe, ...


def results_table(trials: pd.DataFrame, defaults: Mapping[str, Any]) -> pd.DataFrame:
    """Return seed 001's results table: its columns, Sharpe desc then max drawdown asc."""
    frame = trials.rename(columns={"sharpe": "sharpe_ratio", "num_trades": "total_trades"})
    for name in ("window", "entry_z", "exit_z", "stop_z", "stake", "long_only", "delta", "R"):
        if name not in frame:
            frame[name] = defaults[name]
    frame = frame.astype(
        {"window": np.int64, "stake": np.int64, "long_only": bool, "total_trades": np.int64,
         "n_days": np.int64}
    )  # fmt: skip
    ordered = frame.sort_values(
        ["sharpe_ratio", "max_dd_pct"], ascending=[False, True], kind="stable"
    )
    return ordered[RESULT_COLUMNS].reset_index(drop=True)


def _production_config(
    params: Mapping[str, Any], pair: PairData, beta0: float, note: str
) -> dict[str, Any]:
    return {
        "window": int(params["window"]),
        "entry_z": float(params["entry_z"]),
        "exit_z": float(params["exit_z"]),
        "stop_z": float(params["stop_z"]),
        "stake": int(params["stake"]),
        "long_only": bool(params["long_only"]),
        "delta": float(params["delta"]),
        "R": float(params["R"]),
        "initial_cash": float(params["initial_cash"]),
        "commission": float(params["commission"]),
        "note": note,
        "asset_1": pair.asset_1,
        "asset_2": pair.asset_2,
        "hedge_ratio": float(beta0),
    }


def _check_space(space: Mapping[str, Any]) -> None:
    for name in space:
        if name not in SEARCHABLE:
            raise ConfigError(f"space.{name}", f"not searchable; use {sorted(SEARCHABLE)}")


def tune_pairs(
    closes_a: pd.Series,
    closes_b: pd.Series,
    cfg: KalmanPairsStudyConfig | Mapping[str, Any] | None = None,
    search: SearchSettings | Mapping[str, Any] | Any | None = None,
    job: Job | None = None,
    *,
    opens_a: pd.Series | None = None,
    opens_b: pd.Series | None = None,
    max_trial_runs: int = 200,
    robustness: Any = None,
) -> PairsStudyResult:
    """Search the pairs strategy on asset_1 (`closes_a`) against asset_2 (`closes_b`).

    Series are indexed by timestamp and named by ticker; opens default to the closes.
    `robustness` sets the overfitting statistics logged into the job.
    """
    config = coerce_config(KalmanPairsStudyConfig, cfg)
    objective = check_objective(str(config.objective))
    _check_space(config.space)
    settings = SearchSettings.from_config(search, default_kind="grid")
    pair = PairData.from_series(
        closes_a, closes_b, open_a=opens_a, open_b=opens_b, session_tz=config.session_tz
    )
    if config.hedge_ratio is not None:
        beta0 = float(config.hedge_ratio)
    else:
        beta0 = ols_hedge_ratio(pair.close_a, pair.close_b)[0]
    defaults = vars(config.strategy)
    backend = str(config.backend)

    def evaluate(columns: dict[str, np.ndarray]) -> pd.DataFrame:
        return evaluate_pairs(
            pair, columns, defaults=defaults, beta0=beta0, backend=backend
        ).metrics

    trials = run_search(config.space, evaluate, objective, settings)
    order = rank_trials(objective, trials)
    best = int(order[0]) if len(order) and math.isfinite(trials["score"].iloc[order[0]]) else None
    backtest = None
    best_config = None
    if best is not None:
        row = trials.iloc[best]
        params = {**defaults, **{k: row[k].item() if hasattr(row[k], "item") else row[k]
                                 for k in config.space}}  # fmt: skip
        backtest = backtest_pair(pair, params, beta0=beta0, backend=backend)
        best_config = _production_config(backtest.params, pair, beta0, config.note)
    result = PairsStudyResult(
        pair.asset_1, pair.asset_2, beta0, pair.n_bars, trials,
        results_table(trials, defaults), best, best_config, backtest,
    )  # fmt: skip
    if job is not None:
        _log_pair(job, result, list(config.space), objective, settings, pair, max_trial_runs)

    def blocks(columns: dict[str, np.ndarray], block_id: np.ndarray, n_blocks: int):
        ev = evaluate_pairs(pair, columns, defaults=defaults, beta0=beta0, backend=backend, block_id=block_id,
                            n_blocks=n_blocks)  # fmt: skip
        return ev.block_ret_sum, ev.block_ret_sq, ev.block_n

    equity = None if backtest is None else backtest.values.to_numpy(dtype=np.float64)
    result.statistics = study_statistics(trials, list(config.space), objective, pair.n_bars, blocks,
                                         config=robustness, job=job, equity=equity)  # fmt: skip
    return result


def _log_pair(
    job: Job,
    result: PairsStudyResult,
    params: list[str],
    objective: str,
    search: SearchSettings,
    pair: PairData,
    max_trial_runs: int,
) -> None:
    job.log_params(
        {
            "asset_1": result.asset_1,
            "asset_2": result.asset_2,
            "hedge_ratio": result.hedge_ratio,
            "n_bars": result.n_bars,
            "search": search.kind,
            "objective": objective,
            "n_trials": len(result.trials),
        }
    )
    log_trials(job, result.trials, params, METRIC_COLUMNS, objective, max_trial_runs)
    log_frame(job, result.trials, "trials.parquet")
    log_frame(job, result.results, "kalman_param_optimization_results.csv")
    if result.backtest is None or result.best_config is None:
        job.set_tags({"best": "none: no trial qualified"})
        return
    job.log_dict(result.best_config, "kalman_prod_config.json")
    job.log_metrics({k: result.backtest.metrics[k] for k in _LOGGED_METRICS})
    job.log_params({f"best.{k}": v for k, v in result.backtest.params.items()})
    title = f"{result.asset_1}-{result.asset_2}: best trial value"
    job.log_figure(equity_figure(pair.times, result.backtest.values.to_numpy(), title),
                   "best_equity.png")  # fmt: skip
    log_frame(job, result.backtest.fills, "best_fills.csv")


def choose_pair(
    closes: pd.DataFrame, cfg: KalmanPairsStudyConfig | Mapping[str, Any] | None = None
) -> tuple[pd.DataFrame, str, str, KalmanPairsStudyConfig]:
    """Screen `closes` (date x ticker); return the table, the configured or best selected pair,
    and the config with its starting hedge ratio taken from the screen."""
    config = coerce_config(KalmanPairsStudyConfig, cfg)
    screen = config.screen
    screened = screen_pairs(closes, pvalue_max=screen.pvalue_max, min_obs=screen.min_obs)
    if config.asset_1 and config.asset_2:
        first, second = config.asset_1, config.asset_2
        for name in (first, second):
            if name not in closes.columns:
                raise DataValidationError(f"ticker {name!r} is not in the closes", field=name)
        match = screened[(screened["asset_1"] == first) & (screened["asset_2"] == second)]
    else:
        match = select_pairs(screened, screen.max_pairs, str(screen.sort_by)).head(1)
        if match.empty:
            raise DataValidationError(
                f"no pair passed the cointegration screen (pvalue < {screen.pvalue_max})"
            )
        first, second = str(match["asset_1"].iloc[0]), str(match["asset_2"].iloc[0])
    if config.hedge_ratio is None and not match.empty:
        config = dataclasses.replace(config, hedge_ratio=float(match["hedge_ratio"].iloc[0]))
    return screened, first, second, config


def tune_best_pair(
    closes: pd.DataFrame,
    cfg: KalmanPairsStudyConfig | Mapping[str, Any] | None = None,
    search: SearchSettings | Mapping[str, Any] | Any | None = None,
    job: Job | None = None,
    *,
    max_trial_runs: int = 200,
    robustness: Any = None,
) -> tuple[pd.DataFrame, PairsStudyResult]:
    """Screen `closes` (date x ticker), then tune `asset_1`/`asset_2` or the best selected pair.

    Returns the screening table and the study; logs `cointegrated_pairs.csv` into the job.
    """
    screened, first, second, config = choose_pair(closes, cfg)
    if job is not None:
        log_frame(job, screened, "cointegrated_pairs.csv")
    study = tune_pairs(
        closes[first].rename(first), closes[second].rename(second), config, search, job,
        max_trial_runs=max_trial_runs, robustness=robustness,
    )  # fmt: skip
    return screened, study


def save_pairs_study(result: PairsStudyResult, directory: str | Path) -> list[Path]:
    """Write `kalman_param_optimization_results.csv` and `kalman_prod_config.json`."""
    folder = Path(directory)
    paths = [write_csv_atomic(result.results, folder / "kalman_param_optimization_results.csv")]
    if result.best_config is not None:
        paths.append(write_json_atomic(folder / "kalman_prod_config.json", result.best_config))
    return paths
