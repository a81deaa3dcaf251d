"""Promotion adapter of the WFO family: one ATR-D combination per symbol (or dual pair).

Production configuration: `symbol`, `symbol2`, `strategy` (the variant's full strategy config
with the job's costs and sizing), `params` (the combination), `phases` (the job's layout) and
the candidate's walk-forward metrics. The overlay re-runs exactly that combination
(`tradelab-wfo +production=wfo/SMH`: a one-combination grid, no strategy expansion); the
TradeStation inputs go to `wfo/<target>.json` in the production folder. The registered model
returns the position (+1 long, -1 short, 0 flat) held after each bar and the equity.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradelab.promotion.families import FamilySpec, param_value, register_family
from tradelab.promotion.rules import Candidate, Objective
from tradelab.settings import from_plain
from tradelab.wfo import Phase, WfoData, simulate_reference, strategy_from_config
from tradelab.wfo.settings import StrategyConfig

__all__ = ["WFO", "predict_wfo"]

_WARMUP = 100


def _variant_config(name: str, recorded: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The variant's strategy config as its sweep recorded it (each variant's parent run
    records its own, with the job's overrides and costs)."""
    if recorded.get("name") != name:
        raise ValueError(
            f"run {run_id}: its config.yaml holds strategy {recorded.get('name')!r}, not "
            f"{name!r} (a run logged by an older tradelab): re-run the sweep"
        )
    return copy.deepcopy(dict(recorded))


def _config(candidate: Candidate, target: str) -> dict[str, Any]:
    job = dict(candidate.context.get("config", {}))
    if not job.get("strategy"):
        raise ValueError(f"run {candidate.run_id}: the job's config.yaml has no strategy section")
    name = candidate.tags.get("strategy") or job["strategy"]["name"]
    strategy = _variant_config(name, job["strategy"], candidate.run_id)
    params = {k: float(param_value(v)) for k, v in candidate.params.items()}
    metrics = {
        k: v
        for k, v in candidate.metrics.items()
        if k.startswith(("oos_", "is_", "stability", "phases"))
    }
    return {
        "symbol": job["symbol"],
        "symbol2": job.get("symbol2"),
        "strategy": strategy,
        "params": params,
        "phases": job.get("phases", {}),
        "metrics": metrics,
    }


def _overlay(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    strategy = copy.deepcopy(dict(config["strategy"]))
    return {
        "defaults": [{"override /strategy": strategy["name"]}, {"override /grid": "single"}],
        "symbol": config["symbol"],
        "symbol2": config["symbol2"],
        "expand": False,
        "strategy": {
            k: strategy[k]
            for k in ("commission", "slippage", "position_fraction", "initial_capital")
        },
        "grid": {
            "name": "production",
            "description": f"the promoted combination of {target}",
            "params": {k: [v] for k, v in config["params"].items()},
        },
        "phases": config["phases"],
    }


def _seed_files(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    strategy = config["strategy"]
    inputs = {}
    for name, spec in strategy.get("params", {}).items():
        inputs[spec.get("ts_input", name)] = config["params"].get(name, spec.get("default"))
    return {
        f"wfo/{target}.json": {
            "symbol": config["symbol"],
            "symbol2": config["symbol2"],
            "strategy": strategy["name"],
            "ts_name": strategy.get("ts_name"),
            "inputs": inputs,
            "walk_forward": dict(config.get("metrics", {})),
        }
    }


def predict_wfo(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Simulate the promoted combination on `frame` (timestamp, open, high, low, close; `close2`
    for dual variants): the first 100 bars warm the indicators up, then it trades."""
    spec = strategy_from_config(from_plain(StrategyConfig, config["strategy"], "strategy"))
    close2 = frame["close2"].to_numpy(dtype=np.float64) if "close2" in frame.columns else None
    if spec.dual and close2 is None:
        raise ValueError(f"{spec.name} needs a close2 column (the close of {config['symbol2']})")
    n = len(frame)
    if n <= _WARMUP + 1:
        raise ValueError(f"need more than {_WARMUP + 1} bars, got {n}")
    data = WfoData(
        timestamps=pd.DatetimeIndex(frame["timestamp"])
        .tz_localize(None)
        .to_numpy("datetime64[ns]"),
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        close2=close2,
        symbol=str(config["symbol"]),
    )
    run = simulate_reference(data, spec, config["params"], Phase("live", 0, _WARMUP, n - 1, n - 1))
    position = np.zeros(n)
    for trade in run.trades:
        position[int(trade["entry_bar"]) : int(trade["exit_bar"])] = float(trade["direction"])
    equity = np.full(n, np.nan)
    equity[_WARMUP - 1 :] = run.equity[: n - _WARMUP + 1]
    return pd.DataFrame(
        {
            "timestamp": frame["timestamp"].to_numpy(),
            "close": data.close,
            "position": position,
            "equity": equity,
        }
    )


def _report_bars(config: Mapping[str, Any], store: Any) -> pd.DataFrame:
    frame = store.get(config["symbol"], "1day")
    if config.get("symbol2"):
        other = store.get(config["symbol2"], "1day").set_index("timestamp")["close"]
        frame = frame.assign(close2=other.reindex(frame["timestamp"]).ffill().to_numpy()).dropna()
    return frame.reset_index(drop=True)


WFO = register_family(
    FamilySpec(
        name="wfo",
        objective=Objective("stability_score"),
        config=_config,
        overlay=_overlay,
        seed_files=_seed_files,
        predict=predict_wfo,
        metric_names={
            "trades": "num_trades",
            "drawdown": "max_drawdown",
            "phases_valid": "phases_valid",
        },
        app="wfo",
        report_bars=_report_bars,
    )
)
