"""Numba CPU backend of the batched filters, parallel over column blocks of parameter sets.

Notation (time-major buffers, see `tradelab.kalman.result`):
    prices         (n_bars,)          observed series y_t
    q, r           (n_sets,)          local-level process and observation noise variances
    a, b           (n_bars,)          legs of a pair, a_t = beta_t * b_t + e_t
    delta, obs_r   (n_sets,)          hedge-ratio drift (Q = delta / (1 - delta)) and noise R
    x_tm, out_tm   (n_bars, n_series) input and output of the rolling z-score
    *_tm outputs   (n_bars, n_sets)

Time is the outer loop and parameter sets the inner one, so a step is a vectorizable loop
over one contiguous row; `error_model="numpy"` removes the zero-division branch that would
keep LLVM from vectorizing the divisions. Sets are split into one wide column block per
thread (narrow blocks stride through memory and run several times slower); a problem that
fits one block runs the serial `*_block_nb` function, skipping the thread pool.

The rolling z-score is O(n_bars) per series: a sliding mean and sum of squared deviations,
recomputed exactly every `ANCHOR_WINDOWS` windows and wherever cancellation could cost
accuracy, so rounding cannot drift. The local-level filter
computes it in the same pass, while the residual rows it reads are still in cache.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "block_width",
    "hedge_ratio_block_nb",
    "hedge_ratio_tm_nb",
    "local_level_block_nb",
    "local_level_tm_nb",
    "rolling_zscore_block_nb",
    "rolling_zscore_tm_nb",
    "zscore_step_nb",
]

MIN_BLOCK = 64
# blocks narrower than this run column by column (scalar code, no per-step row views)
NARROW = 8
# the running window sums are recomputed exactly every ANCHOR_WINDOWS windows, and for a
# series whose accumulated rounding bound exceeds ERR_RATIO times its sum of squared
# deviations (a relative error of about 2e-11)
ANCHOR_WINDOWS = 8
ERR_RATIO = 1e5


def block_width(n_columns: int) -> int:
    """Return the column block width: one block per numba thread, at least MIN_BLOCK wide."""
    per_thread = -(-n_columns // numba.get_num_threads())
    width = -(-max(MIN_BLOCK, per_thread) // 8) * 8
    return max(1, min(n_columns, width))


@njit(cache=True, error_model="numpy")
def _window_stats_nb(x_tm, col, start, stop, state, j):
    total = 0.0
    for i in range(start, stop):
        total += x_tm[i, col]
    mean = total * (1.0 / (stop - start))
    m2 = 0.0
    for i in range(start, stop):
        d = x_tm[i, col] - mean
        m2 += d * d
    state[0, j] = mean
    state[1, j] = m2
    state[2, j] = 0.0


@njit(cache=True, error_model="numpy")
def _z_row_nb(cur, last, state, window, eps, zero_std_nan, out):
    mean = state[0]
    m2 = state[1]
    run = state[3]
    inv_w = 1.0 / window
    for j in range(cur.shape[0]):
        var = m2[j] * inv_w
        var = var if var > 0.0 else 0.0
        flat = run[j] >= window
        std = 0.0 if flat else np.sqrt(var)
        centre = last[j] if flat else mean[j]
        out[j] = (cur[j] - centre) / (std + eps)
    if zero_std_nan:
        for j in range(cur.shape[0]):
            if run[j] >= window or m2[j] <= 0.0:
                out[j] = np.nan


@njit(cache=True, error_model="numpy")
def zscore_step_nb(x_tm, t, lo, hi, window, lag, eps, fill, zero_std_nan, state, out):
    """Write the z-score of x_tm[t, lo:hi] into `out`, updating the running `state`.

    Call for t = 0, 1, 2, ... in order; the window is x_tm[t - lag - window + 1 : t - lag + 1].
    `state` is (4, hi - lo) zeros at the start: window mean, sum of squared deviations, a
    rounding-error bound of that sum, and the run of equal values ending the window (a window
    of identical values has exactly zero deviation). Each loop touches few arrays so LLVM
    can vectorize it.
    """
    width = hi - lo
    mean = state[0]
    m2 = state[1]
    err = state[2]
    run = state[3]
    end = t - lag
    first = window - 1 + lag
    inv_w = 1.0 / window
    if end >= 1:
        new = x_tm[end, lo:hi]
        before = x_tm[end - 1, lo:hi]
        for j in range(width):
            run[j] = run[j] + 1.0 if new[j] == before[j] else 1.0
    elif end == 0:
        run[:] = 1.0
    if t < first:
        out[:] = fill
        return
    last = x_tm[end, lo:hi]
    cur = x_tm[t, lo:hi]
    if (t - first) % (window * ANCHOR_WINDOWS) == 0:
        mean[:] = 0.0
        m2[:] = 0.0
        err[:] = 0.0
        for i in range(end - window + 1, end + 1):
            row = x_tm[i, lo:hi]
            for j in range(width):
                mean[j] += row[j]
        for j in range(width):
            mean[j] *= inv_w
        for i in range(end - window + 1, end + 1):
            row = x_tm[i, lo:hi]
            for j in range(width):
                d = row[j] - mean[j]
                m2[j] += d * d
        _z_row_nb(cur, last, state, window, eps, zero_std_nan, out)
        return
    old = x_tm[end - window, lo:hi]
    for j in range(width):
        step = last[j] - old[j]
        new_mean = mean[j] + step * inv_w
        err[j] += abs(step * (last[j] - new_mean + old[j] - mean[j]))
    for j in range(width):
        step = last[j] - old[j]
        new_mean = mean[j] + step * inv_w
        m2[j] += step * (last[j] - new_mean + old[j] - mean[j])
        mean[j] = new_mean
    stale = 0
    for j in range(width):
        err[j] += abs(m2[j])
        stale += err[j] > ERR_RATIO * m2[j]
    if stale:  # cancellation: recompute those columns exactly
        for j in range(width):
            if err[j] > ERR_RATIO * m2[j]:
                _window_stats_nb(x_tm, lo + j, end - window + 1, end + 1, state, j)
    _z_row_nb(cur, last, state, window, eps, zero_std_nan, out)


@njit(cache=True, error_model="numpy")
def _rolling_zscore_column_nb(x_tm, col, window, lag, eps, fill, zero_std_nan, out_tm):
    """Scalar rolling z-score of one column: the same steps as the row version (and the CUDA
    kernel), for blocks too narrow to vectorize, where per-step row views would dominate."""
    n_bars = x_tm.shape[0]
    first = window - 1 + lag
    inv_w = 1.0 / window
    mean = 0.0
    m2 = 0.0
    err = 0.0
    run = 0
    for t in range(n_bars):
        end = t - lag
        if end >= 1:
            run = run + 1 if x_tm[end, col] == x_tm[end - 1, col] else 1
        elif end == 0:
            run = 1
        if t < first:
            out_tm[t, col] = fill
            continue
        exact = (t - first) % (window * ANCHOR_WINDOWS) == 0
        if not exact:
            x_new = x_tm[end, col]
            x_old = x_tm[end - window, col]
            step = x_new - x_old
            new_mean = mean + step * inv_w
            term = step * (x_new - new_mean + x_old - mean)
            m2 += term
            mean = new_mean
            err += abs(term) + abs(m2)
            exact = err > ERR_RATIO * m2
        if exact:
            total = 0.0
            for i in range(end - window + 1, end + 1):
                total += x_tm[i, col]
            mean = total * inv_w
            m2 = 0.0
            err = 0.0
            for i in range(end - window + 1, end + 1):
                d = x_tm[i, col] - mean
                m2 += d * d
        flat = run >= window
        var = m2 * inv_w
        std = 0.0 if flat or var <= 0.0 else np.sqrt(var)
        centre = x_tm[end, col] if flat else mean
        z = (x_tm[t, col] - centre) / (std + eps)
        if zero_std_nan and (flat or m2 <= 0.0):
            z = np.nan
        out_tm[t, col] = z


@njit(cache=True, error_model="numpy")
def rolling_zscore_block_nb(x_tm, lo, hi, window, lag, eps, fill, zero_std_nan, out_tm):
    """Rolling z-score of columns lo:hi of `x_tm` (window ending `lag` steps back)."""
    if hi - lo < NARROW:
        for col in range(lo, hi):
            _rolling_zscore_column_nb(x_tm, col, window, lag, eps, fill, zero_std_nan, out_tm)
        return
    state = np.zeros((4, hi - lo))
    for t in range(x_tm.shape[0]):
        zscore_step_nb(
            x_tm, t, lo, hi, window, lag, eps, fill, zero_std_nan, state, out_tm[t, lo:hi]
        )


@njit(cache=True, error_model="numpy", parallel=True)
def rolling_zscore_tm_nb(x_tm, window, lag, eps, fill, zero_std_nan, width, out_tm):
    """Rolling z-score of every column of `x_tm`, in parallel blocks of `width` columns."""
    n_series = x_tm.shape[1]
    for blk in prange(-(-n_series // width)):
        lo = blk * width
        hi = min(lo + width, n_series)
        rolling_zscore_block_nb(x_tm, lo, hi, window, lag, eps, fill, zero_std_nan, out_tm)


@njit(cache=True, error_model="numpy")
def local_level_block_nb(
    prices, q, r, x0, p0, lo, hi, lookback, z_eps, levels, residuals, variances, slopes, z
):
    """Local-level filter of sets lo:hi (and their residual z-score unless `z` has 0 rows)."""
    n_bars = prices.shape[0]
    width = hi - lo
    with_z = z.shape[0] > 0
    x = np.full(width, x0)
    p = np.full(width, p0)
    qb = q[lo:hi].copy()
    rb = r[lo:hi].copy()
    state = np.zeros((4, width))
    for t in range(n_bars):
        y = prices[t]
        lev = levels[t, lo:hi]
        res = residuals[t, lo:hi]
        var = variances[t, lo:hi]
        slope = slopes[t, lo:hi]
        for j in range(width):
            p_pred = p[j] + qb[j]
            k = p_pred / (p_pred + rb[j])
            x_new = x[j] + k * (y - x[j])
            p[j] = (1.0 - k) * p_pred
            slope[j] = x_new - x[j]
            x[j] = x_new
            lev[j] = x_new
            res[j] = y - x_new
            var[j] = p[j]
        if with_z:
            zscore_step_nb(residuals, t, lo, hi, lookback, 1, z_eps, 0.0, False, state, z[t, lo:hi])
    if n_bars > 0:
        slopes[0, lo:hi] = 0.0


@njit(cache=True, error_model="numpy", parallel=True)
def local_level_tm_nb(
    prices, q, r, x0, p0, lookback, z_eps, width, levels, residuals, variances, slopes, residual_z
):
    """Local-level filter of `prices` for every (q, r) set, plus the residual z-score.

    Sets run in parallel blocks of `width`; pass `residual_z` with 0 rows to skip the z-score.
    """
    n_sets = q.shape[0]
    for blk in prange(-(-n_sets // width)):
        lo = blk * width
        hi = min(lo + width, n_sets)
        local_level_block_nb(
            prices,
            q,
            r,
            x0,
            p0,
            lo,
            hi,
            lookback,
            z_eps,
            levels,
            residuals,
            variances,
            slopes,
            residual_z,
        )


@njit(cache=True, error_model="numpy")
def hedge_ratio_block_nb(a, b, delta, obs_r, beta0, p0, lo, hi, betas, spreads, variances):
    """Dynamic hedge ratio of `a` on `b` for sets lo:hi."""
    n_bars = a.shape[0]
    w = hi - lo
    if w < NARROW:  # scalar per set: no per-step row views
        for s in range(lo, hi):
            q = delta[s] / (1.0 - delta[s])
            beta = beta0
            p = p0
            for t in range(n_bars):
                bt = b[t]
                if bt != 0.0:
                    p_prior = p + q
                    k = (p_prior * bt) / (p_prior * (bt * bt) + obs_r[s])
                    beta = beta + k * (a[t] - beta * bt)
                    p = (1.0 - k * bt) * p_prior
                betas[t, s] = beta
                spreads[t, s] = a[t] - beta * bt
                variances[t, s] = p
        return
    beta = np.full(w, beta0)
    p = np.full(w, p0)
    rb = obs_r[lo:hi].copy()
    qb = np.empty(w)
    for j in range(w):
        qb[j] = delta[lo + j] / (1.0 - delta[lo + j])
    for t in range(n_bars):
        at = a[t]
        bt = b[t]
        if bt != 0.0:
            for j in range(w):
                p_prior = p[j] + qb[j]
                s = p_prior * (bt * bt) + rb[j]
                k = (p_prior * bt) / s
                beta[j] = beta[j] + k * (at - beta[j] * bt)
                p[j] = (1.0 - k * bt) * p_prior
        beta_row = betas[t, lo:hi]
        spread_row = spreads[t, lo:hi]
        var_row = variances[t, lo:hi]
        for j in range(w):
            beta_row[j] = beta[j]
            spread_row[j] = at - beta[j] * bt
            var_row[j] = p[j]


@njit(cache=True, error_model="numpy", parallel=True)
def hedge_ratio_tm_nb(a, b, delta, obs_r, beta0, p0, width, betas, spreads, variances):
    """Dynamic hedge ratio of `a` on `b` for every (delta, R) set, in blocks of `width`."""
    n_sets = delta.shape[0]
    for blk in prange(-(-n_sets // width)):
        lo = blk * width
        hi = min(lo + width, n_sets)
        hedge_ratio_block_nb(a, b, delta, obs_r, beta0, p0, lo, hi, betas, spreads, variances)
