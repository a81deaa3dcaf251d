"""Metrics by hand: the zero-return baseline, CRPS, direction, skill."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.forecast.base import SeriesData
from tradelab.forecast.baselines import Drift, LookbackMedianReturn, ZeroReturn
from tradelab.forecast.metrics import crps_from_samples, forecast_metrics
from tradelab.forecast.validation import ValidationPlan, Validator


def test_zero_return_pct_mae_is_mean_absolute_actual_return_by_hand() -> None:
    closes = np.array([100.0, 101.0, 99.0, 102.0, 102.0, 100.0, 105.0])
    validator = Validator(SeriesData(closes), ValidationPlan(steps=4, horizon=1, min_context=2))
    ev = validator.evaluate(ZeroReturn(), {})
    # windows forecast bars 3..6 from the bar before: returns 102/99-1, 0, 100/102-1, 105/100-1
    by_hand = (abs(102 / 99 - 1) + 0.0 + abs(100 / 102 - 1) + abs(105 / 100 - 1)) / 4
    assert ev.metrics["pct_return_mae"] == pytest.approx(by_hand, rel=1e-12)
    assert ev.metrics["price_mae"] == pytest.approx((3 + 0 + 2 + 5) / 4)
    # no-change forecasts are right only where the price did not move (one window of four)
    assert ev.metrics["directional_accuracy"] == pytest.approx(0.25)


def test_horizon_two_uses_returns_from_the_last_context_close() -> None:
    closes = np.array([10.0, 11.0, 12.0, 9.0, 10.0])
    validator = Validator(SeriesData(closes), ValidationPlan(steps=2, horizon=2, min_context=2))
    np.testing.assert_array_equal(validator.origins, [2, 3])
    ev = validator.evaluate(ZeroReturn(), {})
    by_hand = np.mean([abs(12 / 11 - 1), abs(9 / 11 - 1), abs(9 / 12 - 1), abs(10 / 12 - 1)])
    assert ev.metrics["pct_return_mae"] == pytest.approx(by_hand)


def test_drift_and_median_baselines_by_hand() -> None:
    closes = np.array([100.0, 110.0, 99.0, 108.9])
    from tradelab.forecast.base import Context

    ctx = Context(closes)
    growth = (108.9 / 100.0) ** (1 / 3) - 1
    assert Drift(0).sample_paths(ctx, 2, {}, 0)[0] == pytest.approx(
        [108.9 * (1 + growth), 108.9 * (1 + growth) ** 2]
    )
    # one-bar returns +10 %, -10 %, +10 %: median +10 %
    assert LookbackMedianReturn(3).sample_paths(ctx, 1, {}, 0)[0, 0] == pytest.approx(119.79)
    # lookback 1 sees only the last return
    assert LookbackMedianReturn(1).sample_paths(ctx, 1, {}, 0)[0, 0] == pytest.approx(119.79)


def test_crps_matches_the_double_sum(rng: np.random.Generator) -> None:
    samples = rng.normal(size=(3, 7, 2))
    observed = rng.normal(size=(3, 2))
    got = crps_from_samples(samples, observed)
    x = samples
    term1 = np.abs(x - observed[:, None, :]).mean(axis=1)
    term2 = np.abs(x[:, :, None, :] - x[:, None, :, :]).mean(axis=(1, 2))
    np.testing.assert_allclose(got, term1 - 0.5 * term2, atol=1e-12)


def test_crps_of_one_sample_is_the_absolute_error() -> None:
    assert crps_from_samples(np.array([[[3.0]]]), np.array([[1.5]]))[0, 0] == pytest.approx(1.5)


def test_forecast_metrics_rejects_mismatched_shapes_and_nan() -> None:
    with pytest.raises(ValueError, match="shapes"):
        forecast_metrics(np.ones(2), np.ones((2, 1)), np.ones((3, 1)))
    with pytest.raises(ValueError, match="NaN"):
        forecast_metrics(np.ones(1), np.ones((1, 1)), np.full((1, 1), np.nan))


def test_dm_pvalue_against_the_random_walk() -> None:
    rng = np.random.default_rng(5)
    last = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.01, 40)))
    actual = last[:, None] * (1.0 + rng.normal(0, 0.01, (40, 1)))
    walk = forecast_metrics(last, actual, np.repeat(last[:, None], 1, axis=1))
    assert walk["dm_pvalue_vs_zero"] == 1.0  # the random walk never beats itself
    informed = actual + rng.normal(0, 0.1, actual.shape)  # errors ~1% of the move's size
    assert forecast_metrics(last, actual, informed)["dm_pvalue_vs_zero"] < 1e-6
    contrary = last[:, None] - (actual - last[:, None])  # the move, mirrored: twice as wrong
    assert forecast_metrics(last, actual, contrary)["dm_pvalue_vs_zero"] > 0.99
