"""No look-ahead: changing bars after bar t never changes a decision taken before t."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.kernels.enums import METRIC_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import trace_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference

from .conftest import make_bars, small_spec

PHASE = Phase("p", warmup_start=0, is_start=30, oos_start=200, oos_end=299)
GRIDS = {
    # lanes reading different indicator columns, and lanes sharing all of them
    "mixed": {
        "atr_period": [3, 8],
        "atr_multiplier": [1.0, 2.5, 5.0],
        "atr_buy_multiplier": [0.0, 0.6],
    },
    "shared": {
        "atr_multiplier": [1.0, 2.5, 5.0],
        "atr_buy_multiplier": [0.0, 0.6],
        "entry_mode": [0, 2],
    },
}


def _perturbed(data: WfoData, t: int, seed: int) -> WfoData:
    """Replace every bar from `t` on with an unrelated random path."""
    other = make_bars(data.n_bars, seed=seed, vol=0.03)
    cut = lambda a, b: np.concatenate([a[:t], b[t:] * (a[t - 1] / b[t - 1])])  # noqa: E731
    op, hi, lo, cl = (
        cut(getattr(data, f), getattr(other, f)) for f in ("open", "high", "low", "close")
    )
    hi = np.maximum.reduce([hi, op, cl])
    lo = np.minimum.reduce([lo, op, cl])
    return WfoData(data.timestamps, op, hi, lo, cl, close2=cut(data.close2, other.close2))


def _decisions_before(trades: np.ndarray, t: int) -> list[tuple]:
    """Entries and exits that happened before bar t."""
    out = []
    for tr in trades:
        if tr["entry_bar"] < t:
            out.append(
                ("entry", int(tr["entry_bar"]), int(tr["direction"]), float(tr["entry_price"]))
            )
        if tr["exit_bar"] < t:
            out.append(("exit", int(tr["exit_bar"]), float(tr["exit_price"]), float(tr["pnl"])))
    return out


@pytest.mark.parametrize(
    "kind", ["atr_d_l", "atr_d_ls", "atr_d_hma_l", "atr_d_hma_ls", "atr_d_duals_ls"]
)
@pytest.mark.parametrize("t", [120, 200, 260])
@pytest.mark.parametrize("grid_name", sorted(GRIDS))
def test_kernel_decisions_ignore_later_bars(kind: str, t: int, grid_name: str) -> None:
    data = make_bars(300, seed=5, vol=0.02)
    changed = _perturbed(data, t, seed=99)
    assert not np.allclose(data.close[t:], changed.close[t:])
    spec = small_spec(kind)
    spec_grid = {k: v for k, v in GRIDS[grid_name].items() if k in spec.param_names}
    grid = Grid.from_config(spec_grid)
    combos = np.arange(grid.size, dtype=np.int64)
    before, res_a = trace_combos(data, spec, grid, PHASE, combos)
    after, res_b = trace_combos(changed, spec, grid, PHASE, combos)
    for a, b in zip(before, after):
        assert _decisions_before(a, t) == _decisions_before(b, t)
    if t >= PHASE.oos_start:  # IS results are final once the IS window is over
        for name in METRIC_NAMES:
            if name.startswith("is_"):
                np.testing.assert_array_equal(res_a.metrics[name], res_b.metrics[name])


def test_reference_decisions_ignore_later_bars() -> None:
    data = make_bars(300, seed=8, vol=0.02)
    changed = _perturbed(data, 150, seed=3)
    spec = small_spec("atr_d_ls")
    a = simulate_reference(data, spec, {"atr_multiplier": 1.5}, PHASE)
    b = simulate_reference(changed, spec, {"atr_multiplier": 1.5}, PHASE)
    assert _decisions_before(a.trades, 150) == _decisions_before(b.trades, 150)
    np.testing.assert_array_equal(
        a.equity[: 150 - PHASE.is_start + 1], b.equity[: 150 - PHASE.is_start + 1]
    )


@pytest.mark.parametrize("grid_name", sorted(GRIDS))
def test_entry_levels_come_from_the_previous_close(grid_name: str) -> None:
    """Every buy-touch fill equals min(open, close[t-1] - k x ATR[t-1]) + slippage."""
    import pandas as pd

    data = make_bars(300, seed=21, vol=0.02)
    spec = small_spec("atr_d_l")
    grid = Grid.from_config({k: v for k, v in GRIDS[grid_name].items() if k in spec.param_names})
    combos = np.arange(grid.size, dtype=np.int64)
    trades, _ = trace_combos(data, spec, grid, PHASE, combos)
    decoded = grid.decode(combos)
    prev = pd.Series(data.close).shift(1)
    tr = pd.concat([pd.Series(data.high), prev], axis=1).max(axis=1) - pd.concat(
        [pd.Series(data.low), prev], axis=1
    ).min(axis=1)
    tr.iloc[0] = data.high[0] - data.low[0]
    checked = 0
    for i in range(grid.size):
        period = int(decoded.get("atr_period", [spec.defaults()["atr_period"]] * grid.size)[i])
        atr = tr.rolling(period).mean().to_numpy()
        k = float(decoded["atr_buy_multiplier"][i])
        for row in trades[i]:
            e = int(row["entry_bar"])
            level = data.close[e - 1] - k * atr[e - 1]
            expected = min(data.open[e], level) + spec.slippage
            assert row["entry_price"] == pytest.approx(expected, rel=1e-12)
            checked += 1
    assert checked > 20
