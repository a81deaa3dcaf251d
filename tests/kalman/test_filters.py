"""Batched filters: every backend equals the NumPy reference; the recursion equals pykalman and
seed 000's loop; the rolling z-score equals a direct window computation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradelab.kalman import (
    available_backends,
    hedge_ratio_filter,
    local_level_filter,
    resolve_backend,
    rolling_zscore,
)

BACKENDS = [
    "numba",
    pytest.param(
        "cupy",
        marks=[
            pytest.mark.gpu,
            pytest.mark.skipif("cupy" not in available_backends(), reason="no CUDA device"),
        ],
    ),
]


def _walk(rng: np.random.Generator, n: int, start: float = 20.0) -> np.ndarray:
    return start * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


def _pair(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    b = _walk(rng, n, 100.0)
    return 0.6 * b + 20.0 + rng.normal(0.0, 0.5, n), b


@pytest.mark.parametrize("backend", BACKENDS)
def test_local_level_backend_matches_numpy(backend: str) -> None:
    rng = np.random.default_rng(1)
    prices = _walk(rng, 700)
    q = rng.uniform(1e-5, 1e-3, 150)  # more sets than one block, uneven
    r = rng.uniform(1e-4, 1e-2, 150)
    ref = local_level_filter(prices, q, r, backend="numpy")
    got = local_level_filter(prices, q, r, backend=backend)
    for name in ref._fields:
        expected, actual = getattr(ref, name), getattr(got, name)
        assert actual.shape == (150, 700), name
        np.testing.assert_allclose(actual, expected, rtol=1e-11, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_sets", [3, 100])  # narrow blocks run scalar code, wide ones rows
def test_hedge_ratio_backend_matches_numpy(backend: str, n_sets: int) -> None:
    rng = np.random.default_rng(2)
    a, b = _pair(rng, 500)
    b[[10, 200]] = 0.0  # bars where the leg is 0 leave the state unchanged
    delta = rng.choice([1e-5, 1e-4, 1e-3], n_sets)
    obs_r = rng.choice([1e-3, 1e-2], n_sets)
    ref = hedge_ratio_filter(a, b, delta, obs_r, beta0=0.5, backend="numpy")
    got = hedge_ratio_filter(a, b, delta, obs_r, beta0=0.5, backend=backend)
    for name in ref._fields:
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-12, atol=0)
    assert np.array_equal(ref.betas[:, 10], ref.betas[:, 9])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n_series", [6, 70])
@pytest.mark.parametrize(("window", "lag", "eps"), [(60, 0, 0.0), (50, 1, 1e-10), (2, 0, 0.0)])
def test_rolling_zscore_backend_matches_numpy(
    backend: str, n_series: int, window: int, lag: int, eps: float
) -> None:
    rng = np.random.default_rng(3)
    x = np.cumsum(rng.normal(size=(n_series, 1200)), axis=1) + 100.0
    x[5, 300:400] = 7.0  # a flat stretch: zero deviation gives NaN
    ref = rolling_zscore(x, window, lag=lag, eps=eps, backend="numpy")
    got = rolling_zscore(x, window, lag=lag, eps=eps, backend=backend)
    assert np.array_equal(np.isnan(ref), np.isnan(got))
    np.testing.assert_allclose(got, ref, rtol=1e-8, atol=1e-8, equal_nan=True)
    assert np.isnan(ref[:, : window - 1 + lag]).all()


def test_local_level_matches_pykalman() -> None:
    from pykalman import KalmanFilter

    rng = np.random.default_rng(4)
    prices = _walk(rng, 300)
    for q, r in [(1e-4, 5e-3), (1e-3, 1e-4), (1e-5, 1e-2)]:
        ours = local_level_filter(prices, q, r, backend="numba")
        # the seed predicts before its first update: pykalman's prior at t=0 is (y0, 1 + q)
        kf = KalmanFilter(
            transition_matrices=[[1.0]],
            observation_matrices=[[1.0]],
            transition_covariance=[[q]],
            observation_covariance=[[r]],
            initial_state_mean=[prices[0]],
            initial_state_covariance=[[1.0 + q]],
        )
        means, covs = kf.filter(prices)
        np.testing.assert_allclose(ours.levels[0], means[:, 0], rtol=1e-10)
        np.testing.assert_allclose(ours.variances[0], covs[:, 0, 0], rtol=1e-9)


def test_hedge_ratio_matches_pykalman() -> None:
    from pykalman import KalmanFilter

    rng = np.random.default_rng(5)
    a, b = _pair(rng, 300)
    delta, obs_r, beta0 = 1e-4, 1e-3, 0.55
    ours = hedge_ratio_filter(a, b, delta, obs_r, beta0=beta0, backend="numba")
    q = delta / (1.0 - delta)
    kf = KalmanFilter(
        transition_matrices=[[1.0]],
        observation_matrices=b.reshape(-1, 1, 1),
        transition_covariance=[[q]],
        observation_covariance=[[obs_r]],
        initial_state_mean=[beta0],
        initial_state_covariance=[[1.0 + q]],
    )
    means, covs = kf.filter(a)
    np.testing.assert_allclose(ours.betas[0], means[:, 0], rtol=1e-9)
    np.testing.assert_allclose(ours.variances[0], covs[:, 0, 0], rtol=1e-7)


def _seed_kalman(prices: np.ndarray, q: float, r: float) -> dict[str, np.ndarray]:
    """Seed 000's per-step loop (CPU branch), written out as the notebook does it."""
    n = len(prices)
    levels, residuals = np.zeros(n), np.zeros(n)
    x, p = float(prices[0]), 1.0
    for i in range(n):
        p_pred = p + q
        k = p_pred / (p_pred + r)
        x = x + k * (float(prices[i]) - x)
        p = (1 - k) * p_pred
        levels[i] = x
        residuals[i] = prices[i] - x
    slopes = np.diff(levels, prepend=levels[0])
    z = np.zeros(n)
    for i in range(50, n):
        window = residuals[i - 50 : i]
        z[i] = (residuals[i] - np.mean(window)) / (np.std(window) + 1e-10)
    return {"levels": levels, "residuals": residuals, "slopes": slopes, "residual_z": z}


def test_local_level_matches_seed_loop() -> None:
    rng = np.random.default_rng(6)
    prices = _walk(rng, 400, 8.0)
    ours = local_level_filter(prices, [1e-4, 1e-3], [5e-3, 1e-4], backend="numba")
    for row, (q, r) in enumerate([(1e-4, 5e-3), (1e-3, 1e-4)]):
        seed = _seed_kalman(prices, q, r)
        for name, expected in seed.items():
            np.testing.assert_allclose(getattr(ours, name)[row], expected, rtol=1e-9, atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    n_bars=st.integers(1, 300),
    window=st.integers(1, 40),
    lag=st.integers(0, 2),
    seed=st.integers(0, 2**32 - 1),
)
def test_rolling_zscore_equals_direct_window(n_bars: int, window: int, lag: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, n_bars)) * rng.uniform(0.1, 100.0) + rng.uniform(-1e3, 1e3)
    got = rolling_zscore(x, window, lag=lag, eps=1e-10, fill=0.0, zero_std_nan=False)
    expected = np.zeros_like(x)
    for t in range(window - 1 + lag, n_bars):
        win = x[:, t - lag - window + 1 : t - lag + 1]
        expected[:, t] = (x[:, t] - win.mean(axis=1)) / (win.std(axis=1) + 1e-10)
    if window == 1:
        # one-value windows have zero deviation: (x - x_prev) / 1e-10, sensitive to rounding
        expected, got = np.clip(expected, -1e12, 1e12), np.clip(got, -1e12, 1e12)
    np.testing.assert_allclose(got, expected, rtol=1e-7, atol=1e-6)


def test_variance_is_data_independent_and_converges() -> None:
    rng = np.random.default_rng(7)
    q, r = 1e-4, 1e-2
    one = local_level_filter(_walk(rng, 2000), q, r)
    two = local_level_filter(_walk(rng, 2000, 5.0), q, r)
    assert np.array_equal(one.variances, two.variances)
    prior = (q + np.sqrt(q * q + 4 * q * r)) / 2  # steady-state prediction variance
    steady = prior * r / (prior + r)
    assert one.variances[0, -1] == pytest.approx(steady, rel=1e-9)


def test_auto_resolves_to_numba_without_gpu() -> None:
    assert resolve_backend("auto", steps=10) == "numba"
    if "cupy" not in available_backends():
        assert resolve_backend("auto", steps=10**12) == "numba"
        with pytest.raises(ValueError, match="cupy"):
            resolve_backend("cupy")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: local_level_filter([1.0, np.nan, 2.0], 1e-4, 1e-3), "prices"),
        (lambda: local_level_filter([], 1e-4, 1e-3), "prices"),
        (lambda: local_level_filter([1.0, 2.0], -1e-4, 1e-3), "q, r"),
        (lambda: local_level_filter([1.0, 2.0], [1e-4, 1e-3], [1e-3, 1e-3, 1e-2]), "length"),
        (lambda: local_level_filter([1.0, 2.0], 1e-4, 1e-3, lookback=0), "lookback"),
        (lambda: local_level_filter([1.0, 2.0], 1e-4, 1e-3, backend="gpu"), "backend"),
        (lambda: hedge_ratio_filter([1.0, 2.0], [1.0], 1e-5, 1e-3), "lengths differ"),
        (lambda: hedge_ratio_filter([1.0, 2.0], [1.0, 2.0], 1.0, 1e-3), "delta"),
        (lambda: rolling_zscore(np.ones((2, 5)), 0), "window"),
        (lambda: rolling_zscore(np.ones((2, 5)), 2, lag=-1), "lag"),
    ],
)
def test_bad_input_names_the_field(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
