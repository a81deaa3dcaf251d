"""Promotion adapter of the WFO family: one ATR-D combination per symbol (or dual pair).

Production configuration: `symbol`, `symbol2`, `strategy` (the variant's full strategy config
with the job's costs and sizing), `params` (the combination), `phases` (the job's layout) and
the candidate's walk-forward metrics. The overlay re-runs exactly that combination
(`tradelab-wfo +production=wfo/SMH`: a one-combination grid, no strategy expansion); the
TradeStation inputs go to `wfo/<target>.json` in the production folder. The registered model
returns the position (+1 long, -1 short, 0 flat) held after each bar, as the reference
simulation holds it (the fill bar counts, the exit bar does not, a trade still open at the
last bar shows there), and the equity.
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
from tradelab.settings import from_plain
from tradelab.tracking.base import IN_SAMPLE, OUT_OF_SAMPLE
from tradelab.wfo import (
    SHARED_FIELDS,
    Phase,
    WfoData,
    simulate_reference,
    strategy_from_config,
)
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
        if k.startswith((OUT_OF_SAMPLE, IN_SAMPLE, "stability", "phases"))
    }
    return {
        "symbol": job["symbol"],
        "symbol2": job.get("symbol2"),
        "strategy": strategy,
        "params": params,
        "phases": job.get("phases", {}),
        "phases_name": candidate.tags.get("phases"),
        "metrics": metrics,
    }


def _overlay(config: Mapping[str, Any], target: str) -> dict[str, Any]:
    strategy = copy.deepcopy(dict(config["strategy"]))
    return {
        "defaults": [
            {"override /strategy": strategy["name"]},
            {"override /grid": "single"},
            *([{"override /phases": config["phases_name"]}] if config.get("phases_name") else []),
        ],
        "symbol": config["symbol"],
        "symbol2": config["symbol2"],
        "expand": False,
        "strategy": {k: strategy[k] for k in SHARED_FIELDS if k in strategy},
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


def _warmup(config: Mapping[str, Any]) -> int:
    """Bars that only warm the indicators up: the sweep's `phases.warmup_bars`."""
    return int((config.get("phases") or {}).get("warmup_bars", _WARMUP))


def _bars(config: Mapping[str, Any], frame: pd.DataFrame, dual: bool) -> WfoData:
    warmup = _warmup(config)
    prices = ("open", "high", "low", "close", *(("close2",) if dual else ()))
    times = check_bars(
        frame,
        prices,
        min_bars=warmup + 2,
        model=f"wfo {config['strategy']['name']}",
        why=f"{warmup} warm the indicators up, then it trades",
    )
    return WfoData(
        timestamps=times.tz_localize(None).to_numpy("datetime64[ns]"),
        open=frame["open"].to_numpy(np.float64),
        high=frame["high"].to_numpy(np.float64),
        low=frame["low"].to_numpy(np.float64),
        close=frame["close"].to_numpy(np.float64),
        close2=frame["close2"].to_numpy(np.float64) if dual else None,
        symbol=str(config["symbol"]),
    )


def predict_wfo(config: Mapping[str, Any], frame: pd.DataFrame) -> pd.DataFrame:
    """Simulate the promoted combination on `frame` (timestamp, open, high, low, close; `close2`,
    the close of `symbol2`, for dual variants): the sweep's warmup bars (`phases.warmup_bars`)
    warm the indicators up, then it trades. Answer, for each bar, the position held after it
    (+1 long, -1 short, 0 flat; a trade still open at the last bar included) and the equity."""
    spec = strategy_from_config(from_plain(StrategyConfig, config["strategy"], "strategy"))
    data = _bars(config, frame, spec.dual)
    n, warmup = len(data.close), _warmup(config)
    run = simulate_reference(data, spec, config["params"], Phase("live", 0, warmup, n - 1, n - 1))
    position = np.zeros(n)
    position[warmup - 1 :] = np.sign(run.position)
    equity = np.full(n, np.nan)
    equity[warmup - 1 :] = run.equity
    return pd.DataFrame(
        {
            "timestamp": pd.DatetimeIndex(data.timestamps).tz_localize("UTC"),
            "close": data.close,
            "position": position,
            "equity": equity,
        },
        index=frame.index,
    )


def _example(config: Mapping[str, Any]) -> InputExample:
    spec = strategy_from_config(from_plain(StrategyConfig, config["strategy"], "strategy"))
    bars = example_bars(_warmup(config) + 10)
    columns = ["timestamp", "open", "high", "low", "close"]
    if spec.dual:
        bars["close2"] = example_bars(len(bars), seed=1)["close"]
        columns.append("close2")
    return InputExample(bars[columns])


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
            "trades": "distinct_trades",
            "drawdown": "max_drawdown",
            "phases_valid": "phases_valid",
            "excess_return": "matched_excess_return",
            "sharpe_2x_costs": f"{OUT_OF_SAMPLE}sharpe_costs_2x",
        },
        app="wfo",
        report_bars=_report_bars,
        example=_example,
    )
)
