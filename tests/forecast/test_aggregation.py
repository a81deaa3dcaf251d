"""Aggregation methods: definitions checked by hand, against numpy, and as properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelab.forecast.aggregation import aggregate, parse_aggregation


def _column(values: list[float]) -> np.ndarray:
    return np.asarray(values, dtype=float)[:, None]  # (n_samples, horizon=1)


def test_trimmed_mean_drops_k_from_each_tail_by_hand() -> None:
    # n = 10, X = 10 -> k = 1: drop 100 (largest) and -50 (smallest)
    samples = _column([-50, 1, 2, 3, 4, 5, 6, 7, 8, 100])
    assert aggregate(samples, "trimmed_mean_10")[0] == pytest.approx(4.5)
    # X = 20 -> k = 2: mean of 2..7
    assert aggregate(samples, "trimmed_mean_20")[0] == pytest.approx(4.5)
    # X = 15 -> k = floor(1.5) = 1
    assert aggregate(samples, "trimmed_mean_15")[0] == pytest.approx(4.5)


def test_lower_trimmed_mean_drops_the_upper_tail_only_by_hand() -> None:
    # seed 002 lists it beside the low quantiles: it drops the LARGEST X% and leans low
    samples = _column([8, -50, 3, 100, 1, 6, 2, 7, 5, 4])  # unsorted on purpose
    # X = 10 -> k = 1: drop 100; mean of -50, 1..8 = -14 / 9
    assert aggregate(samples, "lower_trimmed_mean_10")[0] == pytest.approx(-14 / 9)
    # X = 20 -> k = 2: drop 100 and 8; mean of -50, 1..7 = -22 / 8
    assert aggregate(samples, "lower_trimmed_mean_20")[0] == pytest.approx(-22 / 8)
    assert aggregate(samples, "lower_trimmed_mean_20")[0] < aggregate(samples, "mean")[0]


def test_lower_trimmed_mean_per_horizon_step_and_window() -> None:
    # (windows=1, samples=4, horizon=2): each step drops its own largest sample
    samples = np.array([[[1.0, 40.0], [2.0, 10.0], [30.0, 20.0], [3.0, 30.0]]])
    np.testing.assert_allclose(aggregate(samples, "lower_trimmed_mean_25"), [[2.0, 20.0]])


def test_plain_methods_match_numpy(rng: np.random.Generator) -> None:
    samples = rng.normal(size=(4, 33, 3))  # (windows, samples, horizon)
    np.testing.assert_allclose(aggregate(samples, "mean"), samples.mean(axis=1))
    np.testing.assert_allclose(aggregate(samples, "median"), np.median(samples, axis=1))
    np.testing.assert_allclose(
        aggregate(samples, "quantile_0.15"), np.quantile(samples, 0.15, axis=1)
    )
    assert aggregate(samples, "mean").shape == (4, 3)


def test_trimming_is_capped_so_a_sample_remains() -> None:
    samples = _column([1.0, 2.0, 30.0])
    assert aggregate(samples, "trimmed_mean_45")[0] == pytest.approx(2.0)
    assert aggregate(samples, "lower_trimmed_mean_99")[0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "spec",
    ["trimmed", "trimmed_mean_50", "lower_trimmed_mean_100", "quantile_1.5", "mode", "mean_10"],
)
def test_malformed_methods_name_the_field(spec: str) -> None:
    with pytest.raises(ValueError, match="aggregate"):
        parse_aggregation(spec)


def test_empty_samples_are_rejected() -> None:
    with pytest.raises(ValueError, match="n_samples"):
        aggregate(np.empty((0, 1)), "mean")


@settings(max_examples=60, deadline=None)
@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=40),
    pct=st.floats(0.0, 49.9).map(lambda x: round(x, 2)),
)
def test_trimmed_means_stay_within_the_samples(values: list[float], pct: float) -> None:
    samples = _column(values)
    lo, hi = min(values), max(values)
    for spec in (f"trimmed_mean_{pct}", f"lower_trimmed_mean_{pct}"):
        point = aggregate(samples, spec)[0]
        assert lo - 1e-6 <= point <= hi + 1e-6
    assert aggregate(samples, "trimmed_mean_0")[0] == pytest.approx(np.mean(values), abs=1e-6)
