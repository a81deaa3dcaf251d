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
import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError, DataValidationError
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import GridSearchConfig, SearchConfig
from tradelab.settings import to_plain
from tradelab.strategies._io import write_csv_atomic, write_json_atomic
from tradelab.strategies._logging import log_frame, log_preview, log_trials
from tradelab.strategies._robustness import block_evaluator, study_statistics
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
from tradelab.strategies.search import named_study, run_search, study_tags
from tradelab.strategies.settings import KalmanPairsStudyConfig, PairsFill
from tradelab.tracking import Job
from tradelab.tracking.settings import TrackingConfig

__all__ = [
    "CONFIG_KEYS",
    "RESULT_COLUMNS",
    "PairsStudyResult",
    "choose_pair",
    "pair_buy_and_hold",
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
CONFIG_KEYS = [
    "window",
    "entry_z",
    "exit_z",
    "stop_z",
    "stake",
    "long_only",
    "delta",
    "R",
    "initial_cash",
    "commission",
    "note",
]
_LOGGED_METRICS = (
    "final_value",
    "total_return",
    "sharpe",
    "max_dd_pct",
    "max_dd_abs",
    "max_drawdown",
    "num_trades",
    "win_rate",
    "n_days",
)


_BENCHMARK_COLUMNS = ("benchmark_return", "excess_return")  # both legs held, total over it


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
        {
            "window": np.int64,
            "stake": np.int64,
            "long_only": bool,
            "total_trades": np.int64,
            "n_days": np.int64,
        }
    )
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
            raise ConfigError(f"study.space.{name}", f"not searchable; use {sorted(SEARCHABLE)}")


def tune_pairs(
    closes_a: pd.Series,
    closes_b: pd.Series,
    study: KalmanPairsStudyConfig | None = None,
    search: SearchConfig | None = None,
    job: Job | None = None,
    *,
    opens_a: pd.Series | None = None,
    opens_b: pd.Series | None = None,
    max_trial_runs: int = TrackingConfig.max_trial_runs,
    robustness: RobustnessConfig | None = None,
) -> PairsStudyResult:
    """Search the pairs strategy on asset_1 (`closes_a`) against asset_2 (`closes_b`).

    Series are indexed by timestamp and named by ticker; opens default to the closes and are
    read only with `study.fill=next_open` (`close`, seed 001, fills at the next close).
    Defaults: `KalmanPairsStudyConfig()` (the seed's grid), `GridSearchConfig()`;
    `robustness` (default `RobustnessConfig()`) sets the overfitting statistics logged into
    the job.
    """
    study = study or KalmanPairsStudyConfig()
    search = search or GridSearchConfig()
    objective = check_objective(study.objective)
    _check_space(study.space)
    if study.fill == PairsFill.close:
        opens_a = opens_b = None  # the seed's feed: open = close (a missing open drops no bar)
    pair = PairData.from_series(
        closes_a, closes_b, open_a=opens_a, open_b=opens_b, session_tz=study.session_tz
    )
    if study.hedge_ratio is not None:
        beta0 = float(study.hedge_ratio)
    else:
        beta0 = ols_hedge_ratio(pair.close_a, pair.close_b)[0]
    defaults = dataclasses.asdict(study.strategy)
    evaluate = functools.partial(
        evaluate_pairs,
        pair,
        defaults=defaults,
        beta0=beta0,
        backend=str(study.backend),
        fill=study.fill,
    )
    search = _named(search, study, pair, beta0)
    trials = run_search(study.space, lambda cols: evaluate(cols).metrics, objective, search)
    held = pair_buy_and_hold(pair)
    trials["benchmark_return"] = held
    trials["excess_return"] = trials["total_return"] - held
    result = _result(study, pair, beta0, trials, objective, defaults)
    if job is not None:
        _log_pair(job, result, list(study.space), objective, search, pair, max_trial_runs)
    equity = None if result.backtest is None else result.backtest.values.to_numpy(np.float64)
    result.statistics = study_statistics(
        trials,
        list(study.space),
        objective,
        pair.n_bars,
        block_evaluator(evaluate),
        config=robustness,
        job=job,
        equity=equity,
    )
    return result


def pair_buy_and_hold(pair: PairData) -> float:
    """Beside the market: the return of holding both legs, half the capital in each, from the
    first close to the last (the span a trial's `total_return` covers). A market-neutral pair
    should earn its keep without this; `excess_return` is a trial's total return over it."""
    legs = [c[-1] / c[0] - 1.0 for c in (pair.close_a, pair.close_b)]
    return float(0.5 * legs[0] + 0.5 * legs[1])


def _named(
    search: SearchConfig, study: KalmanPairsStudyConfig, pair: PairData, beta0: float
) -> SearchConfig:
    """Name an Optuna study after the pair, the settings that shape its trials and the bars."""
    shaping = {k: v for k, v in to_plain(study).items() if k not in ("screen", "note")}
    arrays = (pair.times.asi8, pair.open_a, pair.close_a, pair.open_b, pair.close_b)
    prefix = f"kalman_pairs-{pair.asset_1}-{pair.asset_2}"
    return named_study(search, prefix, shaping, beta0, *arrays, pair.period_end)


def _result(
    study: KalmanPairsStudyConfig,
    pair: PairData,
    beta0: float,
    trials: pd.DataFrame,
    objective: str,
    defaults: Mapping[str, Any],
) -> PairsStudyResult:
    """Rank the trials, backtest the best one and build its production config."""
    order = rank_trials(objective, trials)
    best = int(order[0]) if len(order) and math.isfinite(trials["score"].iloc[order[0]]) else None
    backtest = None
    best_config = None
    if best is not None:
        row = trials.iloc[best]
        chosen = {k: row[k].item() if hasattr(row[k], "item") else row[k] for k in study.space}
        backtest = backtest_pair(
            pair,
            {**defaults, **chosen},
            beta0=beta0,
            backend=str(study.backend),
            fill=study.fill,
        )
        best_config = _production_config(backtest.params, pair, beta0, study.note)
    return PairsStudyResult(
        pair.asset_1,
        pair.asset_2,
        beta0,
        pair.n_bars,
        trials,
        results_table(trials, defaults),
        best,
        best_config,
        backtest,
    )


def _log_pair(
    job: Job,
    result: PairsStudyResult,
    params: list[str],
    objective: str,
    search: SearchConfig,
    pair: PairData,
    max_trial_runs: int,
) -> None:
    job.log_params(
        {
            "asset_1": result.asset_1,
            "asset_2": result.asset_2,
            "hedge_ratio": result.hedge_ratio,
            "n_bars": result.n_bars,
            "search": str(search.kind),
            "objective": objective,
            "n_trials": len(result.trials),
        }
    )
    job.set_tags(study_tags(search))
    tags = study_tags(search)
    metrics = (*METRIC_COLUMNS, *_BENCHMARK_COLUMNS)
    log_trials(job, result.trials, params, metrics, objective, max_trial_runs, tags=tags)
    log_frame(job, result.trials, "trials.parquet")
    log_preview(job, result.trials, "trials_best.json")
    log_frame(job, result.results, "kalman_param_optimization_results.csv")
    if result.backtest is None or result.best_config is None:
        job.set_tags({"best": "none: no trial qualified"})
        return
    job.log_dict(result.best_config, "kalman_prod_config.json")
    job.log_metrics({k: result.backtest.metrics[k] for k in _LOGGED_METRICS})
    if result.best_trial is not None:
        best = result.trials.iloc[result.best_trial]
        job.log_metrics({k: float(best[k]) for k in _BENCHMARK_COLUMNS})
    job.log_params({f"best.{k}": v for k, v in result.backtest.params.items()})
    title = f"{result.asset_1}-{result.asset_2}: best trial value"
    values = result.backtest.values.to_numpy(np.float64)
    figure = equity_figure(pair.times, values, title)
    job.log_figure(figure, "best_equity.png")
    # the best trial's value after each bar, beside holding both legs (half each)
    legs = 0.5 * (pair.close_a / pair.close_a[0] + pair.close_b / pair.close_b[0])
    job.log_curve("equity", values)
    if legs.size == values.size:
        job.log_curve("buy_and_hold_equity", values[0] * legs)
    log_frame(job, result.backtest.fills, "best_fills.csv")


def choose_pair(
    closes: pd.DataFrame, study: KalmanPairsStudyConfig | None = None
) -> tuple[pd.DataFrame, str, str, KalmanPairsStudyConfig]:
    """Screen `closes` (date x ticker); return the table, the configured or best selected pair,
    and the study with its starting hedge ratio taken from the screen."""
    study = study or KalmanPairsStudyConfig()
    screen = study.screen
    screened = screen_pairs(closes, pvalue_max=screen.pvalue_max, min_obs=screen.min_obs)
    if study.asset_1 and study.asset_2:
        first, second = study.asset_1, study.asset_2
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
    if study.hedge_ratio is None and not match.empty:
        study = dataclasses.replace(study, hedge_ratio=float(match["hedge_ratio"].iloc[0]))
    return screened, first, second, study


def tune_best_pair(
    closes: pd.DataFrame,
    study: KalmanPairsStudyConfig | None = None,
    search: SearchConfig | None = None,
    job: Job | None = None,
    *,
    max_trial_runs: int = TrackingConfig.max_trial_runs,
    robustness: RobustnessConfig | None = None,
) -> tuple[pd.DataFrame, PairsStudyResult]:
    """Screen `closes` (date x ticker), then tune `asset_1`/`asset_2` or the best selected pair.

    Returns the screening table and the study; logs `cointegrated_pairs.csv` into the job.
    """
    screened, first, second, chosen = choose_pair(closes, study)
    if job is not None:
        log_frame(job, screened, "cointegrated_pairs.csv")
    result = tune_pairs(
        closes[first].rename(first),
        closes[second].rename(second),
        chosen,
        search,
        job,
        max_trial_runs=max_trial_runs,
        robustness=robustness,
    )
    return screened, result


def save_pairs_study(result: PairsStudyResult, directory: str | Path) -> list[Path]:
    """Write `kalman_param_optimization_results.csv` and `kalman_prod_config.json`."""
    folder = Path(directory)
    paths = [write_csv_atomic(result.results, folder / "kalman_param_optimization_results.csv")]
    if result.best_config is not None:
        paths.append(write_json_atomic(folder / "kalman_prod_config.json", result.best_config))
    return paths
