"""Diebold-Mariano (HLN-corrected): the h = 1 case is the one-sample t-test, the test holds its
size under the null and has power against a real improvement (known answers over many seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from tradelab.robustness import diebold_mariano


@pytest.mark.parametrize("seed", range(5))
def test_one_step_equals_the_one_sample_t_test(seed: int) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.gamma(2.0, size=30), rng.gamma(2.0, size=30)
    got = diebold_mariano(a, b)
    ref = stats.ttest_1samp(a - b, 0.0, alternative="less")
    assert got.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert got.pvalue == pytest.approx(ref.pvalue, rel=1e-10)
    assert got.n == 30 and got.mean_difference == pytest.approx(float(np.mean(a - b)))


def _ma_losses(rng: np.random.Generator, n: int, horizon: int, shift: float) -> tuple:
    """Losses whose differences are MA(horizon - 1), as h-step errors are; `shift` < 0 makes
    the first forecast better."""
    e = rng.standard_normal(n + horizon - 1)
    d = np.convolve(e, np.ones(horizon) / np.sqrt(horizon), mode="valid") + shift
    base = rng.gamma(2.0, size=n) + 5.0
    return base + d, base


@pytest.mark.parametrize("horizon", [1, 3])
def test_size_under_the_null_over_many_seeds(horizon: int) -> None:
    rng = np.random.default_rng(7)
    pvalues = [
        diebold_mariano(*_ma_losses(rng, 60, horizon, 0.0), horizon).pvalue for _ in range(2000)
    ]
    rejected = float(np.mean(np.asarray(pvalues) < 0.05))
    assert 0.03 <= rejected <= 0.08, rejected


def test_ignoring_the_horizon_over_rejects_correlated_errors() -> None:
    rng = np.random.default_rng(11)
    draws = [_ma_losses(rng, 60, 3, 0.0) for _ in range(2000)]
    naive = np.mean([diebold_mariano(a, b, 1).pvalue < 0.05 for a, b in draws])
    right = np.mean([diebold_mariano(a, b, 3).pvalue < 0.05 for a, b in draws])
    assert naive > 0.08 and right < naive, (naive, right)


def test_power_against_a_real_improvement() -> None:
    rng = np.random.default_rng(3)
    pvalues = [diebold_mariano(*_ma_losses(rng, 20, 1, -0.8)).pvalue for _ in range(1000)]
    assert float(np.mean(np.asarray(pvalues) < 0.05)) > 0.9


def test_degenerate_and_bad_input() -> None:
    a = np.array([1.0, 2.0, 3.0])
    assert diebold_mariano(a, a).pvalue == 1.0  # the reference itself never beats itself
    assert diebold_mariano(a - 0.5, a).pvalue == 0.0  # better on every window by the same amount
    with pytest.raises(ValueError, match="length"):
        diebold_mariano(a, a[:2])
    with pytest.raises(ValueError, match="NaN"):
        diebold_mariano(np.array([1.0, np.nan]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="horizon"):
        diebold_mariano(a, a, horizon=0)
