"""Probabilistic and Deflated Sharpe Ratio (Bailey & Lopez de Prado 2012, 2014).

Notation (every Sharpe ratio per period, NOT annualised, in the units of the returns):
    sr          Sharpe ratio of the selected strategy: mean / sample stdev of its returns
    n_obs       T, the number of returns behind `sr`
    skew        gamma_3, sample skewness of those returns
    kurtosis    gamma_4, sample kurtosis (NOT excess: 3 for a normal distribution)
    n_trials    N, the number of configurations really evaluated in the search
    sr_variance V[SR_n], variance of the Sharpe ratios across the N trials
    sr0         expected maximum of N Sharpe ratios under the null of no skill:
                sqrt(V) * ((1 - g) * Z^-1(1 - 1/N) + g * Z^-1(1 - 1/(N e))), g = Euler-Mascheroni
    PSR(sr*)    Z((sr - sr*) sqrt(T - 1) / sqrt(1 - gamma_3 sr + (gamma_4 - 1) / 4 sr^2))
    DSR         PSR(sr0): the probability that the true Sharpe exceeds what the best of N
                skill-less trials would show

Worked example of the 2014 paper: N = 100, V = 1/2 annualised (1/2 / 250 per day), T = 1250,
annualised SR = 2.5, skew = -3, kurtosis = 10 give sr0 = 0.1132 per day and DSR = 0.9004.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

__all__ = [
    "EULER_GAMMA",
    "DeflatedSharpe",
    "deflated_sharpe_from_returns",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
    "return_moments",
]

EULER_GAMMA = 0.5772156649015329


@dataclass(frozen=True)
class DeflatedSharpe:
    """A DSR and the inputs it was computed from."""

    dsr: float
    sr: float
    sr0: float
    n_obs: int
    skew: float
    kurtosis: float
    n_trials: int
    sr_variance: float

    def metrics(self, prefix: str = "") -> dict[str, float]:
        """Return the numbers under stable metric names (`deflated_sharpe`, `sr0`, ...)."""
        return {
            f"{prefix}deflated_sharpe": self.dsr,
            f"{prefix}dsr_sr0": self.sr0,
            f"{prefix}dsr_sharpe": self.sr,
            f"{prefix}dsr_n_obs": float(self.n_obs),
            f"{prefix}dsr_skew": self.skew,
            f"{prefix}dsr_kurtosis": self.kurtosis,
            f"{prefix}dsr_sr_variance": self.sr_variance,
        }


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n_obs: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Return P(true Sharpe > sr_benchmark) given the estimate `sr` from n_obs returns."""
    if n_obs < 2:
        raise ValueError(f"n_obs must be >= 2; got {n_obs}")
    if not all(math.isfinite(v) for v in (sr, sr_benchmark, skew, kurtosis)):
        raise ValueError("sr, sr_benchmark, skew and kurtosis must be finite")
    if kurtosis < 1.0:
        raise ValueError(f"kurtosis is not excess kurtosis and cannot be below 1; got {kurtosis}")
    denom = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr * sr
    if denom <= 0.0:
        raise ValueError(
            f"PSR undefined: 1 - skew*sr + (kurtosis-1)/4*sr^2 = {denom:.4g} <= 0 "
            f"(sr={sr:.4g}, skew={skew:.4g}, kurtosis={kurtosis:.4g})"
        )
    z = (sr - sr_benchmark) * math.sqrt(n_obs - 1.0) / math.sqrt(denom)
    return float(norm.cdf(z))


def expected_max_sharpe(n_trials: float, sr_variance: float, sr_mean: float = 0.0) -> float:
    """Return the expected maximum Sharpe of n_trials skill-less trials with that variance."""
    if n_trials < 1:
        raise ValueError(f"n_trials must be >= 1; got {n_trials}")
    if sr_variance < 0 or not math.isfinite(sr_variance):
        raise ValueError(f"sr_variance must be finite and >= 0; got {sr_variance}")
    if n_trials == 1:
        return sr_mean
    g = EULER_GAMMA
    z1 = norm.ppf(1.0 - 1.0 / n_trials)
    z2 = norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(sr_mean + math.sqrt(sr_variance) * ((1.0 - g) * z1 + g * z2))


def deflated_sharpe_ratio(
    sr: float,
    n_obs: int,
    *,
    n_trials: int,
    sr_variance: float,
    skew: float = 0.0,
    kurtosis: float = 3.0,
) -> DeflatedSharpe:
    """Return the DSR of a strategy selected as the best of n_trials (per-period Sharpes)."""
    sr0 = expected_max_sharpe(n_trials, sr_variance)
    dsr = probabilistic_sharpe_ratio(sr, sr0, n_obs, skew, kurtosis)
    return DeflatedSharpe(
        dsr=dsr,
        sr=float(sr),
        sr0=sr0,
        n_obs=int(n_obs),
        skew=float(skew),
        kurtosis=float(kurtosis),
        n_trials=int(n_trials),
        sr_variance=float(sr_variance),
    )


def return_moments(returns: np.ndarray) -> tuple[float, float, float, int]:
    """Return (Sharpe, skewness, kurtosis, n) of a return series; kurtosis is not excess."""
    x = np.asarray(returns, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = int(x.size)
    if n < 3:
        raise ValueError(f"need at least 3 finite returns; got {n}")
    mean = float(x.mean())
    dev = x - mean
    m2 = float(dev @ dev) / n
    if m2 <= 0.0:
        return 0.0, 0.0, 3.0, n
    sd = math.sqrt(float(dev @ dev) / (n - 1))
    skew = float(np.mean(dev**3)) / m2**1.5
    kurt = float(np.mean(dev**4)) / m2**2
    return mean / sd, skew, kurt, n


def deflated_sharpe_from_returns(
    returns: np.ndarray,
    trial_sharpes: np.ndarray,
    *,
    n_trials: int | None = None,
) -> DeflatedSharpe:
    """Return the DSR of `returns` (the selected strategy) against the trials' Sharpe ratios.

    `trial_sharpes` are per-period Sharpes of the trials (same units as `returns`); their
    sample variance is V[SR_n]. `n_trials` defaults to len(trial_sharpes); pass the number
    really evaluated when `trial_sharpes` covers only part of the search.
    """
    sr, skew, kurt, n = return_moments(returns)
    trial_sharpes = np.asarray(trial_sharpes, dtype=np.float64)
    trial_sharpes = trial_sharpes[np.isfinite(trial_sharpes)]
    if trial_sharpes.size < 2:
        raise ValueError("need the Sharpe ratios of at least 2 trials")
    n_trials = int(trial_sharpes.size) if n_trials is None else int(n_trials)
    variance = float(np.var(trial_sharpes, ddof=1))
    return deflated_sharpe_ratio(
        sr, n, n_trials=n_trials, sr_variance=variance, skew=skew, kurtosis=kurt
    )
