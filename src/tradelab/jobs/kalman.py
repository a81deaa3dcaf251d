"""The Kalman jobs of `tradelab-tune`: residual mean reversion (seed 000) and pairs (seed 001).

Residual: per symbol (`symbol`, or every universe symbol with 1-minute data) one parent run in
`kalman_residual/<SYMBOL>`; with several symbols, the cross-symbol summary in
`kalman_residual/universe`. Pairs: screen the tickers, tune the configured or best pair in
`kalman_pairs/<A-B>`. Seed-format outputs go under `<results>/<study>/<target>/`, with a
`metrics.json` DVC can show; the headline metrics per target go to the context's metrics file.
Optuna studies live in the family's journal (`TuneContext.search_for`): a rerun of the same
job resumes its study, and logs no trial run a finished job already holds.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from tradelab.data import ParquetStore, validate_symbol
from tradelab.data.settings import UniverseConfig
from tradelab.errors import DataError
from tradelab.jobs._tune import TuneContext, load_bars, write_metrics
from tradelab.jobs.base import data_lineage
from tradelab.progress import ProgressDisplay
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import SearchConfig
from tradelab.strategies import (
    ResidualStudyResult,
    choose_pair,
    log_frame,
    save_pairs_study,
    tune_pairs,
    tune_residual,
)
from tradelab.strategies.settings import KalmanPairsStudyConfig, KalmanResidualStudyConfig
from tradelab.tracking import VALIDITY, validity

__all__ = ["run_pairs_job", "run_residual_job"]

log = logging.getLogger("tradelab.tune")

_HEADLINE = (
    "score",
    "total_return",
    "sharpe",
    "max_drawdown",
    "num_trades",
    "win_rate",
    *(VALIDITY + k for k in ("pbo", "deflated_sharpe", "n_trials", "effective_trials")),
)


def _residual_symbols(
    store: ParquetStore, symbol: str | None, universe: UniverseConfig
) -> list[str]:
    """`symbol`, or every symbol of the universe's sectors with 1-minute data in the store."""
    if symbol:
        return [validate_symbol(symbol)]
    symbols = [
        s for names in universe.sectors.values() for s in names if store.meta(s, "1min") is not None
    ]
    if not symbols:
        raise DataError(f"no small-cap 1-minute data in {store.root}: run tradelab-ingest first")
    return symbols


def run_residual_job(
    ctx: TuneContext,
    study: KalmanResidualStudyConfig,
    search: SearchConfig,
    robustness: RobustnessConfig,
    *,
    symbol: str | None = None,
    universe: UniverseConfig | None = None,
) -> float:
    """Tune the residual strategy per symbol (module doc); return the average best return."""
    symbols = _residual_symbols(ctx.store, symbol, universe or UniverseConfig())
    aggregate_mins = study.strategy.aggregate_mins
    combined = ResidualStudyResult(
        {}, {}, 0, aggregate_mins, study.target_return, str(study.objective)
    )
    out_root = ctx.results_dir / "kalman_residual"
    per_target: dict[str, dict[str, Any]] = {}
    with ProgressDisplay(ctx.progress, unit="symbols") as display:
        task = display.task(f"kalman_residual {study.objective}", len(symbols), each=True)
        for sym in symbols:
            best = _residual_symbol(ctx, study, search, robustness, sym, combined)
            if best is not None:
                write_metrics(out_root / sym / "metrics.json", best)
                per_target[sym] = best
            note = "skipped" if best is None else f"best score {best['score']:.4g}"
            display.update(task, advance=1, note=f"{sym}: {note}")
    if len(symbols) > 1 and combined.best:
        _log_universe(ctx, combined)
    summary = combined.summary()
    write_metrics(ctx.metrics_file, _residual_headline(per_target, summary))
    return float(summary["avg_return"])


def _residual_symbol(
    ctx: TuneContext,
    study: KalmanResidualStudyConfig,
    search: SearchConfig,
    robustness: RobustnessConfig,
    symbol: str,
    combined: ResidualStudyResult,
) -> dict[str, Any] | None:
    """Tune one symbol in its own job, merge it into `combined`; return its best metrics."""
    timeframe = f"{study.strategy.aggregate_mins}min"
    bars = load_bars(ctx.store, symbol, timeframe)
    last = float(bars["close"].iloc[-1])
    limit = study.max_last_price
    if limit is not None and not last < limit:
        combined.skipped[symbol] = f"last close {last:.2f} >= {limit}"
        log.info("%s: skipped, last close %.2f >= %s", symbol, last, limit)
        return None
    with ctx.open_job(
        experiment=f"kalman_residual/{symbol}",
        run_name=f"{search.kind} {study.objective}",
        **data_lineage(ctx.store, [(symbol, timeframe)]),
    ) as job:
        job.set_tags({"kind": "sweep"})
        result = tune_residual(
            {symbol: bars},
            study,
            ctx.search_for(search, "kalman_residual"),
            ctx.trial_runs_once(job),
            max_trial_runs=ctx.max_trial_runs,
            robustness=robustness,
        )
    combined.symbols.update(result.symbols)
    combined.skipped.update(result.skipped)
    combined.n_trials = result.n_trials
    found = result.symbols.get(symbol)
    if found is None or found.backtest is None:
        return None
    score = float(found.trials["score"].iloc[found.best_trial])
    return {**found.backtest.metrics, **validity(found.statistics), "score": score}


def _log_universe(ctx: TuneContext, combined: ResidualStudyResult) -> None:
    """The cross-symbol summary: seed 000's JSON, its metrics and plots."""
    with ctx.open_job(experiment="kalman_residual/universe", run_name="summary") as job:
        job.log_dict(combined.to_json(), "small_cap_optimization.json")
        job.log_metrics({**combined.summary(), "n_symbols": len(combined.best)})
        fig = combined.summary_figure()
        if fig is not None:
            job.log_figure(fig, "summary.png")
            folder = ctx.results_dir / "kalman_residual"
            folder.mkdir(parents=True, exist_ok=True)
            fig.savefig(folder / "summary.png", dpi=110, bbox_inches="tight")


def _residual_headline(
    per_target: dict[str, dict[str, Any]], summary: dict[str, Any]
) -> dict[str, Any]:
    """Seed 000's summary plus medians of the per-symbol research statistics."""

    def median(key: str) -> float:
        values = [m[key] for m in per_target.values() if key in m and m[key] == m[key]]
        return float(np.median(values)) if values else float("nan")

    credible = sum(
        1
        for m in per_target.values()
        if m.get(f"{VALIDITY}pbo", 1.0) <= 0.5 and m.get(f"{VALIDITY}deflated_sharpe", 0.0) >= 0.95
    )
    return {
        **summary,
        "n_symbols": len(per_target),
        "median_sharpe": median("sharpe"),
        f"{VALIDITY}median_pbo": median(f"{VALIDITY}pbo"),
        f"{VALIDITY}median_deflated_sharpe": median(f"{VALIDITY}deflated_sharpe"),
        f"{VALIDITY}symbols_passing_pbo_dsr": credible,
    }


def _pair_prices(
    store: ParquetStore, study: KalmanPairsStudyConfig, universe: UniverseConfig
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Daily (closes, opens), date x ticker, of the screened tickers with daily data: the
    study's `screen.symbols` (empty: the universe's `extra`), the last `lookback_days` dates
    they share."""
    tickers = study.screen.symbols or universe.extra
    tickers = tuple(validate_symbol(t) for t in tickers if store.meta(t, "1day") is not None)
    if len(tickers) < 2:
        raise DataError(f"fewer than two screenable tickers with daily data in {store.root}")
    frames = {t: load_bars(store, t, "1day").set_index("timestamp") for t in tickers}
    closes = (
        pd.DataFrame({t: f["close"] for t, f in frames.items()})
        .dropna()
        .iloc[-study.screen.lookback_days :]
    )
    opens = pd.DataFrame({t: f["open"] for t, f in frames.items()}).loc[closes.index]
    return closes, opens


def run_pairs_job(
    ctx: TuneContext,
    study: KalmanPairsStudyConfig,
    search: SearchConfig,
    robustness: RobustnessConfig,
    *,
    universe: UniverseConfig | None = None,
) -> float:
    """Screen, pick the pair and tune it (module doc); return the best trial's Sharpe."""
    closes, opens = _pair_prices(ctx.store, study, universe or UniverseConfig())
    screened, first, second, chosen = choose_pair(closes, study)
    target = f"{first}-{second}"
    with ctx.open_job(
        experiment=f"kalman_pairs/{target}",
        run_name=f"{search.kind} {study.objective}",
        **data_lineage(ctx.store, [(first, "1day"), (second, "1day")]),
    ) as job:
        job.set_tags({"kind": "sweep"})
        log_frame(job, screened, "cointegrated_pairs.csv")
        result = tune_pairs(
            closes[first].rename(first),
            closes[second].rename(second),
            chosen,
            ctx.search_for(search, "kalman_pairs"),
            ctx.trial_runs_once(job),
            opens_a=opens[first].rename(first),
            opens_b=opens[second].rename(second),
            max_trial_runs=ctx.max_trial_runs,
            robustness=robustness,
        )
    folder = ctx.results_dir / "kalman_pairs" / target
    save_pairs_study(result, folder)
    screened.to_csv(folder / "cointegrated_pairs.csv", index=False)
    if result.backtest is None:
        return float("nan")
    best = {**result.backtest.metrics, **validity(result.statistics)}
    write_metrics(folder / "metrics.json", best)
    write_metrics(ctx.metrics_file, {k: best[k] for k in _HEADLINE if k in best})
    return float(result.backtest.metrics["sharpe"])
