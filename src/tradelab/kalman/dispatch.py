"""One switch for every filter: `backend="auto" | "numpy" | "numba" | "cupy"`.

Notation:
    prices, a, b   (n_bars,)          observed series
    q, r           (n_sets,)          local-level noise variances (scalars broadcast)
    delta, obs_r   (n_sets,)          hedge-ratio drift and observation noise (scalars broadcast)
    x              (n_series, n_bars) rolling z-score input
    outputs        (n_sets, n_bars)

The backend is resolved once per call; CuPy is imported only when it is chosen. `auto` picks
CuPy when a CUDA device is visible and the problem has at least `GPU_MIN_STEPS` filter steps
(smaller problems are faster on the CPU than a device round trip), otherwise numba.
"""

from __future__ import annotations

import math

import numpy as np

from tradelab.kalman import cupy_backend, numpy_backend
from tradelab.kalman.result import HedgeRatioResult, LocalLevelResult

__all__ = [
    "BACKENDS",
    "GPU_MIN_STEPS",
    "available_backends",
    "hedge_ratio_filter",
    "local_level_filter",
    "resolve_backend",
    "rolling_zscore",
]

BACKENDS = ("numpy", "numba", "cupy")
GPU_MIN_STEPS = 10_000_000


def available_backends() -> tuple[str, ...]:
    """Return the backends usable on this machine."""
    return BACKENDS if cupy_backend.is_available() else BACKENDS[:2]


def resolve_backend(backend: str = "auto", steps: int = 0) -> str:
    """Turn `auto` into a concrete backend; reject unknown or unusable names."""
    if backend == "auto":
        return "cupy" if steps >= GPU_MIN_STEPS and cupy_backend.is_available() else "numba"
    if backend not in BACKENDS:
        raise ValueError(f"backend: unknown {backend!r}; use auto, numpy, numba or cupy")
    if backend == "cupy" and not cupy_backend.is_available():
        raise ValueError("backend: 'cupy' needs CuPy and a CUDA device; neither is available")
    return backend


def _series(name: str, values: object) -> np.ndarray:
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected a non-empty 1-D array, got shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"{name}: non-finite value at index {int(bad[0])}")
    return arr


def _params(**named: object) -> list[np.ndarray]:
    arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in named.items()}
    for name, arr in arrays.items():
        if arr.ndim != 1:
            raise ValueError(f"{name}: expected a scalar or a 1-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: values must be finite")
    try:
        shape = np.broadcast_shapes(*(a.shape for a in arrays.values()))
    except ValueError:
        sizes = {k: a.shape[0] for k, a in arrays.items()}
        raise ValueError(f"parameter arrays differ in length: {sizes}") from None
    return [np.ascontiguousarray(np.broadcast_to(a, shape)) for a in arrays.values()]


def _check_window(name: str, window: int) -> int:
    if int(window) != window or window < 1:
        raise ValueError(f"{name}: must be a positive integer, got {window!r}")
    return int(window)


def local_level_filter(
    prices: np.ndarray,
    q: float | np.ndarray,
    r: float | np.ndarray,
    *,
    lookback: int = 50,
    z_eps: float = 1e-10,
    x0: float | None = None,
    p0: float = 1.0,
    backend: str = "auto",
) -> LocalLevelResult:
    """Filter `prices` with a local-level model once per (q, r) set.

    The state starts at `x0` (default: the first price) with variance `p0`, before the first
    prediction. `residual_z[t]` compares residual t with the `lookback` residuals before it
    (0 for t < lookback); `z_eps` is added to their standard deviation.
    """
    y = _series("prices", prices)
    q_arr, r_arr = _params(q=q, r=r)
    if np.any(q_arr < 0) or np.any(r_arr < 0) or np.any(q_arr + r_arr <= 0):
        raise ValueError("q, r: need q >= 0, r >= 0 and q + r > 0")
    if p0 < 0 or not math.isfinite(p0):
        raise ValueError(f"p0: must be finite and >= 0, got {p0}")
    lookback = _check_window("lookback", lookback)
    start = float(y[0]) if x0 is None else float(x0)
    n_sets, n_bars = q_arr.shape[0], y.shape[0]
    name = resolve_backend(backend, n_sets * n_bars)
    if name == "numpy":
        return numpy_backend.local_level(y, q_arr, r_arr, start, float(p0), lookback, z_eps)
    if name == "cupy":
        return cupy_backend.local_level(y, q_arr, r_arr, start, float(p0), lookback, z_eps)
    from tradelab.kalman import numba_backend as nb

    outs = [np.empty((n_bars, n_sets)) for _ in range(5)]
    width = nb.block_width(n_sets)
    if width >= n_sets:
        nb.local_level_block_nb(
            y, q_arr, r_arr, start, float(p0), 0, n_sets, lookback, float(z_eps), *outs
        )
    else:
        nb.local_level_tm_nb(
            y, q_arr, r_arr, start, float(p0), lookback, float(z_eps), width, *outs
        )
    return LocalLevelResult(*(o.T for o in outs))


def hedge_ratio_filter(
    a: np.ndarray,
    b: np.ndarray,
    delta: float | np.ndarray,
    obs_r: float | np.ndarray,
    *,
    beta0: float = 1.0,
    p0: float = 1.0,
    backend: str = "auto",
) -> HedgeRatioResult:
    """Track the hedge ratio of `a` on `b` once per (delta, R) set.

    State noise is Q = delta / (1 - delta); bars where b is 0 leave beta and P unchanged.
    """
    a_arr = _series("a", a)
    b_arr = _series("b", b)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a, b: lengths differ ({a_arr.shape[0]} vs {b_arr.shape[0]})")
    delta_arr, r_arr = _params(delta=delta, obs_r=obs_r)
    if np.any(delta_arr < 0) or np.any(delta_arr >= 1):
        raise ValueError("delta: must lie in [0, 1)")
    if np.any(r_arr < 0):
        raise ValueError("obs_r: must be >= 0")
    n_sets, n_bars = delta_arr.shape[0], a_arr.shape[0]
    name = resolve_backend(backend, n_sets * n_bars)
    if name == "numpy":
        return numpy_backend.hedge_ratio(a_arr, b_arr, delta_arr, r_arr, beta0, p0)
    if name == "cupy":
        return cupy_backend.hedge_ratio(a_arr, b_arr, delta_arr, r_arr, beta0, p0)
    from tradelab.kalman import numba_backend as nb

    outs = [np.empty((n_bars, n_sets)) for _ in range(3)]
    width = nb.block_width(n_sets)
    args = (a_arr, b_arr, delta_arr, r_arr, float(beta0), float(p0))
    if width >= n_sets:
        nb.hedge_ratio_block_nb(*args, 0, n_sets, *outs)
    else:
        nb.hedge_ratio_tm_nb(*args, width, *outs)
    return HedgeRatioResult(*(o.T for o in outs))


def rolling_zscore(
    x: np.ndarray,
    window: int,
    *,
    lag: int = 0,
    eps: float = 0.0,
    fill: float = np.nan,
    zero_std_nan: bool = True,
    backend: str = "auto",
) -> np.ndarray:
    """Return the z-score of x[:, t] against the `window` values ending `lag` steps before t.

    `lag=0` includes x[:, t] in its own window (seed 001's spread z), `lag=1` uses the window
    just before it (seed 000's residual z). `fill` precedes the first full window; where the
    window's standard deviation is 0 the result is NaN if `zero_std_nan`.
    """
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        return rolling_zscore(
            arr[None, :],
            window,
            lag=lag,
            eps=eps,
            fill=fill,
            zero_std_nan=zero_std_nan,
            backend=backend,
        )[0]
    if arr.ndim != 2:
        raise ValueError(f"x: expected (n_series, n_bars), got shape {arr.shape}")
    window = _check_window("window", window)
    if int(lag) != lag or lag < 0:
        raise ValueError(f"lag: must be a non-negative integer, got {lag!r}")
    name = resolve_backend(backend, arr.size)
    if name == "numpy":
        return numpy_backend.rolling_zscore(arr, window, int(lag), eps, fill, zero_std_nan)
    if name == "cupy":
        return cupy_backend.rolling_zscore(arr, window, int(lag), eps, fill, zero_std_nan)
    from tradelab.kalman import numba_backend as nb

    x_tm = np.ascontiguousarray(arr.T)
    out = np.empty_like(x_tm)
    n_series = x_tm.shape[1]
    width = nb.block_width(n_series)
    args = (int(window), int(lag), float(eps), float(fill), bool(zero_std_nan))
    if width >= n_series:
        nb.rolling_zscore_block_nb(x_tm, 0, n_series, *args, out)
    else:
        nb.rolling_zscore_tm_nb(x_tm, *args, width, out)
    return out.T
