"""Deflated Sharpe: the paper's worked example, PSR properties, moments, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradelab.robustness import (
    deflated_sharpe_from_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    return_moments,
)


def test_paper_worked_example() -> None:
    # Bailey & Lopez de Prado (2014): 100 trials, annualised SR variance 1/2, 1250 daily
    # returns, annualised SR 2.5, skew -3, kurtosis 10 -> SR0 = 0.1132, DSR = 0.9004
    res = deflated_sharpe_ratio(
        2.5 / math.sqrt(250),
        1250,
        n_trials=100,
        sr_variance=0.5 / 250,
        skew=-3.0,
        kurtosis=10.0,
    )
    assert res.sr0 == pytest.approx(0.1132, abs=5e-5)
    assert res.dsr == pytest.approx(0.9004, abs=5e-5)
    assert res.metrics()["deflated_sharpe"] == res.dsr


def test_psr_is_one_half_at_the_benchmark_and_rises_with_sample_length() -> None:
    assert probabilistic_sharpe_ratio(0.1, 0.1, 500) == pytest.approx(0.5)
    short = probabilistic_sharpe_ratio(0.1, 0.05, 100)
    long = probabilistic_sharpe_ratio(0.1, 0.05, 1000)
    assert 0.5 < short < long < 1.0
    # negative skew and fat tails lower the confidence in a positive Sharpe
    assert probabilistic_sharpe_ratio(0.1, 0.05, 500, skew=-2.0, kurtosis=8.0) < (
        probabilistic_sharpe_ratio(0.1, 0.05, 500)
    )


def test_expected_max_sharpe_grows_with_trials_and_variance() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    values = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 10_000)]
    assert values == sorted(values) and values[0] > 0
    assert expected_max_sharpe(100, 0.04) == pytest.approx(2 * expected_max_sharpe(100, 0.01))


def test_return_moments_of_a_normal_sample() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(0.001, 0.01, 200_000)
    sr, skew, kurt, n = return_moments(x)
    assert n == 200_000
    assert sr == pytest.approx(0.1, abs=0.01)
    assert skew == pytest.approx(0.0, abs=0.03)
    assert kurt == pytest.approx(3.0, abs=0.05)


def test_dsr_from_returns_matches_the_formula() -> None:
    rng = np.random.default_rng(12)
    selected = rng.standard_t(5, 1500) * 0.01 + 0.0015
    trial_sharpes = rng.normal(0.0, 0.03, 500)
    res = deflated_sharpe_from_returns(selected, trial_sharpes, n_trials=2000)
    sr, skew, kurt, n = return_moments(selected)
    direct = deflated_sharpe_ratio(
        sr,
        n,
        n_trials=2000,
        sr_variance=float(np.var(trial_sharpes, ddof=1)),
        skew=skew,
        kurtosis=kurt,
    )
    assert res == direct
    assert res.n_trials == 2000 and kurt > 3.0


def test_more_trials_deflate_more() -> None:
    common = {"n_obs": 1000, "sr_variance": 0.002, "skew": 0.0, "kurtosis": 3.0}
    few = deflated_sharpe_ratio(0.12, n_trials=10, **common)
    many = deflated_sharpe_ratio(0.12, n_trials=10_000, **common)
    assert many.dsr < few.dsr


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"sr": 0.1, "sr_benchmark": 0.0, "n_obs": 1}, "n_obs"),
        ({"sr": 0.1, "sr_benchmark": 0.0, "n_obs": 100, "kurtosis": 0.5}, "kurtosis"),
        ({"sr": float("nan"), "sr_benchmark": 0.0, "n_obs": 100}, "finite"),
        ({"sr": 2.0, "sr_benchmark": 0.0, "n_obs": 100, "skew": 5.0}, "undefined"),
    ],
)
def test_bad_psr_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        probabilistic_sharpe_ratio(**kwargs)


def test_bad_trial_inputs() -> None:
    with pytest.raises(ValueError, match="n_trials"):
        expected_max_sharpe(0, 0.1)
    with pytest.raises(ValueError, match="sr_variance"):
        expected_max_sharpe(10, -1.0)
    with pytest.raises(ValueError, match="at least 2 trials"):
        deflated_sharpe_from_returns(np.ones(50) + np.arange(50), np.array([0.1]))
    with pytest.raises(ValueError, match="at least 3"):
        return_moments(np.array([0.1, np.nan]))
