"""CuPy GPU backend: one CUDA thread per parameter set, each running the whole recursion.

Notation (time-major device buffers, see `tradelab.kalman.result`):
    prices, a, b   (n_bars,)          observed series
    q, r           (n_sets,)          local-level noise variances
    delta, obs_r   (n_sets,)          hedge-ratio drift and observation noise
    *_tm outputs   (n_bars, n_sets)   element [t, s] at t * n_sets + s

Thread s owns column s; at every step neighbouring threads write neighbouring addresses, so
stores coalesce. One launch covers every time step (no Python loop of CuPy calls per step,
which would be launch-bound). Kernels are compiled with `--fmad=false` so the arithmetic
rounds like the CPU backends. `CUDA_SOURCE` is plain CUDA C; the tests also compile it for the
host with a small shim to check it against the NumPy reference on machines without a GPU.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np

from tradelab.kalman.result import HedgeRatioResult, LocalLevelResult

__all__ = ["CUDA_SOURCE", "hedge_ratio", "is_available", "local_level", "rolling_zscore"]

THREADS = 128

CUDA_SOURCE = r"""
#define ANCHOR_WINDOWS 8
#define ERR_RATIO 1e5

extern "C" __device__ void rolling_z_column(
    const double* x, long long n_bars, long long n_series, long long s, long long window,
    long long lag, double eps, double fill, int zero_std_nan, double* out)
{
    long long first = window - 1 + lag;
    double inv_w = 1.0 / (double)window;
    double mean = 0.0, m2 = 0.0, err = 0.0;
    long long run = 0;
    for (long long t = 0; t < n_bars; ++t) {
        long long end = t - lag;
        if (end >= 1) {
            run = x[end * n_series + s] == x[(end - 1) * n_series + s] ? run + 1 : 1;
        } else if (end == 0) {
            run = 1;
        }
        if (t < first) { out[t * n_series + s] = fill; continue; }
        int exact = (t - first) % (window * ANCHOR_WINDOWS) == 0;
        if (!exact) {
            double x_new = x[end * n_series + s];
            double x_old = x[(end - window) * n_series + s];
            double step = x_new - x_old;
            double new_mean = mean + step * inv_w;
            double term = step * (x_new - new_mean + x_old - mean);
            m2 += term;
            mean = new_mean;
            err += fabs(term) + fabs(m2);
            exact = err > ERR_RATIO * m2;
        }
        if (exact) {
            mean = 0.0; m2 = 0.0; err = 0.0;
            for (long long i = end - window + 1; i <= end; ++i) mean += x[i * n_series + s];
            mean *= inv_w;
            for (long long i = end - window + 1; i <= end; ++i) {
                double d = x[i * n_series + s] - mean;
                m2 += d * d;
            }
        }
        int flat = run >= window;
        double var = m2 * inv_w;
        double sd = var > 0.0 ? sqrt(var) : 0.0;
        double centre = flat ? x[end * n_series + s] : mean;
        double z = (x[t * n_series + s] - centre) / ((flat ? 0.0 : sd) + eps);
        if (zero_std_nan && (flat || m2 <= 0.0)) z = nan("");
        out[t * n_series + s] = z;
    }
}

extern "C" __global__ void rolling_zscore_tm(
    const double* x, long long n_bars, long long n_series, long long window, long long lag,
    double eps, double fill, int zero_std_nan, double* out)
{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= n_series) return;
    rolling_z_column(x, n_bars, n_series, s, window, lag, eps, fill, zero_std_nan, out);
}

extern "C" __global__ void local_level_tm(
    const double* prices, const double* q, const double* r, double x0, double p0,
    long long n_bars, long long n_sets, long long lookback, double z_eps,
    double* levels, double* residuals, double* variances, double* slopes, double* residual_z)
{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= n_sets) return;
    double x = x0, p = p0, qs = q[s], rs = r[s];
    for (long long t = 0; t < n_bars; ++t) {
        double y = prices[t];
        double p_pred = p + qs;
        double k = p_pred / (p_pred + rs);
        double x_new = x + k * (y - x);
        p = (1.0 - k) * p_pred;
        long long i = t * n_sets + s;
        slopes[i] = t > 0 ? x_new - x : 0.0;
        x = x_new;
        levels[i] = x_new;
        residuals[i] = y - x_new;
        variances[i] = p;
    }
    rolling_z_column(residuals, n_bars, n_sets, s, lookback, 1, z_eps, 0.0, 0, residual_z);
}

extern "C" __global__ void hedge_ratio_tm(
    const double* a, const double* b, const double* delta, const double* obs_r,
    double beta0, double p0, long long n_bars, long long n_sets,
    double* betas, double* spreads, double* variances)
{
    long long s = (long long)blockDim.x * blockIdx.x + threadIdx.x;
    if (s >= n_sets) return;
    double beta = beta0, p = p0, q = delta[s] / (1.0 - delta[s]), rs = obs_r[s];
    for (long long t = 0; t < n_bars; ++t) {
        double at = a[t], bt = b[t];
        if (bt != 0.0) {
            double p_prior = p + q;
            double sv = p_prior * (bt * bt) + rs;
            double k = (p_prior * bt) / sv;
            beta = beta + k * (at - beta * bt);
            p = (1.0 - k * bt) * p_prior;
        }
        long long i = t * n_sets + s;
        betas[i] = beta;
        spreads[i] = at - beta * bt;
        variances[i] = p;
    }
}
"""


@cache
def is_available() -> bool:
    """Return True when CuPy imports and sees at least one CUDA device."""
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount()) > 0
    except Exception:
        return False


@cache
def _module() -> Any:
    import cupy

    return cupy.RawModule(code=CUDA_SOURCE, options=("--fmad=false",))


def _launch(name: str, n_threads: int, args: tuple[Any, ...]) -> None:
    blocks = (n_threads + THREADS - 1) // THREADS
    _module().get_function(name)((max(blocks, 1),), (THREADS,), args)


def local_level(
    prices: np.ndarray,
    q: np.ndarray,
    r: np.ndarray,
    x0: float,
    p0: float,
    lookback: int,
    z_eps: float,
) -> LocalLevelResult:
    """Run the local-level filter on the GPU; return host arrays."""
    import cupy as cp

    n_bars, n_sets = prices.shape[0], q.shape[0]
    outs = [cp.empty((n_bars, n_sets), dtype=cp.float64) for _ in range(5)]
    args = (
        cp.asarray(prices),
        cp.asarray(q),
        cp.asarray(r),
        np.float64(x0),
        np.float64(p0),
        np.int64(n_bars),
        np.int64(n_sets),
        np.int64(lookback),
        np.float64(z_eps),
        *outs,
    )
    _launch("local_level_tm", n_sets, args)
    return LocalLevelResult(*(cp.asnumpy(o).T for o in outs))


def hedge_ratio(
    a: np.ndarray,
    b: np.ndarray,
    delta: np.ndarray,
    obs_r: np.ndarray,
    beta0: float,
    p0: float,
) -> HedgeRatioResult:
    """Run the hedge-ratio filter on the GPU; return host arrays."""
    import cupy as cp

    n_bars, n_sets = a.shape[0], delta.shape[0]
    outs = [cp.empty((n_bars, n_sets), dtype=cp.float64) for _ in range(3)]
    args = (
        cp.asarray(a),
        cp.asarray(b),
        cp.asarray(delta),
        cp.asarray(obs_r),
        np.float64(beta0),
        np.float64(p0),
        np.int64(n_bars),
        np.int64(n_sets),
        *outs,
    )
    _launch("hedge_ratio_tm", n_sets, args)
    return HedgeRatioResult(*(cp.asnumpy(o).T for o in outs))


def rolling_zscore(
    x: np.ndarray, window: int, lag: int, eps: float, fill: float, zero_std_nan: bool
) -> np.ndarray:
    """Rolling z-score of every row of `x` on the GPU; return a host array."""
    import cupy as cp

    n_series, n_bars = x.shape
    x_tm = cp.asarray(np.ascontiguousarray(x.T))
    out = cp.empty((n_bars, n_series), dtype=cp.float64)
    args = (
        x_tm,
        np.int64(n_bars),
        np.int64(n_series),
        np.int64(window),
        np.int64(lag),
        np.float64(eps),
        np.float64(fill),
        np.int32(1 if zero_std_nan else 0),
        out,
    )
    _launch("rolling_zscore_tm", n_series, args)
    return cp.asnumpy(out).T
