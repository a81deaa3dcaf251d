"""Objectives by name: a score per trial (NaN: excluded) and a ranking, best first.

Metrics are canonical columns: `total_return`, `sharpe`, `max_drawdown` (a fraction),
`win_rate`, `num_trades`.

- `composite` (seed 000): 0.6 total_return + 0.3 sharpe + 0.1 win_rate; excluded when
  num_trades < 3 or max_drawdown > 0.35.
- `sharpe`, `total_return`: the metric itself.
- `sharpe_then_dd` (seed 001): rank by Sharpe descending, then max drawdown ascending. As a
  single number for TPE it is sharpe - 1e-9 * max_drawdown; rankings use the exact order.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from tradelab.strategies.settings import ObjectiveName

__all__ = ["OBJECTIVES", "check_objective", "objective_scores", "rank_trials"]

OBJECTIVES: tuple[str, ...] = tuple(o.value for o in ObjectiveName)
_TIE_BREAK = 1e-9


def check_objective(name: str) -> str:
    """Return `name` if it is a known objective, else raise ValueError naming the choices."""
    name = str(getattr(name, "value", name))
    if name not in OBJECTIVES:
        raise ValueError(f"objective: unknown {name!r}; use one of {', '.join(OBJECTIVES)}")
    return name


def _column(metrics: Mapping[str, object], key: str) -> np.ndarray:
    try:
        return np.asarray(metrics[key], dtype=np.float64)
    except KeyError:
        raise ValueError(f"objective needs the metric '{key}'") from None


def objective_scores(name: str, metrics: Mapping[str, object]) -> np.ndarray:
    """Return one score per trial, higher is better; NaN marks an excluded trial."""
    name = check_objective(name)
    if name == "composite":
        ret = _column(metrics, "total_return")
        score = 0.6 * ret + 0.3 * _column(metrics, "sharpe") + 0.1 * _column(metrics, "win_rate")
        excluded = (_column(metrics, "num_trades") < 3) | (_column(metrics, "max_drawdown") > 0.35)
        return np.where(excluded, np.nan, score)
    if name == "sharpe_then_dd":
        return _column(metrics, "sharpe") - _TIE_BREAK * _column(metrics, "max_drawdown")
    return _column(metrics, name).copy()


def rank_trials(name: str, metrics: Mapping[str, object]) -> np.ndarray:
    """Return trial indices best first (stable; excluded and NaN trials last)."""
    name = check_objective(name)
    if name == "sharpe_then_dd":
        sharpe = _column(metrics, "sharpe")
        dd = _column(metrics, "max_drawdown")
        return np.lexsort((dd, -sharpe))
    return np.argsort(-objective_scores(name, metrics), kind="stable")
