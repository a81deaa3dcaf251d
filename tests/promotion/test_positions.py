"""What a strategy model answers: the position held after each bar, the last one included.

For every family (all six WFO variants, Kalman residual, Kalman pairs) `predict` on bars that
end inside a trade equals, at every bar, the held position of the simulation it wraps, and the
trade still open at the last bar shows there. The oracle is the simulation run on the same bars
(its per-bar position) and on more bars (its closed trades cover the cut). Bad input gets a
`DataValidationError` naming the column or row.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from tradelab.errors import DataValidationError
from tradelab.promotion.family_kalman import predict_pairs, predict_residual
from tradelab.promotion.family_wfo import predict_wfo
from tradelab.settings import from_plain
from tradelab.strategies.pairs import PairData, backtest_pair
from tradelab.strategies.residual import ResidualSettings, backtest_residual
from tradelab.wfo import Phase, WfoData, simulate_reference, strategy_from_config
from tradelab.wfo.settings import StrategyConfig

CONF = Path(__file__).resolve().parents[2] / "conf"
VARIANTS = ("atr_d_l", "atr_d_ls", "atr_d_hma_l", "atr_d_hma_ls", "atr_d_duals_l", "atr_d_duals_ls")
WARMUP = 100


# -- configs as promotion writes them ----------------------------------------------------------
def wfo_config(variant: str) -> dict[str, Any]:
    """The production config of `variant` at its default parameters (a faster stop)."""
    strategy = yaml.safe_load((CONF / "strategy" / f"{variant}.yaml").read_text())
    strategy.pop("defaults", None)
    params = {k: float(v["default"]) for k, v in strategy["params"].items()}
    params["atr_multiplier"] = 3.0
    return {
        "symbol": "SMH",
        "symbol2": "QQQ" if "duals" in variant else None,
        "strategy": strategy,
        "params": params,
        "phases": {"warmup_bars": WARMUP},
        "metrics": {},
    }


RESIDUAL_CONFIG: dict[str, Any] = {
    "symbol": "PLUG",
    "params": {
        "initial_capital": 100000.0,
        "position_size_pct": 0.15,
        "process_noise_q": 1e-4,
        "observation_noise_r": 5e-3,
        "residual_z_entry": 0.5,
        "residual_z_exit": 0.3,
        "stop_loss_pct": 0.05,
        "take_profit_pct": 0.04,
        "trailing_stop_pct": 0.025,
        "aggregate_mins": 5,
    },
    "settings": {
        "warmup_bars": 60,
        "z_lookback": 50,
        "trail_activation_pct": 0.02,
        "session_minutes": 390,
        "trading_days_per_year": 252,
        "initial_capital": 100000.0,
        "aggregate_mins": 5,
    },
    "study": {},
}
PAIRS_PARAMS = {"window": 30, "entry_z": 1.2, "exit_z": 0.3, "stop_z": 4.0, "stake": 40}


def pairs_config(fill: str = "close") -> dict[str, Any]:
    params = {"delta": 1e-5, "R": 0.001, "long_only": False, "commission": 0.0005}
    params.update({"initial_cash": 100000.0, **PAIRS_PARAMS})
    study = {"session_tz": "America/New_York", "fill": fill}
    legs = {"asset_1": "DIA", "asset_2": "SPY", "hedge_ratio": 0.6}
    return {**legs, "params": params, "study": study}


# -- bars ------------------------------------------------------------------------------------
def daily_bars(n: int, seed: int) -> pd.DataFrame:
    """Daily OHLC bars (midnight New York of each business day, in UTC) and a `close2`."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    open_ = np.concatenate([[100.0], close[:-1]]) * np.exp(rng.normal(0, 0.004, n))
    days = pd.bdate_range("2020-01-02", periods=n).tz_localize("America/New_York")
    return pd.DataFrame(
        {
            "timestamp": days.tz_convert("UTC"),
            "open": open_,
            "high": np.maximum(open_, close) * (1 + np.abs(rng.normal(0, 0.006, n))),
            "low": np.minimum(open_, close) * (1 - np.abs(rng.normal(0, 0.006, n))),
            "close": close,
            "close2": close * np.exp(np.cumsum(rng.normal(0, 0.007, n))),
        }
    )


def five_minute_bars(n: int, seed: int) -> pd.DataFrame:
    """5-minute bars of the regular sessions of a volatile $8 stock."""
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2026-03-02", periods=n // 78 + 1, tz="America/New_York")
    times = pd.DatetimeIndex(
        [d + pd.Timedelta(hours=9, minutes=30 + 5 * k) for d in days for k in range(78)]
    )[:n].tz_convert("UTC")
    steps = rng.normal(0, 0.006, n) + rng.standard_t(3, n) * 0.002
    return pd.DataFrame({"timestamp": times, "close": 8.0 * np.exp(np.cumsum(steps))})


def pair_bars(n: int, seed: int) -> pd.DataFrame:
    """Daily closes and opens of DIA and SPY, cointegrated (a mean-reverting spread)."""
    rng = np.random.default_rng(seed)
    spy = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0, 0.8)
    dia = 0.6 * spy + 20.0 + spread
    days = pd.bdate_range("2021-01-04", periods=n).tz_localize("America/New_York")
    return pd.DataFrame(
        {
            "timestamp": days.tz_convert("UTC"),
            "close_DIA": dia,
            "close_SPY": spy,
            "open_DIA": dia * (1 + rng.normal(0, 0.003, n)),
            "open_SPY": spy * (1 + rng.normal(0, 0.003, n)),
        }
    )


def held_by_trades(n: int, entries: np.ndarray, exits: np.ndarray, sides: np.ndarray) -> np.ndarray:
    """Direction held after each of `n` bars by closed trades (entry bar in, exit bar out)."""
    out = np.zeros(n)
    for entry, exit_, side in zip(entries, exits, sides):
        out[int(entry) : min(int(exit_), n)] = np.sign(side)
    return out


def open_at_the_end(held: np.ndarray, exits: set[int]) -> int:
    """The last bar (before the last) that a trade is held after and not exited at."""
    return int(next(t for t in np.flatnonzero(held[:-1])[::-1] if t not in exits))


# -- WFO: six variants ---------------------------------------------------------------------
def _wfo_reference(config: dict[str, Any], bars: pd.DataFrame) -> Any:
    spec = strategy_from_config(from_plain(StrategyConfig, config["strategy"], "strategy"))
    data = WfoData(
        pd.DatetimeIndex(bars["timestamp"]).tz_localize(None).to_numpy("datetime64[ns]"),
        *(bars[c].to_numpy() for c in ("open", "high", "low", "close")),
        close2=bars["close2"].to_numpy() if spec.dual else None,
    )
    n = len(bars)
    return simulate_reference(data, spec, config["params"], Phase("p", 0, WARMUP, n - 1, n - 1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_wfo_predict_holds_what_the_simulation_holds(variant: str) -> None:
    config, bars = wfo_config(variant), daily_bars(700, seed=4)
    long_run = _wfo_reference(config, bars)
    trades = long_run.trades
    assert len(trades) >= 3, f"{variant}: the bars must make the strategy trade"
    held = held_by_trades(len(bars), trades["entry_bar"], trades["exit_bar"], trades["direction"])
    cut = open_at_the_end(held, set(trades["exit_bar"].tolist()))
    frame = bars.iloc[: cut + 1]

    out = predict_wfo(config, frame)
    assert held[cut] != 0.0
    np.testing.assert_array_equal(out["position"].to_numpy(), held[: cut + 1])  # the last too
    run = _wfo_reference(config, frame)
    expected = np.zeros(len(frame))
    expected[WARMUP - 1 :] = np.sign(run.position)
    np.testing.assert_array_equal(out["position"].to_numpy(), expected)
    np.testing.assert_array_equal(out["equity"].to_numpy()[WARMUP - 1 :], run.equity)


# -- Kalman residual -----------------------------------------------------------------------
# the study's default costs, as `_residual_config` copies them into the production config
RESIDUAL_COSTS = {"commission": 0.005, "slippage": 0.01, "commission_bps": 0.5, "slippage_bps": 2}


def _residual_backtest(close: np.ndarray, config: dict[str, Any]) -> Any:
    s = config["settings"]
    settings = ResidualSettings(
        initial_capital=s["initial_capital"],
        warmup_bars=s["warmup_bars"],
        z_lookback=s["z_lookback"],
        trail_activation_pct=s["trail_activation_pct"],
        bars_per_year=252 * 78,
        backend="numpy",
        cost_per_share=s.get("commission", 0.0) + s.get("slippage", 0.0),
        cost_rate=(s.get("commission_bps", 0.0) + s.get("slippage_bps", 0.0)) / 1e4,
    )
    params = {k: v for k, v in config["params"].items() if k != "aggregate_mins"}
    params.pop("initial_capital")
    return backtest_residual(close, params, settings)


@pytest.mark.parametrize("costs", [{}, RESIDUAL_COSTS], ids=["no costs", "costs"])
def test_residual_predict_holds_what_the_kernel_holds(costs: dict[str, float]) -> None:
    """The registered model's equity is the study's, costs included."""
    config = {**RESIDUAL_CONFIG, "settings": {**RESIDUAL_CONFIG["settings"], **costs}}
    bars = five_minute_bars(1500, seed=1)
    long_run = _residual_backtest(bars["close"].to_numpy(), config)
    trades = long_run.trades
    closed = trades[trades["reason"] != "end_of_data"]
    held = held_by_trades(len(bars), closed["entry_bar"], closed["exit_bar"], closed["side"])
    cut = open_at_the_end(held, set(trades["exit_bar"].tolist()))
    frame = bars.iloc[: cut + 1]

    out = predict_residual(config, frame)
    assert held[cut] != 0.0
    np.testing.assert_array_equal(out["position"].to_numpy(), held[: cut + 1])  # the last too
    run = _residual_backtest(frame["close"].to_numpy(), config)
    if costs:
        assert (
            run.equity[-1]
            < _residual_backtest(frame["close"].to_numpy(), RESIDUAL_CONFIG).equity[-1]
        )
    np.testing.assert_array_equal(out["position"].to_numpy(), np.sign(run.positions))
    np.testing.assert_array_equal(out["equity"].to_numpy(), run.equity)


# -- Kalman pairs ----------------------------------------------------------------------------
def _pair_backtest(bars: pd.DataFrame, fill: str) -> Any:
    times = pd.DatetimeIndex(bars["timestamp"])
    legs = {c: pd.Series(bars[c].to_numpy(), index=times) for c in bars.columns[1:]}
    data = PairData.from_series(
        legs["close_DIA"].rename("DIA"),
        legs["close_SPY"].rename("SPY"),
        open_a=legs["open_DIA"],
        open_b=legs["open_SPY"],
    )
    return backtest_pair(data, pairs_config(fill)["params"], beta0=0.6, backend="numpy", fill=fill)


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_pairs_predict_holds_what_the_kernel_holds(fill: str) -> None:
    bars = pair_bars(400, seed=3)
    long_run = _pair_backtest(bars, fill)
    shares = np.zeros((len(bars), 2))
    for row in long_run.fills.itertuples(index=False):  # the long run's own fills
        shares[row.bar :, row.leg] += row.size
    cut = int(np.flatnonzero((shares[:-1] != 0.0).all(axis=1))[-1])
    frame = bars.iloc[: cut + 1]

    out = predict_pairs(pairs_config(fill), frame)
    positions = out[["position_DIA", "position_SPY"]].to_numpy()
    assert (shares[cut] != 0.0).all()  # both legs still held after the last bar
    np.testing.assert_array_equal(positions, shares[: cut + 1])
    run = _pair_backtest(frame, fill)
    np.testing.assert_array_equal(positions, run.positions)
    np.testing.assert_array_equal(out["value"].to_numpy(), run.values.to_numpy())


# -- bad input -----------------------------------------------------------------------------
def _cases() -> list[tuple[str, Any, pd.DataFrame]]:
    return [
        ("wfo", lambda f: predict_wfo(wfo_config("atr_d_duals_ls"), f), daily_bars(300, 1)),
        ("residual", lambda f: predict_residual(RESIDUAL_CONFIG, f), five_minute_bars(300, 1)),
        ("pairs", lambda f: predict_pairs(pairs_config(), f), pair_bars(300, 1)),
    ]


CASES = _cases()
IDS = [name for name, _, _ in CASES]


@pytest.mark.parametrize(("name", "predict", "bars"), CASES, ids=IDS)
def test_missing_column_is_named(name: str, predict: Any, bars: pd.DataFrame) -> None:
    column = {"wfo": "close2", "residual": "close", "pairs": "close_SPY"}[name]
    with pytest.raises(DataValidationError, match="lack") as err:
        predict(bars.drop(columns=column))
    assert err.value.field == column


@pytest.mark.parametrize(("name", "predict", "bars"), CASES, ids=IDS)
def test_too_few_bars_say_how_many_are_needed(name: str, predict: Any, bars: pd.DataFrame) -> None:
    needed = {"wfo": WARMUP + 2, "residual": 61, "pairs": PAIRS_PARAMS["window"] + 1}[name]
    predict(bars.iloc[:needed])  # enough
    with pytest.raises(DataValidationError, match=f"at least {needed} bars") as err:
        predict(bars.iloc[: needed - 1])
    assert err.value.field == "timestamp"


@pytest.mark.parametrize(("name", "predict", "bars"), CASES, ids=IDS)
def test_unsorted_bars_are_refused(name: str, predict: Any, bars: pd.DataFrame) -> None:
    swapped = bars.iloc[[*range(150), 151, 150, *range(152, len(bars))]]
    with pytest.raises(DataValidationError, match="sort the bars") as err:
        predict(swapped.reset_index(drop=True))
    assert (err.value.field, err.value.row) == ("timestamp", 151)


@pytest.mark.parametrize(("name", "predict", "bars"), CASES, ids=IDS)
def test_duplicate_bars_are_refused(name: str, predict: Any, bars: pd.DataFrame) -> None:
    doubled = pd.concat([bars.iloc[:201], bars.iloc[200:]], ignore_index=True)
    with pytest.raises(DataValidationError, match="duplicate bar time") as err:
        predict(doubled)
    assert (err.value.field, err.value.row) == ("timestamp", 201)


@pytest.mark.parametrize(("name", "predict", "bars"), CASES, ids=IDS)
def test_bad_price_is_named_with_its_row(name: str, predict: Any, bars: pd.DataFrame) -> None:
    column = bars.columns[1]
    broken = bars.copy()
    broken.loc[120, column] = np.nan
    with pytest.raises(DataValidationError, match="finite and positive") as err:
        predict(broken)
    assert (err.value.field, err.value.row) == (column, 120)


def test_json_times_are_read_as_utc() -> None:
    """A serving request carries times as ISO text; they read back as the same UTC times."""
    bars = daily_bars(300, seed=2)
    config = wfo_config("atr_d_l")
    as_text = bars.assign(timestamp=bars["timestamp"].map(lambda t: t.isoformat()))
    pd.testing.assert_frame_equal(predict_wfo(config, as_text), predict_wfo(config, bars))
