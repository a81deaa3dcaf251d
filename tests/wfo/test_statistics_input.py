"""The PBO / effective-trials input of a WFO sweep is chosen without the data it judges: the
selected combination and a uniform sample of the rest, whatever the scoring ranked."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.errors import ConfigError
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


def _bigger_grid() -> Grid:
    return Grid.from_config(
        {
            "atr_multiplier": [1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0],
            "atr_buy_multiplier": [0.3, 0.6, 0.9, 1.2, 1.5],
            "bb_dev": [1.5, 2.0, 2.5, 3.0],
        }
    )


def test_the_full_history_pass_is_capped_and_keeps_the_selected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The statistics' cost stays flat as grids grow: one full-history pass over at most
    `max_full_eval` combinations (a uniform sample, the selected one always in it), which
    also gives the block sums PBO compares."""
    import tradelab.wfo.statistics as statistics

    calls: list[tuple[np.ndarray, int]] = []
    real = statistics.evaluate_combos

    def spy(*args: object, **kwargs: object) -> object:
        calls.append((np.asarray(args[4]), int(kwargs.get("n_blocks", 0))))  # type: ignore[call-overload]
        return real(*args, **kwargs)

    monkeypatch.setattr(statistics, "evaluate_combos", spy)
    bars, spec, grid = make_bars(1400, seed=9), small_spec("atr_d_l"), _bigger_grid()
    phases = [Phase("p1", 0, 100, 600, 999), Phase("p2", 300, 400, 1000, 1399)]
    config = RobustnessConfig(max_configs=20, max_full_eval=50, max_cluster_configs=10)
    selected = 157  # not a multiple of anything the sample favours
    stats = wfo_statistics(bars, spec, grid, phases, np.asarray([selected]), config, seed=2)
    [(combos, n_blocks)] = calls
    assert n_blocks == config.n_blocks and 50 <= combos.size <= 51 and selected in combos
    assert stats["n_trials"] == grid.size == 160
    assert stats["effective_trials_of"] == 10 and stats["effective_trials_capped"] == 1.0
    assert 0.0 <= stats["pbo"] <= 1.0


def test_a_sampled_pass_judges_the_selected_like_the_whole_grid() -> None:
    """The deflated Sharpe (estimator null) needs only the selected combination, N and T: the
    same whether the pass covers the whole grid or a sample; the cross-section variant moves
    with the sample's spread only."""
    bars, spec, grid = make_bars(1400, seed=9), small_spec("atr_d_l"), _bigger_grid()
    phases = [Phase("p1", 0, 100, 600, 999), Phase("p2", 300, 400, 1000, 1399)]
    ranked = np.asarray([42])
    whole = wfo_statistics(bars, spec, grid, phases, ranked, RobustnessConfig(max_full_eval=160))
    part = wfo_statistics(bars, spec, grid, phases, ranked, RobustnessConfig(max_full_eval=80))
    assert part["deflated_sharpe"] == whole["deflated_sharpe"]
    assert part["n_trials"] == whole["n_trials"] == 160
    assert np.isclose(
        part["deflated_sharpe_cross_section"], whole["deflated_sharpe_cross_section"], atol=0.2
    )


def test_statistics_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match=r"robustness\.max_full_eval"):
        RobustnessConfig(max_full_eval=1)
