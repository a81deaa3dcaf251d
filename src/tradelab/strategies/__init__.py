"""Kalman strategies: residual mean reversion (seed 000) and pairs trading (seed 001)."""

from __future__ import annotations

from tradelab.strategies._logging import log_frame, log_trials
from tradelab.strategies.bars import aggregate_bars, bars_per_year, filter_universe
from tradelab.strategies.cointegration import SCREEN_COLUMNS, screen_pairs, select_pairs
from tradelab.strategies.objectives import OBJECTIVES, objective_scores, rank_trials
from tradelab.strategies.pairs import PairData, backtest_pair, evaluate_pairs
from tradelab.strategies.pairs_study import (
    PairsStudyResult,
    choose_pair,
    save_pairs_study,
    tune_best_pair,
    tune_pairs,
)
from tradelab.strategies.residual import ResidualSettings, backtest_residual, evaluate_residual
from tradelab.strategies.residual_study import (
    ResidualStudyResult,
    save_residual_study,
    tune_residual,
)
from tradelab.strategies.search import run_search

__all__ = [
    "OBJECTIVES",
    "SCREEN_COLUMNS",
    "PairData",
    "PairsStudyResult",
    "ResidualSettings",
    "ResidualStudyResult",
    "aggregate_bars",
    "backtest_pair",
    "backtest_residual",
    "bars_per_year",
    "choose_pair",
    "evaluate_pairs",
    "evaluate_residual",
    "filter_universe",
    "log_frame",
    "log_trials",
    "objective_scores",
    "rank_trials",
    "run_search",
    "save_pairs_study",
    "save_residual_study",
    "screen_pairs",
    "select_pairs",
    "tune_best_pair",
    "tune_pairs",
    "tune_residual",
]
