"""Research-validity statistics: PBO by CSCV, deflated Sharpe, effective trials, SPA,
Diebold-Mariano."""

from __future__ import annotations

from tradelab.robustness.cscv import (
    PboResult,
    block_sums,
    comparison_set,
    equal_blocks,
    pbo_from_block_sums,
    pbo_from_returns,
    top_k_rows,
)
from tradelab.robustness.deflated_sharpe import (
    DeflatedSharpe,
    deflated_sharpe_from_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
    return_moments,
)
from tradelab.robustness.diebold_mariano import DieboldMariano, diebold_mariano
from tradelab.robustness.effective_trials import EffectiveTrials, effective_trials
from tradelab.robustness.spa import spa_pvalues
from tradelab.robustness.summary import sweep_statistics, sweep_statistics_from_returns

__all__ = [
    "DeflatedSharpe",
    "DieboldMariano",
    "EffectiveTrials",
    "PboResult",
    "block_sums",
    "comparison_set",
    "deflated_sharpe_from_returns",
    "deflated_sharpe_ratio",
    "diebold_mariano",
    "effective_trials",
    "equal_blocks",
    "expected_max_sharpe",
    "pbo_from_block_sums",
    "pbo_from_returns",
    "probabilistic_sharpe_ratio",
    "return_moments",
    "spa_pvalues",
    "sweep_statistics",
    "sweep_statistics_from_returns",
    "top_k_rows",
]
