"""Promotion adapters of the Kalman families: residual mean reversion and pairs.

Production configuration (what the registered model carries):
- kalman_residual: `symbol`, the full parameter set `params`, `settings` (capital, warmup,
  z lookback, trailing-stop activation, bar size) and the job's `study` section;
- kalman_pairs: `asset_1`, `asset_2`, `hedge_ratio`, `lookback_days`, `params`, `prod` (seed
  001's `kalman_prod_config.json`) and the job's `study` section.
The overlay `conf/production/<family>/<target>.yaml` re-runs exactly that configuration:
`tradelab-tune +production=kalman_pairs/DIA-SPY` (a one-combination grid).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradelab.promotion.families import FamilySpec, param_value, register_family
from tradelab.promotion.rules import Candidate, Objective

__all__ = ["PAIRS", "RESIDUAL", "predict_pairs", "predict_residual"]


def _searched(candidate: Candidate, space: Mapping[str, Any]) -> dict[str, Any]:
    return {k: param_value(candidate.params[k]) for k in space if k in candidate.params}


def _study(candidate: Candidate) -> dict[str, Any]:
    study = copy.deepcopy(dict(candidate.context.get("config", {}).get("study", {})))
    if not study:
        raise ValueError(f"run {candidate.run_id}: the job's config.yaml has no study section")
    return study


# -- residual ---------------------------------------------------------------------------------
def _residual_config(candidate: Candidate, target: str) -> dict[str, Any]:
    study = _study(candidate)
    best = _searched(candidate, study.get("space", {}))
    params = {**{k: v for k, v in study["strategy"].items()}, **best}
    settings = {
        k: study[k]
        for k in (
            "warmup_bars",
            "z_lookback",
            "trail_activation_pct",
            "session_minutes",
            "trading_days_per_year",
        )
    }
    settings["initial_capital"] = study["strategy"]["initial_capital"]
    settings["aggregate_mins"] = study["strategy"]["aggregate_mins"]
    study["space"] = {k: [v] for k, v in best.items()}
    return {"symbol": target, "params": params, "settings": settings, "study": study}


def _residual_overlay(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    study = copy.deepcopy(dict(config["study"]))
    study["max_last_price"] = None  # re-run even if the price has left the small-cap band
    return {
        "defaults": [{"override /study": "kalman_residual"}, {"override /search": "grid"}],
        "symbol": target,
        "study": study,
    }


def predict_residual(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Positions of the residual strategy on `frame` (timestamp + close, any bar size <= the
    configured one): +1 long, -1 short, 0 flat after each bar's close, with the equity."""
    from tradelab.kalman import local_level_filter
    from tradelab.strategies.bars import aggregate_bars, bar_minutes, bars_per_year, timestamps
    from tradelab.strategies.residual import SEARCHABLE, ResidualSettings, backtest_residual

    s = config["settings"]
    times = timestamps(frame)
    if len(frame) >= 2 and bar_minutes(times) < float(s["aggregate_mins"]) - 1e-9:
        frame = aggregate_bars(frame, int(s["aggregate_mins"]))
        times = timestamps(frame)
    close = frame["close"].to_numpy(dtype=np.float64)
    minutes = bar_minutes(times) if len(times) > 1 else float(s["aggregate_mins"])
    settings = ResidualSettings(
        initial_capital=float(s["initial_capital"]),
        warmup_bars=int(s["warmup_bars"]),
        z_lookback=int(s["z_lookback"]),
        trail_activation_pct=float(s["trail_activation_pct"]),
        bars_per_year=bars_per_year(
            minutes, int(s["session_minutes"]), int(s["trading_days_per_year"])
        ),
        backend="numpy",
    )
    params = {k: float(v) for k, v in config["params"].items() if k in SEARCHABLE}
    bt = backtest_residual(close, params, settings)
    position = np.zeros(len(close))
    for trade in bt.trades.itertuples(index=False):
        position[int(trade.entry_bar) : int(trade.exit_bar)] = int(trade.side)
    z = local_level_filter(
        close,
        [params["process_noise_q"]],
        [params["observation_noise_r"]],
        lookback=settings.z_lookback,
        backend="numpy",
    ).residual_z[0]
    return pd.DataFrame(
        {
            "timestamp": times,
            "close": close,
            "residual_z": z,
            "position": position,
            "equity": bt.equity,
        }
    )


def _residual_bars(config: Mapping[str, Any], store: Any) -> pd.DataFrame:
    return store.get(config["symbol"], f"{int(config['settings']['aggregate_mins'])}min")


def _pairs_bars(config: Mapping[str, Any], store: Any) -> pd.DataFrame:
    a, b = config["asset_1"], config["asset_2"]
    legs = {name: store.get(name, "1day").set_index("timestamp") for name in (a, b)}
    frame = pd.DataFrame(
        {
            f"close_{a}": legs[a]["close"],
            f"close_{b}": legs[b]["close"],
            f"open_{a}": legs[a]["open"],
            f"open_{b}": legs[b]["open"],
        }
    ).dropna()
    frame = frame.iloc[-int(config["lookback_days"]) :]
    return frame.rename_axis("timestamp").reset_index()


RESIDUAL = register_family(
    FamilySpec(
        name="kalman_residual",
        objective=Objective("score"),
        config=_residual_config,
        overlay=_residual_overlay,
        predict=predict_residual,
        metric_names={"trades": "num_trades", "drawdown": "max_drawdown"},
        report_bars=_residual_bars,
    )
)


# -- pairs ------------------------------------------------------------------------------------
def _pairs_config(candidate: Candidate, target: str) -> dict[str, Any]:
    from tradelab.strategies.pairs_study import CONFIG_KEYS

    study = _study(candidate)
    best = _searched(candidate, study.get("space", {}))
    job = candidate.context.get("params", {})
    asset_1, asset_2 = str(job.get("asset_1")), str(job.get("asset_2"))
    if f"{asset_1}-{asset_2}" != target:
        raise ValueError(f"run {candidate.run_id}: job traded {asset_1}-{asset_2}, not {target}")
    hedge = float(job["hedge_ratio"])
    params = {**study["strategy"], **best}
    prod = {k: params[k] if k != "note" else study.get("note", "") for k in CONFIG_KEYS}
    prod.update({"asset_1": asset_1, "asset_2": asset_2, "hedge_ratio": hedge})
    study.update(
        {
            "asset_1": asset_1,
            "asset_2": asset_2,
            "hedge_ratio": hedge,
            "space": {k: [v] for k, v in best.items()},
        }
    )
    return {
        "asset_1": asset_1,
        "asset_2": asset_2,
        "hedge_ratio": hedge,
        "params": params,
        "prod": prod,
        "lookback_days": int(study["screen"]["lookback_days"]),
        "study": study,
    }


def _pairs_overlay(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    study = copy.deepcopy(dict(config["study"]))
    study["screen"]["symbols"] = [config["asset_1"], config["asset_2"]]
    study["screen"]["pvalue_max"] = None  # the pair is fixed: do not re-screen it away
    return {
        "defaults": [{"override /study": "kalman_pairs"}, {"override /search": "grid"}],
        "study": study,
    }


def _pairs_seed_files(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    return {f"kalman_pairs/{target}/kalman_prod_config.json": dict(config["prod"])}


def predict_pairs(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Positions of both legs (shares, after each bar's fills) and the portfolio value.

    `frame`: `timestamp` plus closes as `close_<A>`/`close_<B>` or `<A>`/`<B>` (opens as
    `open_<A>`/`open_<B>` when known; fills are at the next bar's open, as backtrader)."""
    from tradelab.strategies.pairs import PairData, backtest_pair

    a, b = config["asset_1"], config["asset_2"]

    def column(kind: str, name: str) -> pd.Series | None:
        for key in (f"{kind}_{name}", name if kind == "close" else None):
            if key is not None and key in frame.columns:
                return pd.Series(
                    frame[key].to_numpy(dtype=np.float64),
                    index=pd.DatetimeIndex(frame["timestamp"]),
                    name=name,
                )
        return None

    close_a, close_b = column("close", a), column("close", b)
    if close_a is None or close_b is None:
        raise ValueError(f"pairs model needs close columns for {a} and {b} (close_{a} or {a})")
    data = PairData.from_series(
        close_a,
        close_b,
        open_a=column("open", a),
        open_b=column("open", b),
        session_tz=config["study"].get("session_tz", "America/New_York"),
    )
    bt = backtest_pair(data, config["params"], beta0=float(config["hedge_ratio"]), backend="numpy")
    pos = np.zeros((data.n_bars, 2))
    for fill in bt.fills.itertuples(index=False):
        pos[int(fill.bar) :, int(fill.leg)] += float(fill.size)
    return pd.DataFrame(
        {
            "timestamp": data.times,
            f"position_{a}": pos[:, 0],
            f"position_{b}": pos[:, 1],
            "value": bt.values.to_numpy(),
        }
    )


PAIRS = register_family(
    FamilySpec(
        name="kalman_pairs",
        objective=Objective("sharpe", then=(("max_dd_pct", False),)),
        config=_pairs_config,
        overlay=_pairs_overlay,
        seed_files=_pairs_seed_files,
        predict=predict_pairs,
        metric_names={"trades": "num_trades", "drawdown": "max_drawdown"},
        report_bars=_pairs_bars,
    )
)
