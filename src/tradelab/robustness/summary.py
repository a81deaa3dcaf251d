"""One call per sweep: PBO, deflated Sharpe, trial counts (and optionally SPA) as metrics.

Notation:
    N          configurations with block sums (the top-K candidates on huge grids)
    S          time blocks; ret_sum, ret_sq (N, S); block_n (S,)
    sharpe     (N,) per-bar Sharpe of each configuration over all S blocks
    selected   the configuration the sweep would pick (default: best full-sample Sharpe)

The returned dict is what the caller logs (`job.log_metrics`): `pbo`, `deflated_sharpe`, `n_trials`,
`effective_trials`, `deflated_sharpe_effective` (DSR with N_eff trials), plus diagnostics
(`pbo_degradation_slope`, `pbo_prob_oos_loss`, `dsr_sr0`, `dsr_assumed_normal`, ...).
"""

from __future__ import annotations

import numpy as np

from tradelab.robustness.cscv import (
    block_sums,
    comparison_set,
    equal_blocks,
    pbo_from_block_sums,
    top_k_rows,
)
from tradelab.robustness.deflated_sharpe import deflated_sharpe_ratio, return_moments
from tradelab.robustness.effective_trials import effective_trials
from tradelab.robustness.settings import DsrNull, RobustnessConfig

__all__ = ["sweep_statistics", "sweep_statistics_from_returns"]


def _sharpe_from_sums(ret_sum: np.ndarray, ret_sq: np.ndarray, block_n: np.ndarray) -> np.ndarray:
    n = float(block_n.sum())
    s = ret_sum.sum(axis=1)
    q = ret_sq.sum(axis=1)
    mean = s / n
    var = np.maximum((q - n * mean * mean) / max(n - 1.0, 1.0), 0.0)
    sd = np.sqrt(var)
    return np.divide(mean, sd, out=np.zeros_like(mean), where=sd > 0)


def sweep_statistics(
    block_ret_sum: np.ndarray,
    block_ret_sq: np.ndarray,
    block_n: np.ndarray,
    *,
    n_trials: int | None = None,
    selected: int | None = None,
    selected_returns: np.ndarray | None = None,
    trial_sharpes: np.ndarray | None = None,
    candidate_returns: np.ndarray | None = None,
    config: RobustnessConfig | None = None,
) -> dict[str, float]:
    """Return the research-validity metrics of a sweep's parent run.

    `n_trials`: configurations really evaluated (default: rows given). `selected`: row of the
    chosen configuration (default: best full-sample Sharpe). `selected_returns`: its per-bar
    returns, for the skewness and kurtosis of the DSR (without them a normal shape is assumed
    and `dsr_assumed_normal` = 1). `trial_sharpes`: per-bar Sharpes of every evaluated trial,
    for V[SR_n] (default: the rows'; on a top-K shortlist pass every trial's Sharpe, since
    the shortlist's spread understates V and inflates the DSR). `candidate_returns` (T, K):
    for the optional SPA test. Effective trials are clustered on the per-block mean returns.
    """
    return _statistics(
        block_ret_sum,
        block_ret_sq,
        block_n,
        n_trials=n_trials,
        selected=selected,
        selected_returns=selected_returns,
        trial_sharpes=trial_sharpes,
        candidate_returns=candidate_returns,
        config=config or RobustnessConfig(),
        series=None,
    )


def _statistics(
    block_ret_sum: np.ndarray,
    block_ret_sq: np.ndarray,
    block_n: np.ndarray,
    *,
    n_trials: int | None,
    selected: int | None,
    selected_returns: np.ndarray | None,
    trial_sharpes: np.ndarray | None,
    candidate_returns: np.ndarray | None,
    config: RobustnessConfig,
    series: np.ndarray | None,
) -> dict[str, float]:
    ret_sum = np.asarray(block_ret_sum, dtype=np.float64)
    ret_sq = np.asarray(block_ret_sq, dtype=np.float64)
    block_n = np.asarray(block_n, dtype=np.int64)
    if ret_sum.ndim != 2 or ret_sum.shape[0] < 2:
        raise ValueError(f"block_ret_sum must be (N >= 2, S); got shape {ret_sum.shape}")
    n_rows = ret_sum.shape[0]
    if n_trials is None:
        n_trials = n_rows
    if n_trials < n_rows:
        raise ValueError(f"n_trials ({n_trials}) is below the configurations given ({n_rows})")
    sharpe = _sharpe_from_sums(ret_sum, ret_sq, block_n)
    if selected is None:
        selected = int(top_k_rows(sharpe, 1)[0])
    if not 0 <= selected < n_rows:
        raise ValueError(f"selected must be a row index in [0, {n_rows}); got {selected}")

    # PBO and effective trials over at most max_configs rows: the selected one and a seeded
    # uniform sample of the others (never the best rows by Sharpe: see `comparison_set`)
    max_configs = config.max_configs
    rows = np.arange(n_rows)
    if n_rows > max_configs:
        rng = np.random.default_rng(config.seed)
        rows = comparison_set(selected, rows, max_configs, rng)
    pbo = pbo_from_block_sums(
        ret_sum[rows],
        ret_sq[rows],
        block_n,
        metric=config.metric.value,
        max_splits=config.max_splits,
        seed=config.seed,
    )
    if series is None:
        series = (ret_sum / block_n[None, :]).T
    clustered = rows
    if rows.size > config.max_cluster_configs:
        rng = np.random.default_rng(config.seed + 1)
        clustered = comparison_set(selected, rows, config.max_cluster_configs, rng)
    eff = effective_trials(
        series[:, clustered],
        min_correlation=config.min_correlation,
        max_configs=config.max_cluster_configs,
    )

    # deflated Sharpe of the selected configuration
    n_obs = int(block_n.sum())
    sr = float(sharpe[selected])
    skew, kurt, assumed_normal = 0.0, 3.0, 1.0
    if selected_returns is not None:
        sr, skew, kurt, n_obs = return_moments(selected_returns)
        assumed_normal = 0.0
    sharpes = sharpe if trial_sharpes is None else np.asarray(trial_sharpes, dtype=np.float64)
    sharpes = sharpes[np.isfinite(sharpes)]
    spread = float(np.var(sharpes, ddof=1)) if sharpes.size > 1 else 0.0
    # a skill-less trial's Sharpe estimate varies by 1 / (T - 1) (Lo 2002 at SR = 0), whatever
    # the spread of genuinely different configurations
    luck = 1.0 / max(n_obs - 1, 1)
    variance = luck if DsrNull(config.dsr_null) is DsrNull.estimator else spread
    dsr = deflated_sharpe_ratio(
        sr, n_obs, n_trials=n_trials, sr_variance=variance, skew=skew, kurtosis=kurt
    )
    dsr_eff = deflated_sharpe_ratio(
        sr,
        n_obs,
        n_trials=min(eff.n_effective, n_trials),
        sr_variance=variance,
        skew=skew,
        kurtosis=kurt,
    )
    estimator = DsrNull(config.dsr_null) is DsrNull.estimator
    other, other_name = (spread, "cross_section") if estimator else (luck, "estimator")
    dsr_other = deflated_sharpe_ratio(
        sr, n_obs, n_trials=n_trials, sr_variance=other, skew=skew, kurtosis=kurt
    )

    metrics: dict[str, float] = {
        "pbo": pbo.pbo,
        "deflated_sharpe": dsr.dsr,
        "n_trials": float(n_trials),
        "effective_trials": float(eff.n_effective),
        "deflated_sharpe_effective": dsr_eff.dsr,
        # the deflated Sharpe under the other null, for comparison
        f"deflated_sharpe_{other_name}": dsr_other.dsr,
        **{k: v for k, v in pbo.metrics().items() if k != "pbo"},
        **{k: v for k, v in dsr.metrics().items() if k != "deflated_sharpe"},
        "dsr_assumed_normal": assumed_normal,
        "effective_trials_capped": float(eff.capped or clustered.size < rows.size),
        "effective_trials_of": float(eff.n_clustered),
        "selected_row": float(selected),
    }
    if config.spa:
        if candidate_returns is None:
            raise ValueError("config.spa is true but no candidate_returns were given")
        from tradelab.robustness.spa import spa_pvalues

        metrics.update(
            spa_pvalues(
                candidate_returns,
                max_candidates=config.spa_max_candidates,
                reps=config.spa_reps,
                seed=config.seed,
            )
        )
    return metrics


def sweep_statistics_from_returns(
    returns: np.ndarray,
    *,
    n_trials: int | None = None,
    selected: int | None = None,
    config: RobustnessConfig | None = None,
) -> dict[str, float]:
    """Return the sweep metrics of a (T, N) matrix of per-period returns, one column per trial.

    The selected column's own skewness and kurtosis enter the DSR; effective trials come from
    the full return correlations; SPA (when enabled) tests the columns best first.
    """
    config = config or RobustnessConfig()
    x = np.asarray(returns, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] < 2:
        raise ValueError(f"returns must be (T, N >= 2); got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("returns must be finite")
    n_blocks = config.n_blocks
    ret_sum, ret_sq, block_n = block_sums(x, equal_blocks(x.shape[0], n_blocks), n_blocks)
    sharpe = _sharpe_from_sums(ret_sum, ret_sq, block_n)
    if selected is None:
        selected = int(top_k_rows(sharpe, 1)[0])
    order = top_k_rows(sharpe, x.shape[1])
    return _statistics(
        ret_sum,
        ret_sq,
        block_n,
        n_trials=n_trials,
        selected=selected,
        selected_returns=x[:, selected],
        trial_sharpes=None,
        candidate_returns=x[:, order],
        config=config,
        series=x,
    )
