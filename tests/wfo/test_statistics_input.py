"""The PBO / effective-trials input of a WFO sweep is chosen without the data it judges: the
selected combination and a uniform sample of the rest, whatever the scoring ranked."""

from __future__ import annotations

import numpy as np

from tradelab.robustness import comparison_set
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.grid import Grid
from tradelab.wfo.phases import Phase
from tradelab.wfo.statistics import wfo_statistics

from .conftest import make_bars, small_spec


def test_comparison_set_is_the_selected_then_a_uniform_sample() -> None:
    others = np.arange(100, dtype=np.int64)
    small = comparison_set(7, others[:10], 50, np.random.default_rng(0))
    assert small[0] == 7 and sorted(small[1:]) == [c for c in range(10) if c != 7]
    counts = np.zeros(100)
    for seed in range(2000):
        chosen = comparison_set(7, others, 11, np.random.default_rng(seed))
        assert chosen[0] == 7 and len(set(chosen)) == 11
        counts[chosen[1:]] += 1
    rate = np.delete(counts, 7) / 2000  # each other combination: 10 of 99
    assert np.all(np.abs(rate - 10 / 99) < 0.03), (rate.min(), rate.max())


def test_the_pbo_input_does_not_follow_the_ranking() -> None:
    """Before: the top K of the OOS-based ranking were the CSCV input, so the ranking beyond the
    selected combination changed PBO. Now only the selected combination comes from it."""
    bars, spec = make_bars(1400, seed=9), small_spec("atr_d_l")
    grid = Grid.from_config(
        {"atr_multiplier": [1.5, 2.0, 2.5, 3.0, 4.0, 5.0], "atr_buy_multiplier": [0.3, 0.6, 0.9]}
    )
    phases = [Phase("p1", 0, 100, 600, 999), Phase("p2", 300, 400, 1000, 1399)]
    config = RobustnessConfig(max_configs=6)
    rng = np.random.default_rng(1)
    first = np.concatenate([[4], rng.permutation(np.delete(np.arange(18), 4))[:5]])
    second = np.concatenate([[4], rng.permutation(np.delete(np.arange(18), 4))[:5]])
    assert set(first) != set(second)
    a = wfo_statistics(bars, spec, grid, phases, first, config, seed=3)
    b = wfo_statistics(bars, spec, grid, phases, second, config, seed=3)
    assert a == b and 0.0 <= a["pbo"] <= 1.0
    other = wfo_statistics(bars, spec, grid, phases, first, config, seed=4)
    assert other["n_trials"] == a["n_trials"] == 18
