"""Effective trials: correlated groups collapse, independent trials stay apart."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.robustness import effective_trials
from tradelab.robustness.effective_trials import correlation_distance


def test_three_correlated_groups_give_three_trials() -> None:
    rng = np.random.default_rng(21)
    factors = rng.normal(size=(500, 3))
    columns = [factors[:, g] + 0.2 * rng.normal(size=500) for g in range(3) for _ in range(5)]
    res = effective_trials(np.column_stack(columns), min_correlation=0.5)
    assert res.n_effective == 3
    labels = res.labels.reshape(3, 5)
    assert all(len(set(row)) == 1 for row in labels)
    assert len({row[0] for row in labels}) == 3


def test_independent_trials_stay_apart_and_identical_ones_merge() -> None:
    rng = np.random.default_rng(22)
    independent = rng.normal(size=(2000, 10))
    assert effective_trials(independent).n_effective == 10
    same = np.repeat(rng.normal(size=(300, 1)), 6, axis=1)
    assert effective_trials(same).n_effective == 1


def test_constant_column_is_its_own_trial_and_cap_is_flagged() -> None:
    rng = np.random.default_rng(23)
    base = rng.normal(size=(200, 1))
    x = np.column_stack([base, base * 2.0, np.zeros((200, 1))])
    dist = correlation_distance(x)
    assert dist[0, 1] == pytest.approx(0.0, abs=1e-7)
    assert dist[0, 2] == pytest.approx(np.sqrt(0.5))
    res = effective_trials(x)
    assert res.n_effective == 2 and not res.capped
    capped = effective_trials(rng.normal(size=(100, 8)), max_configs=4)
    assert capped.capped and capped.n_clustered == 4


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="min_correlation"):
        effective_trials(np.zeros((5, 2)), min_correlation=2.0)
    with pytest.raises(ValueError, match="finite"):
        effective_trials(np.full((5, 2), np.nan))
    with pytest.raises(ValueError, match="T, N"):
        effective_trials(np.zeros(5))
