"""Effective number of independent trials by correlation clustering.

Notation:
    series     (T, N) float64, one column per configuration: per-period returns, or per-block
               mean returns (block_ret_sum / block_n) when only block sums exist
    rho        (N, N) Pearson correlation of the columns; a constant column correlates 0 with
               every other column
    d          sqrt((1 - rho) / 2), the correlation distance (0 identical, 1 opposite)
    N_eff      number of clusters of an average-linkage hierarchical clustering of d, cut where
               the average pairwise distance between two groups exceeds
               d* = sqrt((1 - min_correlation) / 2)

Two configurations whose returns move together (rho >= min_correlation on average across their
groups) count as one trial. Grids of neighbouring parameters are highly correlated, so N_eff is
usually far below N. It is reported beside N (the conservative count, which the deflated Sharpe
uses by default), never instead of it. From block means (S = 16 points) the correlations are
coarse; pass per-period returns for a sharper estimate. Above `max_configs` columns only the
first `max_configs` are clustered (pass them best first), and the result is flagged as capped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform

__all__ = ["EffectiveTrials", "correlation_distance", "effective_trials"]


@dataclass(frozen=True)
class EffectiveTrials:
    """Cluster count and labels of an effective-trials estimate."""

    n_effective: int
    labels: np.ndarray  # (n_clustered,) cluster label per clustered column, 1-based
    n_clustered: int
    capped: bool
    min_correlation: float


def correlation_distance(series: np.ndarray) -> np.ndarray:
    """Return the (N, N) distance sqrt((1 - rho) / 2) between the columns of `series`."""
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"series must be (T, N); got shape {x.shape}")
    if x.shape[0] < 2:
        raise ValueError("need at least 2 rows to estimate correlations")
    dev = x - x.mean(axis=0)
    norms = np.sqrt(np.einsum("ij,ij->j", dev, dev))
    flat = norms <= 1e-300
    scaled = np.divide(dev, norms, out=np.zeros_like(dev), where=~flat)
    rho = np.clip(scaled.T @ scaled, -1.0, 1.0)
    np.fill_diagonal(rho, 1.0)
    dist = np.sqrt(0.5 * (1.0 - rho))
    np.fill_diagonal(dist, 0.0)
    return dist


def effective_trials(
    series: np.ndarray, *, min_correlation: float = 0.5, max_configs: int = 2000
) -> EffectiveTrials:
    """Return the number of correlation clusters among the columns of `series`."""
    if not -1.0 <= min_correlation <= 1.0:
        raise ValueError(f"min_correlation must be in [-1, 1]; got {min_correlation}")
    if max_configs < 1:
        raise ValueError("max_configs must be positive")
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"series must be (T, N); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("series must be finite")
    capped = x.shape[1] > max_configs
    x = x[:, :max_configs]
    n = x.shape[1]
    if n == 1:
        return EffectiveTrials(1, np.ones(1, dtype=np.int64), 1, capped, min_correlation)
    dist = correlation_distance(x)
    tree = linkage(squareform(dist, checks=False), method="average")
    cut = math.sqrt(0.5 * (1.0 - min_correlation))
    labels = fcluster(tree, t=cut, criterion="distance").astype(np.int64)
    return EffectiveTrials(int(labels.max()), labels, n, capped, min_correlation)
