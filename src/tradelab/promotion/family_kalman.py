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

from tradelab.promotion.families import (
    FamilySpec,
    InputExample,
    check_bars,
    example_bars,
    param_value,
    register_family,
)
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
    for name in ("commission", "slippage", "commission_bps", "slippage_bps"):
        settings[name] = float(study["strategy"].get(name) or 0.0)  # absent: a run before costs
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


def _residual_settings(s: Mapping[str, Any], minutes: float) -> Any:
    from tradelab.strategies.bars import bars_per_year
    from tradelab.strategies.residual import ResidualSettings, residual_costs

    return ResidualSettings(
        initial_capital=float(s["initial_capital"]),
        warmup_bars=int(s["warmup_bars"]),
        z_lookback=int(s["z_lookback"]),
        trail_activation_pct=float(s["trail_activation_pct"]),
        bars_per_year=bars_per_year(
            minutes, int(s["session_minutes"]), int(s["trading_days_per_year"])
        ),
        backend="numpy",
        **residual_costs(s),
    )


def _residual_frame(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """The checked bars at the configured bar size (finer bars are aggregated)."""
    from tradelab.strategies.bars import aggregate_bars, bar_minutes

    s = config["settings"]
    mins, warmup = int(s["aggregate_mins"]), int(s["warmup_bars"])
    model = f"kalman_residual {config['symbol']}"
    times = check_bars(frame, ("close",), min_bars=2, model=model, why="two give the bar size")
    bars = frame.assign(timestamp=times)
    if bar_minutes(times) < mins - 1e-9:
        bars = aggregate_bars(bars, mins)
    why = f"{warmup} {mins}-minute bars warm the filter up, then it trades"
    check_bars(bars, ("close",), min_bars=warmup + 1, model=model, why=why)
    return bars


def predict_residual(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Positions of the residual strategy on `frame` (timestamp + close, any bar size <= the
    configured one; finer bars need OHLCV to be aggregated): +1 long, -1 short, 0 flat held
    after each bar's close (a trade still open at the last bar included), with the equity."""
    from tradelab.kalman import local_level_filter
    from tradelab.strategies.bars import bar_minutes
    from tradelab.strategies.residual import SEARCHABLE, backtest_residual

    bars = _residual_frame(config, frame)
    times = pd.DatetimeIndex(bars["timestamp"])
    close = bars["close"].to_numpy(dtype=np.float64)
    settings = _residual_settings(config["settings"], bar_minutes(times))
    params = {k: float(v) for k, v in config["params"].items() if k in SEARCHABLE}
    bt = backtest_residual(close, params, settings, max_trades=len(close))
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
            "position": np.sign(bt.positions),
            "equity": bt.equity,
        },
        index=frame.index if len(bars) == len(frame) else None,
    )


def _residual_example(config: Mapping[str, Any]) -> InputExample:
    s = config["settings"]
    bars = example_bars(int(s["warmup_bars"]) + 10, minutes=int(s["aggregate_mins"]))
    return InputExample(bars, optional=("open", "high", "low", "volume"))


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
        metric_names={
            "trades": "num_trades",
            "drawdown": "max_drawdown",
            "excess_return": "excess_return",  # total return over buy-and-hold
        },
        report_bars=_residual_bars,
        example=_residual_example,
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


def _pairs_columns(config: Mapping[str, Any], frame: pd.DataFrame) -> dict[str, str]:
    """{kind_leg: column}: the closes (`close_<A>`, else `<A>`) and the opens when given."""
    a, b = config["asset_1"], config["asset_2"]
    out = {}
    for leg, name in (("a", a), ("b", b)):
        bare = name if name in frame.columns and f"close_{name}" not in frame.columns else None
        out[f"close_{leg}"] = bare or f"close_{name}"
        if f"open_{name}" in frame.columns:
            out[f"open_{leg}"] = f"open_{name}"
    return out


def _pairs_fill(config: Mapping[str, Any]) -> str:
    """The study's fill (`close` or `next_open`); configs promoted before it existed filled at
    the next open."""
    return str(config["study"].get("fill", "next_open"))


def predict_pairs(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Positions of both legs (shares held after each bar's fills, a trade still open at the
    last bar included) and the portfolio value.

    `frame`: `timestamp` plus closes as `close_<A>`/`close_<B>` or `<A>`/`<B>` (opens as
    `open_<A>`/`open_<B>` when known); orders fill on the next bar as the study's `fill` says
    (its close, or its open as backtrader)."""
    from tradelab.strategies.pairs import PairData, backtest_pair

    a, b = config["asset_1"], config["asset_2"]
    window = int(config["params"]["window"])
    cols = _pairs_columns(config, frame) if isinstance(frame, pd.DataFrame) else {}
    model, why = f"kalman_pairs {a}-{b}", f"a {window}-bar z-score window, then it trades"
    closes = [cols.get("close_a", ""), cols.get("close_b", "")]
    times = check_bars(frame, closes, min_bars=window + 1, model=model, why=why)
    opens = [cols[k] for k in ("open_a", "open_b") if k in cols]
    check_bars(frame, opens, min_bars=window + 1, model=model, why=why)

    def leg(kind: str, which: str, name: str) -> pd.Series | None:
        key = cols.get(f"{kind}_{which}")
        values = None if key is None else frame[key].to_numpy(dtype=np.float64)
        return None if values is None else pd.Series(values, index=times, name=name)

    data = PairData.from_series(
        leg("close", "a", a),
        leg("close", "b", b),
        open_a=leg("open", "a", a),
        open_b=leg("open", "b", b),
        session_tz=config["study"].get("session_tz", "America/New_York"),
    )
    bt = backtest_pair(
        data,
        config["params"],
        beta0=float(config["hedge_ratio"]),
        backend="numpy",
        max_fills=2 * data.n_bars,
        fill=_pairs_fill(config),
    )
    return pd.DataFrame(
        {
            "timestamp": data.times,
            f"position_{a}": bt.positions[:, 0],
            f"position_{b}": bt.positions[:, 1],
            "value": bt.values.to_numpy(),
        },
        index=frame.index,
    )


def _pairs_example(config: Mapping[str, Any]) -> InputExample:
    a, b = config["asset_1"], config["asset_2"]
    bars = example_bars(int(config["params"]["window"]) + 10, names=(a, b))
    columns = ["timestamp", f"close_{a}", f"close_{b}", f"open_{a}", f"open_{b}"]
    return InputExample(bars[columns], optional=(f"open_{a}", f"open_{b}"))


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
        example=_pairs_example,
    )
)
