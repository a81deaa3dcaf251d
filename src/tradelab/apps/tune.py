"""`tradelab-tune`: Kalman residual and pairs studies, forecast tuning.

One MLflow experiment per target (`kalman_residual/RIOT`, `kalman_pairs/DIA-SPY`,
`forecast/AAPL`), a parent run per (target, search), a child run per trial; the best trial is
tagged `candidate=true` for promotion. Seed-format outputs go under
`<results>/<study>/<target>/`, with a `metrics.json` DVC can show.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from tradelab.apps._runtime import job_for, run_hydra_app, tracker_for
from tradelab.atomic import write_if_changed
from tradelab.data import ParquetStore, validate_symbol
from tradelab.errors import ConfigError, DataError
from tradelab.settings import to_plain
from tradelab.tracking import Tracker

log = logging.getLogger("tradelab.tune")


def _store(cfg: DictConfig) -> ParquetStore:
    return ParquetStore(cfg.paths.store_dir, offline=True)


def _bars(store: ParquetStore, symbol: str, timeframe: str) -> pd.DataFrame:
    try:
        return store.get(symbol, timeframe)
    except DataError as exc:
        raise DataError(f"{exc} (run tradelab-ingest first, or check the symbol)") from exc


_HEADLINE = ("score", "total_return", "sharpe", "max_drawdown", "num_trades", "win_rate", "pbo",
             "deflated_sharpe", "n_trials", "effective_trials")  # fmt: skip


def _clean(metrics: dict[str, Any]) -> dict[str, Any]:
    """Floats for JSON (NaN -> null), nested tables kept."""
    out: dict[str, Any] = {}
    for k, v in metrics.items():
        out[k] = _clean(v) if isinstance(v, dict) else (None if v != v else float(v))
    return out


def _write_metrics(folder: Path, metrics: dict[str, Any]) -> None:
    write_if_changed(
        folder / "metrics.json", json.dumps(_clean(metrics), indent=2, sort_keys=True) + "\n"
    )


def _write_metrics_file(cfg: DictConfig, metrics: dict[str, Any]) -> None:
    """Write headline metrics to `cfg.metrics_file` (what `dvc metrics show` reads)."""
    if not cfg.metrics_file:
        return
    path = Path(cfg.metrics_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_if_changed(path, json.dumps(_clean(metrics), indent=2, sort_keys=True) + "\n")


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
        if m.get("pbo", 1.0) <= 0.5 and m.get("deflated_sharpe", 0.0) >= 0.95
    )
    return {**summary, "n_symbols": len(per_target), "median_sharpe": median("sharpe"),
            "median_pbo": median("pbo"), "median_deflated_sharpe": median("deflated_sharpe"),
            "symbols_passing_pbo_dsr": credible}  # fmt: skip


def _residual(cfg: DictConfig, tracker: Tracker) -> float:
    from tradelab.strategies import tune_residual
    from tradelab.strategies.residual_study import ResidualStudyResult

    store = _store(cfg)
    study = to_plain(cfg.study)
    if cfg.symbol:
        symbols = [validate_symbol(cfg.symbol)]
    else:
        sectors = to_plain(cfg.universe.sectors)
        symbols = [
            s for names in sectors.values() for s in names if store.meta(s, "1min") is not None
        ]
        if not symbols:
            raise DataError(
                f"no small-cap 1-minute data in {store.root}: run tradelab-ingest first"
            )
    timeframe = f"{int(study['strategy']['aggregate_mins'])}min"
    combined = ResidualStudyResult({}, {}, 0, int(study["strategy"]["aggregate_mins"]),
                                   float(study["target_return"]), str(study["objective"]))  # fmt: skip
    out_root = Path(cfg.paths.results_dir) / "kalman_residual"
    per_target: dict[str, dict[str, Any]] = {}
    for symbol in symbols:
        bars = _bars(store, symbol, timeframe)
        last = float(bars["close"].iloc[-1])
        if study["max_last_price"] is not None and not last < float(study["max_last_price"]):
            combined.skipped[symbol] = f"last close {last:.2f} >= {study['max_last_price']}"
            log.info("%s: skipped, last close %.2f >= %s", symbol, last, study["max_last_price"])
            continue
        data_hash = store.content_hash([(symbol, timeframe)])
        name = f"{cfg.search.kind}-{study['objective']}"
        with job_for(
            tracker, cfg, experiment=f"kalman_residual/{symbol}", run_name=name, data_hash=data_hash
        ) as job:
            job.set_tags({"family": "kalman_residual", "target": symbol})
            result = tune_residual({symbol: bars}, cfg.study, cfg.search, job,
                                   max_trial_runs=int(cfg.tracking.max_trial_runs), robustness=cfg.robustness)  # fmt: skip
        combined.symbols.update(result.symbols)
        combined.skipped.update(result.skipped)
        combined.n_trials = result.n_trials
        sym = result.symbols.get(symbol)
        if sym is not None and sym.backtest is not None:
            best = {
                **sym.backtest.metrics,
                **sym.statistics,
                "score": float(sym.trials["score"].iloc[sym.best_trial]),
            }
            _write_metrics(out_root / symbol, best)
            per_target[symbol] = best

    if len(symbols) > 1 and combined.best:
        with job_for(
            tracker, cfg, experiment="kalman_residual/universe", run_name="summary"
        ) as job:
            job.log_dict(combined.to_json(), "small_cap_optimization.json")
            job.log_metrics({**combined.summary(), "n_symbols": len(combined.best)})
            fig = combined.summary_figure()
            if fig is not None:
                job.log_figure(fig, "summary.png")
                out_root.mkdir(parents=True, exist_ok=True)
                fig.savefig(out_root / "summary.png", dpi=110, bbox_inches="tight")
    summary = combined.summary()
    _write_metrics_file(cfg, _residual_headline(per_target, summary))
    return float(summary["avg_return"])


def _pairs(cfg: DictConfig, tracker: Tracker) -> float:
    from tradelab.strategies import save_pairs_study, tune_pairs
    from tradelab.strategies._logging import log_frame
    from tradelab.strategies.pairs_study import choose_pair

    store = _store(cfg)
    study = to_plain(cfg.study)
    tickers = study["screen"]["symbols"] or list(cfg.universe.extra)
    tickers = [validate_symbol(t) for t in tickers if store.meta(t, "1day") is not None]
    if len(tickers) < 2:
        raise DataError(f"fewer than two screenable tickers with daily data in {store.root}")
    frames = {t: _bars(store, t, "1day").set_index("timestamp") for t in tickers}
    closes = (
        pd.DataFrame({t: f["close"] for t, f in frames.items()})
        .dropna()
        .iloc[-int(study["screen"]["lookback_days"]) :]
    )
    opens = pd.DataFrame({t: f["open"] for t, f in frames.items()}).loc[closes.index]
    screened, first, second, config = choose_pair(closes, cfg.study)
    target = f"{first}-{second}"
    data_hash = store.content_hash([(first, "1day"), (second, "1day")])
    with job_for(tracker, cfg, experiment=f"kalman_pairs/{target}", run_name=f"{cfg.search.kind}-{study['objective']}",
                 data_hash=data_hash) as job:  # fmt: skip
        job.set_tags({"family": "kalman_pairs", "target": target})
        log_frame(job, screened, "cointegrated_pairs.csv")
        result = tune_pairs(closes[first].rename(first), closes[second].rename(second), config, cfg.search, job,
                            opens_a=opens[first].rename(first), opens_b=opens[second].rename(second),
                            max_trial_runs=int(cfg.tracking.max_trial_runs), robustness=cfg.robustness)  # fmt: skip
    folder = Path(cfg.paths.results_dir) / "kalman_pairs" / target
    save_pairs_study(result, folder)
    screened.to_csv(folder / "cointegrated_pairs.csv", index=False)
    if result.backtest is not None:
        best = {**result.backtest.metrics, **result.statistics}
        _write_metrics(folder, best)
        _write_metrics_file(cfg, {k: best[k] for k in _HEADLINE if k in best})
        return float(result.backtest.metrics["sharpe"])
    return float("nan")


def run(cfg: DictConfig) -> float:
    """Run the configured study; return its headline number (for Hydra sweepers)."""
    kind = str(cfg.study.kind)
    tracker = tracker_for(cfg)
    if kind == "kalman_residual":
        return _residual(cfg, tracker)
    if kind == "kalman_pairs":
        return _pairs(cfg, tracker)
    if kind == "forecast":
        from tradelab.apps.tune_forecast import run_forecast

        return run_forecast(cfg, tracker)
    raise ConfigError("study.kind", f"unknown study {kind!r}")


main = run_hydra_app("tune", run)

if __name__ == "__main__":
    main()
