"""The pairs kernel trades like seed 001's backtrader strategy: same fills, same final value."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError
from tradelab.search.settings import GridSearchConfig
from tradelab.strategies.pairs import PairBacktest, PairData, backtest_pair, evaluate_pairs
from tradelab.strategies.reference import run_backtrader
from tradelab.strategies.search import run_search

SEED_GRID = {
    "window": [45, 60, 90],
    "entry_z": [2.0, 2.5],
    "exit_z": [0.5],
    "stop_z": [3.5, 4.0],
    "stake": [25, 50, 75],
    "long_only": [False, True],
}


def _legs(seed: int, n: int, *, opens: bool) -> tuple[pd.DatetimeIndex, tuple[np.ndarray, ...]]:
    rng = np.random.default_rng(seed)
    b = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    spread = np.zeros(n)
    for t in range(1, n):
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0, 0.8)
    a = 0.6 * b + 20.0 + spread
    if opens:
        open_a = a * (1 + rng.normal(0, 0.003, n))
        open_b = b * (1 + rng.normal(0, 0.003, n))
    else:
        open_a, open_b = a, b
    times = pd.bdate_range("2021-01-04", periods=n, tz="UTC")
    return times, (open_a, a, open_b, b)


def _data(times: pd.DatetimeIndex, legs: tuple[np.ndarray, ...]) -> PairData:
    open_a, close_a, open_b, close_b = legs
    return PairData.from_series(
        pd.Series(close_a, index=times, name="A"),
        pd.Series(close_b, index=times, name="B"),
        open_a=pd.Series(open_a, index=times),
        open_b=pd.Series(open_b, index=times),
    )


CASES = [
    (0, False, {}),
    (1, True, {}),
    (2, True, {"window": 45, "entry_z": 2.0, "stop_z": 3.5, "stake": 75}),
    (3, False, {"long_only": True, "entry_z": 1.5, "stake": 25, "hedge_ratio": 0.55}),
    (4, True, {"stake": 2500, "entry_z": 1.5}),  # orders beyond the cash: margin rejections
    (5, True, {"delta": 1e-3, "R": 1e-2, "window": 20, "entry_z": 1.0, "exit_z": 0.2}),
]


def _assert_matches(ours: PairBacktest, ref: dict[str, object]) -> None:
    """Same fills (bar, leg, size, price, commission) and the same analyzer results."""
    fills = list(ours.fills[["bar", "leg", "size", "price", "commission"]].itertuples(index=False))
    assert len(fills) == len(ref["fills"]) > 0
    for mine, theirs in zip(fills, ref["fills"]):
        assert (mine.bar, mine.leg, mine.size) == theirs[:3]
        assert mine.price == pytest.approx(theirs[3], rel=1e-12)
        assert mine.commission == pytest.approx(theirs[4], rel=1e-12)
    assert abs(ours.metrics["final_value"] - ref["value"]) < 0.01
    assert abs(ours.metrics["final_value"] - ref["seed_final_value"]) < 0.01
    assert ours.metrics["sharpe"] == pytest.approx(ref["sharpe"], rel=1e-8)
    assert ours.metrics["max_dd_pct"] == pytest.approx(ref["max_dd_pct"], rel=1e-9, abs=1e-12)
    assert ours.metrics["max_dd_abs"] == pytest.approx(ref["max_dd_abs"], rel=1e-9, abs=1e-9)
    assert ours.metrics["num_trades"] == ref["closed"]
    assert ours.metrics["won_trades"] == ref["won"]
    assert ours.metrics["n_days"] == ref["n_days"] == len(ours.values)


@pytest.mark.parametrize(("seed", "opens", "params"), CASES)
def test_matches_backtrader(seed: int, opens: bool, params: dict[str, float]) -> None:
    times, legs = _legs(seed, 400, opens=opens)
    params = dict(params)
    beta0 = float(params.pop("hedge_ratio", 0.6))
    ref = run_backtrader(times, legs, hedge_ratio=beta0, **params)
    ours = backtest_pair(_data(times, legs), params, beta0=beta0, fill="next_open")
    _assert_matches(ours, ref)
    assert ours.metrics["n_days"] == 400
    if seed == 4:
        assert ours.metrics["rejected_orders"] > 0


@pytest.mark.parametrize(("seed", "params"), [(c[0], c[2]) for c in CASES if c[1]])
def test_close_fill_matches_backtrader_on_the_seeds_close_only_feed(
    seed: int, params: dict[str, float]
) -> None:
    # seed 001 builds its OHLC from closes (open = close): orders fill at the next close,
    # whatever the real opens were
    times, legs = _legs(seed, 400, opens=True)
    open_a, close_a, open_b, close_b = legs
    assert np.all(open_a != close_a) and np.all(open_b != close_b)
    params = dict(params)
    beta0 = float(params.pop("hedge_ratio", 0.6))
    ref = run_backtrader(times, (close_a, close_a, close_b, close_b), hedge_ratio=beta0, **params)
    data = _data(times, legs)
    ours = backtest_pair(data, params, beta0=beta0, fill="close")
    _assert_matches(ours, ref)
    assert backtest_pair(data, params, beta0=beta0).metrics == ours.metrics  # the default
    batch = evaluate_pairs(data, {k: [v] for k, v in params.items()}, beta0=beta0, fill="close")
    assert batch.metrics["final_value"].iloc[0] == pytest.approx(ref["value"], abs=0.01)
    real_opens = backtest_pair(data, params, beta0=beta0, fill="next_open")
    assert not np.array_equal(real_opens.fills["price"], ours.fills["price"])


def test_an_unknown_fill_names_the_field() -> None:
    times, legs = _legs(0, 120, opens=False)
    with pytest.raises(ConfigError, match=r"'fill'.*next_open"):
        backtest_pair(_data(times, legs), fill="vwap")
    with pytest.raises(ConfigError, match="'fill'"):
        evaluate_pairs(_data(times, legs), {"window": [20]}, fill="open")


def test_grid_batch_matches_backtrader_on_a_sample() -> None:
    times, legs = _legs(7, 300, opens=False)
    data = _data(times, legs)

    def evaluate(columns: dict[str, np.ndarray]) -> pd.DataFrame:
        return evaluate_pairs(data, columns, beta0=0.6).metrics

    trials = run_search(SEED_GRID, evaluate, "sharpe_then_dd", GridSearchConfig())
    assert len(trials) == 72
    for idx in (0, 13, 29, 46, 71):
        row = trials.iloc[idx]
        params = {k: row[k].item() for k in SEED_GRID}
        ref = run_backtrader(times, legs, hedge_ratio=0.6, **params)
        assert abs(row["final_value"] - ref["value"]) < 0.01
        assert row["num_trades"] == ref["closed"]


@pytest.mark.parametrize("fill", ["close", "next_open"])
def test_batch_equals_single_runs(fill: str) -> None:
    times, legs = _legs(8, 500, opens=True)
    data = _data(times, legs)
    grid = pd.MultiIndex.from_product(SEED_GRID.values(), names=list(SEED_GRID)).to_frame()
    columns = {k: grid[k].to_numpy() for k in SEED_GRID}
    columns["delta"] = np.where(np.arange(72) % 2 == 0, 1e-5, 1e-4)
    batch = evaluate_pairs(data, columns, beta0=0.6, fill=fill).metrics
    for i in range(0, 72, 7):
        params = {k: v[i] for k, v in columns.items()}
        single = backtest_pair(data, params, beta0=0.6, fill=fill).metrics
        for key, value in single.items():
            assert batch[key].iloc[i] == pytest.approx(value, rel=1e-12, nan_ok=True), key


@pytest.mark.parametrize("mode", ["next_open", "close"])
def test_orders_fill_on_the_next_bar_at_the_chosen_price(mode: str) -> None:
    times, legs = _legs(9, 300, opens=True)
    open_a, close_a, open_b, close_b = legs
    result = backtest_pair(_data(times, legs), {"entry_z": 1.0}, beta0=0.6, fill=mode)
    assert not result.fills.empty
    for fill in result.fills.itertuples():
        opens, closes = (open_a, close_a) if fill.leg == 0 else (open_b, close_b)
        assert fill.price == (opens if mode == "next_open" else closes)[fill.bar]
        assert fill.price != (closes if mode == "next_open" else opens)[fill.bar]
        assert fill.commission == pytest.approx(abs(fill.size) * fill.price * 0.0005)
    assert set(result.fills["asset"]) == {"A", "B"}


def test_block_sums_add_up_to_the_value_returns() -> None:
    times, legs = _legs(10, 300, opens=False)
    data = _data(times, legs)
    block_id = np.repeat(np.arange(3, dtype=np.int32), 100)
    ev = evaluate_pairs(data, {"entry_z": [1.0, 2.0]}, beta0=0.6, block_id=block_id)
    assert ev.block_ret_sum is not None and ev.block_n is not None
    assert list(ev.block_n) == [100, 100, 100]
    for row, entry in enumerate((1.0, 2.0)):
        values = backtest_pair(data, {"entry_z": entry}, beta0=0.6).values.to_numpy()
        rets = values / np.concatenate([[100_000.0], values[:-1]]) - 1.0
        for b in range(3):
            assert ev.block_ret_sum[row, b] == pytest.approx(rets[block_id == b].sum(), abs=1e-13)


def test_pair_data_aligns_and_validates() -> None:
    times = pd.bdate_range("2021-01-04", periods=10, tz="UTC")
    a = pd.Series(np.arange(10.0) + 1, index=times, name="X")
    b = pd.Series(np.arange(10.0) + 2, index=times, name="Y").iloc[2:]
    data = PairData.from_series(a, b)
    assert data.n_bars == 8 and data.asset_1 == "X" and data.asset_2 == "Y"
    assert data.period_end.all()
    from tradelab.errors import DataValidationError

    with pytest.raises(DataValidationError, match="positive"):
        PairData.from_series(a - 5, b)
    with pytest.raises(ValueError, match="window"):
        evaluate_pairs(data, {"window": [0]})
    with pytest.raises(ValueError, match="cannot be searched"):
        evaluate_pairs(data, {"note": [1]})
