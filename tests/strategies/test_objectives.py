"""Objectives by name: seed 000's composite, Sharpe, total return, seed 001's ranking."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.strategies.objectives import objective_scores, rank_trials

METRICS = {
    "total_return": np.array([0.30, 0.10, 0.50, 0.20, 0.05]),
    "sharpe": np.array([1.0, 2.0, 3.0, 2.0, np.nan]),
    "win_rate": np.array([0.5, 0.6, 0.7, 0.4, 0.9]),
    "num_trades": np.array([10, 2, 8, 5, 7]),
    "max_drawdown": np.array([0.10, 0.05, 0.40, 0.02, 0.01]),
}


def test_composite_formula_and_exclusions() -> None:
    scores = objective_scores("composite", METRICS)
    assert scores[0] == pytest.approx(0.6 * 0.30 + 0.3 * 1.0 + 0.1 * 0.5)
    assert np.isnan(scores[1])  # fewer than 3 trades
    assert np.isnan(scores[2])  # drawdown above 35%
    assert scores[3] == pytest.approx(0.6 * 0.2 + 0.3 * 2.0 + 0.1 * 0.4)
    assert list(rank_trials("composite", METRICS)[:2]) == [3, 0]


def test_plain_metrics() -> None:
    assert list(objective_scores("total_return", METRICS)) == list(METRICS["total_return"])
    assert list(rank_trials("total_return", METRICS)) == [2, 0, 3, 1, 4]
    assert list(rank_trials("sharpe", METRICS)) == [2, 1, 3, 0, 4]  # NaN last


def test_sharpe_then_drawdown_is_lexicographic_and_stable() -> None:
    metrics = {
        "sharpe": np.array([1.0, 2.0, 2.0, np.nan, 2.0]),
        "max_drawdown": np.array([0.0, 0.3, 0.1, 0.0, 0.1]),
    }
    assert list(rank_trials("sharpe_then_dd", metrics)) == [2, 4, 1, 0, 3]
    scores = objective_scores("sharpe_then_dd", metrics)
    assert scores[2] > scores[1] and scores[1] > scores[0]


def test_unknown_objective_and_missing_metric() -> None:
    with pytest.raises(ValueError, match="objective"):
        objective_scores("calmar", METRICS)
    with pytest.raises(ValueError, match="win_rate"):
        objective_scores("composite", {"total_return": [0.1], "sharpe": [1.0]})
