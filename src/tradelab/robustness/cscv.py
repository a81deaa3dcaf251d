"""Probability of Backtest Overfitting by combinatorially symmetric cross-validation (CSCV).

Bailey, Borwein, Lopez de Prado, Zhu, "The Probability of Backtest Overfitting" (2015).

Notation:
    N          number of configurations (strategy parameter sets) compared
    S          number of equal time blocks, even (default 16)
    T          number of periods (bars) in the sample
    ret_sum    (N, S) float64, per configuration and block: sum of per-bar returns
    ret_sq     (N, S) float64, per configuration and block: sum of squared per-bar returns
    block_n    (S,)   int64, bars per block
    split      a choice of S/2 blocks as in-sample (IS), the other S/2 out-of-sample (OOS);
               there are C(S, S/2) splits (12,870 for S = 16) in complementary pairs
    perf       per-bar Sharpe ratio (mean / sample stdev) or mean return of the concatenated
               blocks of one half, computed exactly from the summed blocks
    n*         the configuration with the best IS perf (the first one on ties)
    omega      relative OOS rank of n*: midrank among the N OOS perfs (1 = worst) / (N + 1)
    logit      ln(omega / (1 - omega)); PBO = share of splits with logit <= 0

The kernel walks the C(S, S/2) / 2 splits that put block 0 in-sample; each one gives two
results (the split and its complement), since the complement's IS half is the split's OOS half.
A split is decoded from its integer rank by the combinatorial number system, so the hot loop
creates no Python object per split and a random subset of splits (`max_splits`) costs the same
per split as the full set.

Huge grids: the work is O(N * S * C(S, S/2)) and the inputs are 16 * N * S bytes, so PBO over
millions of combinations is not practical. Restrict it to the top-K candidates by stability
score (`top_k_rows`) or to plateau representatives, and rerun the kernel for those combinations
only. The statistic then measures the overfitting of the final choice among the shortlisted
candidates; the shortlist itself was drawn with the whole sample, so the PBO of the full search
is at least as high. Report K beside the PBO.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

__all__ = [
    "PboResult",
    "block_sums",
    "cscv_nb",
    "equal_blocks",
    "pbo_from_block_sums",
    "pbo_from_returns",
    "top_k_rows",
]

_METRICS = {"sharpe": 0, "mean": 1}


@dataclass(frozen=True)
class PboResult:
    """Outcome of CSCV: the PBO and the per-split statistics it was computed from."""

    pbo: float
    logits: np.ndarray  # (n_splits,)
    is_perf: np.ndarray  # (n_splits,) IS perf of the IS-best configuration
    oos_perf: np.ndarray  # (n_splits,) OOS perf of the same configuration
    best: np.ndarray  # (n_splits,) row index of the IS-best configuration
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_configs: int
    n_blocks: int
    metric: str
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def n_splits(self) -> int:
        return int(self.logits.shape[0])

    def metrics(self) -> dict[str, float]:
        """Return the summary numbers under stable metric names."""
        return {
            "pbo": self.pbo,
            "pbo_logit_median": float(np.median(self.logits)),
            "pbo_degradation_slope": self.degradation_slope,
            "pbo_degradation_intercept": self.degradation_intercept,
            "pbo_prob_oos_loss": self.prob_oos_loss,
            "pbo_n_configs": float(self.n_configs),
            "pbo_n_splits": float(self.n_splits),
            "pbo_n_blocks": float(self.n_blocks),
            **self.extra,
        }


# -- kernels ---------------------------------------------------------------------------------


@njit(cache=True)
def _binomial_table_nb(n: int) -> np.ndarray:
    """Return C(a, b) for 0 <= a, b <= n as an int64 table."""
    table = np.zeros((n + 1, n + 1), dtype=np.int64)
    for a in range(n + 1):
        table[a, 0] = 1
        for b in range(1, a + 1):
            table[a, b] = table[a - 1, b - 1] + table[a - 1, b]
    return table


@njit(cache=True)
def _unrank_split_nb(rank: int, n_blocks: int, binom: np.ndarray) -> int:
    """Return the IS bitmask of split `rank`: block 0 and the rank-th (S/2 - 1)-subset of 1..S-1."""
    n = n_blocks - 1
    k = n_blocks // 2 - 1
    mask = 1
    x = rank
    start = 0
    for i in range(k):
        for c in range(start, n):
            count = binom[n - c - 1, k - i - 1]
            if x < count:
                mask |= 1 << (c + 1)
                start = c + 1
                break
            x -= count
    return mask


@njit(cache=True)
def _perf_nb(s: float, q: float, n: float, metric: int) -> float:
    """Return the Sharpe (metric 0) or mean (metric 1) of n returns with sum s and square sum q."""
    if n <= 0.0:
        return 0.0
    mean = s / n
    if metric == 1:
        return mean
    if n < 2.0:
        return 0.0
    var = (q - n * mean * mean) / (n - 1.0)
    if var <= 0.0:
        return 0.0
    return mean / math.sqrt(var)


@njit(cache=True)
def _oos_logit_nb(oos: np.ndarray, best: int) -> float:
    """Return the logit of the midrank of oos[best] among `oos`, scaled by 1 / (N + 1)."""
    n_cfg = oos.shape[0]
    target = oos[best]
    less = 0
    equal = 0
    for i in range(n_cfg):
        if oos[i] < target:
            less += 1
        elif oos[i] == target:
            equal += 1
    omega = (less + (equal + 1) / 2.0) / (n_cfg + 1.0)
    return math.log(omega / (1.0 - omega))


@njit(cache=True, parallel=True)
def cscv_nb(
    ret_sum: np.ndarray,
    ret_sq: np.ndarray,
    block_n: np.ndarray,
    split_ranks: np.ndarray,
    metric: int,
    out_logit: np.ndarray,
    out_is: np.ndarray,
    out_oos: np.ndarray,
    out_best: np.ndarray,
) -> None:
    """Fill per-split logit, IS/OOS perf and IS-best row of each ranked split and its complement."""
    n_cfg, n_blocks = ret_sum.shape
    binom = _binomial_table_nb(n_blocks)
    tot_sum = np.empty(n_cfg)
    tot_sq = np.empty(n_cfg)
    for i in range(n_cfg):
        s = 0.0
        q = 0.0
        for b in range(n_blocks):
            s += ret_sum[i, b]
            q += ret_sq[i, b]
        tot_sum[i] = s
        tot_sq[i] = q
    tot_n = 0.0
    for b in range(n_blocks):
        tot_n += block_n[b]
    half = n_blocks // 2
    for j in prange(split_ranks.shape[0]):
        mask = _unrank_split_nb(split_ranks[j], n_blocks, binom)
        idx = np.empty(half, dtype=np.int64)
        m = 0
        n_a = 0.0
        for b in range(n_blocks):
            if (mask >> b) & 1:
                idx[m] = b
                m += 1
                n_a += block_n[b]
        n_b = tot_n - n_a
        perf_a = np.empty(n_cfg)
        perf_b = np.empty(n_cfg)
        best_a = 0
        best_b = 0
        for i in range(n_cfg):
            s = 0.0
            q = 0.0
            for t in range(half):
                s += ret_sum[i, idx[t]]
                q += ret_sq[i, idx[t]]
            perf_a[i] = _perf_nb(s, q, n_a, metric)
            perf_b[i] = _perf_nb(tot_sum[i] - s, tot_sq[i] - q, n_b, metric)
            if perf_a[i] > perf_a[best_a]:
                best_a = i
            if perf_b[i] > perf_b[best_b]:
                best_b = i
        # the split: IS = half a, OOS = half b
        out_logit[2 * j] = _oos_logit_nb(perf_b, best_a)
        out_is[2 * j] = perf_a[best_a]
        out_oos[2 * j] = perf_b[best_a]
        out_best[2 * j] = best_a
        # its complement: IS = half b, OOS = half a
        out_logit[2 * j + 1] = _oos_logit_nb(perf_a, best_b)
        out_is[2 * j + 1] = perf_b[best_b]
        out_oos[2 * j + 1] = perf_a[best_b]
        out_best[2 * j + 1] = best_b


@njit(cache=True)
def _block_sums_nb(
    returns: np.ndarray, block_id: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sum returns (T, N) and their squares into (N, S) blocks; block_id -1 skips a row."""
    n_rows, n_cfg = returns.shape
    ret_sum = np.zeros((n_cfg, n_blocks))
    ret_sq = np.zeros((n_cfg, n_blocks))
    block_n = np.zeros(n_blocks, dtype=np.int64)
    for t in range(n_rows):
        b = block_id[t]
        if b < 0:
            continue
        block_n[b] += 1
        for i in range(n_cfg):
            r = returns[t, i]
            ret_sum[i, b] += r
            ret_sq[i, b] += r * r
    return ret_sum, ret_sq, block_n


# -- entry points ----------------------------------------------------------------------------


def equal_blocks(n_bars: int, n_blocks: int) -> np.ndarray:
    """Return `block_id` (n_bars,) int32: n_bars consecutive bars cut into n_blocks equal runs."""
    if n_blocks < 1 or n_bars < n_blocks:
        raise ValueError(
            f"n_blocks must be in [1, n_bars]; got n_blocks={n_blocks}, n_bars={n_bars}"
        )
    return ((np.arange(n_bars, dtype=np.int64) * n_blocks) // n_bars).astype(np.int32)


def block_sums(
    returns: np.ndarray, block_id: np.ndarray, n_blocks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (ret_sum (N, S), ret_sq (N, S), block_n (S,)) of a (T, N) returns matrix."""
    returns = np.ascontiguousarray(returns, dtype=np.float64)
    block_id = np.asarray(block_id, dtype=np.int32)
    if returns.ndim != 2:
        raise ValueError(f"returns must be (T, N); got shape {returns.shape}")
    if block_id.shape != (returns.shape[0],):
        raise ValueError("block_id must have one entry per row of returns")
    if block_id.size and (block_id.max() >= n_blocks or block_id.min() < -1):
        raise ValueError(f"block_id values must be -1 or in [0, {n_blocks})")
    return _block_sums_nb(returns, block_id, int(n_blocks))


def comparison_set(
    selected: int, others: np.ndarray, k: int, rng: np.random.Generator
) -> np.ndarray:
    """The configurations PBO (and effective trials) compare: `selected` first, then the
    `others` (indices; `selected` among them is dropped), all of them when they fit in `k`,
    else a uniform sample of `k - 1` in index order.

    Never the top k by a score: a CSCV input chosen with the data it judges (the best k by an
    out-of-sample or full-history score) drops the configurations that would have shown the
    overfitting, and PBO then measures the shortlist, not the search.
    """
    rest = np.asarray(others, dtype=np.int64)
    rest = rest[rest != selected]
    if rest.size > k - 1:
        rest = np.sort(rng.choice(rest, k - 1, replace=False))
    return np.concatenate([np.asarray([selected], dtype=np.int64), rest])


def top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Return the row indices of the k best scores, best first (ties: lower index first)."""
    scores = np.asarray(scores, dtype=np.float64)
    if k <= 0:
        raise ValueError("k must be positive")
    order = np.lexsort((np.arange(scores.size), -np.nan_to_num(scores, nan=-np.inf)))
    return order[: min(k, scores.size)]


def _check_inputs(
    ret_sum: np.ndarray, ret_sq: np.ndarray, block_n: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ret_sum = np.ascontiguousarray(ret_sum, dtype=np.float64)
    ret_sq = np.ascontiguousarray(ret_sq, dtype=np.float64)
    block_n = np.ascontiguousarray(block_n, dtype=np.int64)
    if ret_sum.ndim != 2:
        raise ValueError(f"block_ret_sum must be (N, S); got shape {ret_sum.shape}")
    n_cfg, n_blocks = ret_sum.shape
    if ret_sq.shape != ret_sum.shape:
        raise ValueError(
            f"block_ret_sq shape {ret_sq.shape} differs from block_ret_sum {ret_sum.shape}"
        )
    if block_n.shape != (n_blocks,):
        raise ValueError(f"block_n must have shape ({n_blocks},); got {block_n.shape}")
    if n_cfg < 2:
        raise ValueError("PBO needs at least 2 configurations")
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"the number of blocks S must be even and >= 2; got {n_blocks}")
    if n_blocks > 62:
        raise ValueError("at most 62 blocks are supported")
    if np.any(block_n <= 0):
        raise ValueError("every block must hold at least one bar (block_n > 0)")
    if not (np.isfinite(ret_sum).all() and np.isfinite(ret_sq).all()):
        raise ValueError("block_ret_sum and block_ret_sq must be finite")
    if np.any(ret_sq < 0):
        raise ValueError("block_ret_sq must be non-negative")
    return ret_sum, ret_sq, block_n


def pbo_from_block_sums(
    block_ret_sum: np.ndarray,
    block_ret_sq: np.ndarray,
    block_n: np.ndarray,
    *,
    metric: str = "sharpe",
    max_splits: int | None = None,
    seed: int = 0,
) -> PboResult:
    """Compute PBO, the degradation slope and P(OOS loss) from per-configuration block sums.

    `max_splits` caps the splits evaluated (a seeded random subset of complementary pairs);
    None evaluates all C(S, S/2). `metric` is `sharpe` or `mean` (per bar, not annualised).
    """
    if metric not in _METRICS:
        raise ValueError(f"metric must be one of {sorted(_METRICS)}; got {metric!r}")
    ret_sum, ret_sq, block_n = _check_inputs(block_ret_sum, block_ret_sq, block_n)
    n_cfg, n_blocks = ret_sum.shape
    n_pairs = math.comb(n_blocks - 1, n_blocks // 2 - 1)
    if max_splits is not None and max_splits < 2:
        raise ValueError("max_splits must be >= 2")
    if max_splits is None or max_splits >= 2 * n_pairs:
        ranks = np.arange(n_pairs, dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        ranks = np.sort(rng.choice(n_pairs, size=max_splits // 2, replace=False)).astype(np.int64)
    n_out = 2 * ranks.shape[0]
    logits = np.empty(n_out)
    is_perf = np.empty(n_out)
    oos_perf = np.empty(n_out)
    best = np.empty(n_out, dtype=np.int64)
    cscv_nb(ret_sum, ret_sq, block_n, ranks, _METRICS[metric], logits, is_perf, oos_perf, best)
    slope, intercept = _ols(is_perf, oos_perf)
    return PboResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        is_perf=is_perf,
        oos_perf=oos_perf,
        best=best,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_perf < 0.0)),
        n_configs=n_cfg,
        n_blocks=n_blocks,
        metric=metric,
    )


def pbo_from_returns(
    returns: np.ndarray,
    *,
    n_blocks: int = 16,
    metric: str = "sharpe",
    max_splits: int | None = None,
    seed: int = 0,
) -> PboResult:
    """Compute PBO from a (T, N) matrix of per-period returns cut into n_blocks equal blocks."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2:
        raise ValueError(f"returns must be (T, N); got shape {returns.shape}")
    block_id = equal_blocks(returns.shape[0], n_blocks)
    ret_sum, ret_sq, block_n = block_sums(returns, block_id, n_blocks)
    return pbo_from_block_sums(
        ret_sum, ret_sq, block_n, metric=metric, max_splits=max_splits, seed=seed
    )


def _ols(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return slope and intercept of the least-squares line y = a + b x (NaN when x is constant)."""
    dx = x - x.mean()
    sxx = float(dx @ dx)
    if sxx <= 0.0:
        return float("nan"), float(y.mean())
    slope = float(dx @ (y - y.mean())) / sxx
    return slope, float(y.mean() - slope * x.mean())
