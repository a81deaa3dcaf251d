"""Tune the residual strategy per symbol (seed 000) and record everything through a Job.

`tune_residual` takes one symbol's bars or many (frames with a `timestamp` column or a
DatetimeIndex and OHLCV columns), aggregates bars finer than `aggregate_mins`, keeps the
symbols that pass the small-cap filter (last close < `max_last_price`, >= `min_bars` bars),
searches each symbol (a batch of trials is one kernel call) and picks the best trial by the
objective. With a job: one symbol logs into the job itself; several log into one child run
per symbol, with the cross-symbol summary on the job. Per symbol: a child run per trial
(the best `max_trial_runs` when there are more), `trials.parquet`, the best trial's metrics,
`best_equity.png` and `best_trades.csv`; on the job: `small_cap_optimization.json` (the
seed's format) and `summary.png` (returns by symbol with the target line, Sharpe against
return).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.atomic import atomic_path
from tradelab.errors import ConfigError, DataValidationError
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search import SearchSpace
from tradelab.search.settings import GridSearchConfig, RandomSearchConfig, SearchConfig
from tradelab.settings import to_plain
from tradelab.strategies._io import write_json_atomic
from tradelab.strategies._logging import log_frame, log_preview, log_trials
from tradelab.strategies._robustness import block_evaluator, study_statistics
from tradelab.strategies.bars import (
    aggregate_bars,
    bar_minutes,
    bars_per_year,
    filter_universe,
    timestamps,
)
from tradelab.strategies.objectives import check_objective, rank_trials
from tradelab.strategies.plots import equity_figure, residual_summary_figure
from tradelab.strategies.residual import (
    METRIC_COLUMNS,
    SEARCHABLE,
    ResidualBacktest,
    ResidualSettings,
    backtest_residual,
    evaluate_residual,
    residual_costs,
    seed_config,
)
from tradelab.strategies.search import named_study, run_search, study_tags
from tradelab.strategies.settings import KalmanResidualStudyConfig
from tradelab.tracking import Job
from tradelab.tracking.settings import TrackingConfig

__all__ = ["ResidualStudyResult", "SymbolStudy", "save_residual_study", "tune_residual"]

log = logging.getLogger(__name__)
COSTS_FLOOR_BPS = 0.5  # below this a side at the median close, a study warns


def _warn_if_costs_vanish(study: KalmanResidualStudyConfig, closes: Mapping[str, Any]) -> None:
    """Warn once when fills cost less than `COSTS_FLOOR_BPS` a side at a symbol's median close
    (seed 000, and so the default, charges nothing)."""
    costs = residual_costs(to_plain(study.strategy))
    cheap = []
    for symbol, close in closes.items():
        price = float(np.median(close))
        if (costs["cost_per_share"] / price + costs["cost_rate"]) * 1e4 < COSTS_FLOOR_BPS:
            cheap.append(symbol)
    if cheap:
        named = ", ".join(cheap[:5]) + (f" and {len(cheap) - 5} more" if len(cheap) > 5 else "")
        log.warning(
            "costs are under %.1f bp a side on %s: set study.strategy.commission and slippage "
            "($ a share), commission_bps and slippage_bps (0.005, 0.01, 0.5, 2.0 come to 32.5 bp "
            "at $5) for results a small cap could trade",
            COSTS_FLOOR_BPS,
            named,
        )


# study settings that filter symbols or describe results, not what a symbol's trials score
_NOT_SHAPING = ("max_last_price", "min_bars", "target_return")
_LOGGED_METRICS = (
    "total_return",
    "sharpe",
    "max_drawdown",
    "win_rate",
    "profit_factor",
    "num_trades",
    "avg_trade",
    "final_equity",
)
_BENCHMARK_COLUMNS = ("benchmark_return", "excess_return")  # buy-and-hold, total return over it


@dataclass
class SymbolStudy:
    """The search of one symbol: its trials table and, when a trial qualified, the best one."""

    symbol: str
    n_bars: int
    last_price: float
    bar_minutes: float
    bars_per_year: float
    times: pd.DatetimeIndex
    trials: pd.DataFrame
    best_trial: int | None = None  # row of `trials`
    backtest: ResidualBacktest | None = None
    statistics: dict[str, float] = field(default_factory=dict)  # pbo, deflated_sharpe, ...

    @property
    def best(self) -> pd.Series | None:
        return None if self.best_trial is None else self.trials.iloc[self.best_trial]

    def seed_result(self) -> dict[str, Any]:
        """Return the best result as seed 000's `BacktestResult.to_dict()`."""
        if self.backtest is None:
            raise ValueError(f"{self.symbol}: no trial qualified under the objective")
        m = self.backtest.metrics
        return {
            "symbol": self.symbol,
            "config": seed_config(self.backtest.params),
            "total_return": m["total_return"],
            "sharpe_ratio": m["sharpe"],
            "max_drawdown": m["max_drawdown"],
            "win_rate": m["win_rate"],
            "profit_factor": m["profit_factor"],
            "num_trades": int(m["num_trades"]),
            "avg_trade_pnl": m["avg_trade"],
        }


@dataclass
class ResidualStudyResult:
    """Every studied symbol, the skipped ones with a reason, and the seed-format summary."""

    symbols: dict[str, SymbolStudy]
    skipped: dict[str, str] = field(default_factory=dict)
    n_trials: int = 0
    aggregate_mins: int = 5
    target_return: float = 0.20
    objective: str = "composite"

    @property
    def best(self) -> dict[str, SymbolStudy]:
        """Symbols whose search produced a qualifying trial."""
        return {k: v for k, v in self.symbols.items() if v.backtest is not None}

    def summary(self) -> dict[str, float]:
        """Seed 000's summary: average return, share profitable, count above the target."""
        returns = [s.backtest.metrics["total_return"] for s in self.best.values() if s.backtest]
        if not returns:
            return {"avg_return": float("nan"), "profitable_pct": 0.0, "high_return_count": 0}
        return {
            "avg_return": float(np.mean(returns)),
            "profitable_pct": sum(r > 0 for r in returns) / len(returns),
            "high_return_count": sum(r > self.target_return for r in returns),
        }

    def to_json(self, timestamp: str | None = None, max_trials: int = 500) -> dict[str, Any]:
        """Return the seed's results JSON (`all_trials` entries also name their symbol)."""
        best = self.best
        all_trials: list[dict[str, Any]] = []
        for symbol, study in best.items():
            params = [c for c in study.trials.columns if c in SEARCHABLE]
            for row in study.trials.itertuples(index=False):
                values = row._asdict()
                all_trials.append(
                    {
                        "symbol": symbol,
                        "trial": int(values["trial"]),
                        "config": seed_config({k: values[k] for k in params}),
                        "return": float(values["total_return"]),
                        "sharpe": float(values["sharpe"]),
                        "trades": int(values["num_trades"]),
                    }
                )
        return {
            "timestamp": timestamp or datetime.now().strftime("%Y%m%d-%H%M%S"),
            "n_trials": self.n_trials,
            "aggregate_mins": self.aggregate_mins,
            "symbols": list(best),
            "results": {k: v.seed_result() for k, v in best.items()},
            "all_trials": all_trials[:max_trials],
            "summary": self.summary(),
        }

    def summary_figure(self) -> Any:
        """Seed 000's two summary plots as one matplotlib Figure (None without results)."""
        results = {k: v.seed_result() for k, v in self.best.items()}
        return residual_summary_figure(results, self.target_return) if results else None


def _prepared(frame: pd.DataFrame, symbol: str, aggregate_mins: int) -> pd.DataFrame:
    times = timestamps(frame)
    if "close" not in frame.columns:
        raise DataValidationError(f"{symbol}: bars lack a 'close' column", field="close")
    if len(frame) >= 2 and bar_minutes(times) < aggregate_mins - 1e-9:
        frame = aggregate_bars(frame, aggregate_mins)
        times = timestamps(frame)
    close = frame["close"].to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(close) | (close <= 0))
    if bad.size:
        raise DataValidationError(
            f"{symbol}: non-positive or missing close", row=int(bad[0]), field="close"
        )
    return pd.DataFrame({"timestamp": times, "close": close})


@contextlib.contextmanager
def _symbol_job(job: Job | None, symbol: str, many: bool) -> Iterator[Job | None]:
    if job is None or not many:
        yield job
        return
    with job.child(symbol, tags={"symbol": symbol}) as child:
        yield child


def _study_symbol(
    symbol: str,
    bars: pd.DataFrame,
    cfg: KalmanResidualStudyConfig,
    search: SearchConfig,
    job: Job | None,
    max_trial_runs: int,
    robustness: RobustnessConfig,
) -> SymbolStudy:
    times = pd.DatetimeIndex(bars["timestamp"])
    close = bars["close"].to_numpy()
    minutes = bar_minutes(times)
    bpy = bars_per_year(minutes, cfg.session_minutes, cfg.trading_days_per_year)
    settings = ResidualSettings(
        initial_capital=cfg.strategy.initial_capital,
        warmup_bars=cfg.warmup_bars,
        z_lookback=cfg.z_lookback,
        trail_activation_pct=cfg.trail_activation_pct,
        bars_per_year=bpy,
        backend=str(cfg.backend),
        **residual_costs(to_plain(cfg.strategy)),
    )
    defaults = {k: float(getattr(cfg.strategy, k)) for k in SEARCHABLE}
    objective = str(cfg.objective)
    evaluate = functools.partial(evaluate_residual, close, defaults=defaults, settings=settings)
    shaping = {k: v for k, v in to_plain(cfg).items() if k not in _NOT_SHAPING}
    search = named_study(search, f"kalman_residual-{symbol}", shaping, times.asi8, close)
    trials = run_search(cfg.space, lambda cols: evaluate(cols).metrics, objective, search)
    # beside the market: holding the symbol over the bars a trial can trade (entries from the
    # close of the first bar after the warmup to the last close)
    held = float(close[-1] / close[min(cfg.warmup_bars, len(close) - 1)] - 1.0)
    trials["benchmark_return"] = held
    trials["excess_return"] = trials["total_return"] - held
    order = rank_trials(objective, trials)
    best = int(order[0]) if len(order) and math.isfinite(trials["score"].iloc[order[0]]) else None
    study = SymbolStudy(symbol, len(close), float(close[-1]), minutes, bpy, times, trials, best)
    if best is not None:
        params = {k: float(trials[k].iloc[best]) for k in cfg.space}
        study.backtest = backtest_residual(close, {**defaults, **params}, settings)
    if job is not None:
        _log_symbol(job, study, cfg, search, max_trial_runs)
    if job is not None and study.backtest is not None:
        # the best trial's equity after each bar, beside holding the symbol from the warmup
        start = min(cfg.warmup_bars, len(close) - 1)
        job.log_curve("equity", study.backtest.equity)
        held_equity = study.backtest.equity[start] * close[start:] / close[start]
        job.log_curve("buy_and_hold_equity", held_equity, steps=np.arange(start, len(close)))
    equity = None if study.backtest is None else np.asarray(study.backtest.equity)
    study.statistics = study_statistics(
        trials,
        list(cfg.space),
        objective,
        len(close),
        block_evaluator(evaluate),
        config=robustness,
        job=job,
        equity=equity,
    )
    return study


def _log_symbol(
    job: Job,
    study: SymbolStudy,
    cfg: KalmanResidualStudyConfig,
    search: SearchConfig,
    max_trial_runs: int,
) -> None:
    job.log_params(
        {
            "symbol": study.symbol,
            "n_bars": study.n_bars,
            "last_price": study.last_price,
            "bar_minutes": study.bar_minutes,
            "bars_per_year": study.bars_per_year,
            "search": str(search.kind),
            "objective": str(cfg.objective),
        }
    )
    job.set_tags(study_tags(search))
    params = list(cfg.space)
    log_trials(
        job,
        study.trials,
        params,
        (*METRIC_COLUMNS, *_BENCHMARK_COLUMNS),
        str(cfg.objective),
        max_trial_runs,
        tags=study_tags(search),
    )
    log_frame(job, study.trials, "trials.parquet")
    log_preview(job, study.trials, "trials_best.json")
    if study.backtest is None:
        job.set_tags({"best": "none: no trial qualified"})
        return
    bt = study.backtest
    job.log_metrics({k: bt.metrics[k] for k in _LOGGED_METRICS})
    best = study.trials.iloc[study.best_trial]
    job.log_metrics({k: float(best[k]) for k in ("score", *_BENCHMARK_COLUMNS)})
    job.log_params({f"best.{k}": v for k, v in bt.params.items()})
    fig = equity_figure(study.times, bt.equity, f"{study.symbol}: best trial equity")
    job.log_figure(fig, "best_equity.png")
    log_frame(job, bt.trades, "best_trades.csv")


def _check_space(study: KalmanResidualStudyConfig) -> None:
    """Raise ConfigError naming the first `study.space` parameter the strategy cannot search."""
    for name in study.space:
        if name not in SEARCHABLE:
            raise ConfigError(f"study.space.{name}", f"not searchable; use {sorted(SEARCHABLE)}")


def tune_residual(
    bars_by_symbol: Mapping[str, pd.DataFrame],
    study: KalmanResidualStudyConfig | None = None,
    search: SearchConfig | None = None,
    job: Job | None = None,
    *,
    max_trial_runs: int = TrackingConfig.max_trial_runs,
    robustness: RobustnessConfig | None = None,
) -> ResidualStudyResult:
    """Search the residual strategy on each symbol; log into `job` when given (module doc).

    Defaults: `KalmanResidualStudyConfig()`, `RandomSearchConfig()` and `RobustnessConfig()`
    (the overfitting statistics logged per symbol: pbo, deflated_sharpe, n_trials,
    effective_trials)."""
    study = study or KalmanResidualStudyConfig()
    search = search or RandomSearchConfig()
    robustness = robustness or RobustnessConfig()
    check_objective(study.objective)
    _check_space(study)
    agg = study.strategy.aggregate_mins
    prepared = {s: _prepared(f, s, agg) for s, f in bars_by_symbol.items() if f is not None}
    kept = filter_universe(prepared, study.max_last_price, study.min_bars)
    skipped = {
        s: "too few bars or last close above max_last_price"
        for s in bars_by_symbol
        if s not in {k for k, _ in kept}
    }
    n_trials = _n_trials(study, search)
    result = ResidualStudyResult(
        {}, skipped, n_trials, agg, study.target_return, str(study.objective)
    )
    many = len(kept) > 1
    _warn_if_costs_vanish(study, {s: prepared[s]["close"].to_numpy() for s, _ in kept})
    if job is not None:
        job.log_params(
            {
                "symbols": [s for s, _ in kept],
                "search": str(search.kind),
                "n_trials": n_trials,
                "objective": str(study.objective),
                "aggregate_mins": agg,
            }
        )
        if skipped:
            job.set_tags({"skipped": ",".join(sorted(skipped))})
    for symbol, _ in kept:
        with _symbol_job(job, symbol, many) as target:
            result.symbols[symbol] = _study_symbol(
                symbol, prepared[symbol], study, search, target, max_trial_runs, robustness
            )
    if job is not None:
        _log_summary(job, result, many)
    return result


def _n_trials(study: KalmanResidualStudyConfig, search: SearchConfig) -> int:
    """Trials per symbol: the grid's size for an exhaustive search, else `search.n_trials`."""
    if isinstance(search, GridSearchConfig):
        return SearchSpace.from_config(study.space).size()
    return search.n_trials


def _log_summary(job: Job, result: ResidualStudyResult, many: bool) -> None:
    job.log_dict(result.to_json(), "small_cap_optimization.json")
    summary = result.summary()
    job.log_metrics({**summary, "n_symbols": len(result.best)})
    fig = result.summary_figure()
    if fig is not None:
        job.log_figure(fig, "summary.png")
    if many:
        tables = [s.trials.assign(symbol=k) for k, s in result.symbols.items()]
        if tables:
            log_frame(job, pd.concat(tables, ignore_index=True), "trials.parquet")


def save_residual_study(
    result: ResidualStudyResult, directory: str | Path, timestamp: str | None = None
) -> list[Path]:
    """Write `small_cap_optimization_<timestamp>.json` and `summary.png` into `directory`."""
    stamp = timestamp or datetime.now().strftime("%Y%m%d-%H%M%S")
    folder = Path(directory)
    paths = [
        write_json_atomic(folder / f"small_cap_optimization_{stamp}.json", result.to_json(stamp))
    ]
    fig = result.summary_figure()
    if fig is not None:
        target = folder / f"summary_{stamp}.png"
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
        paths.append(target)
    return paths
