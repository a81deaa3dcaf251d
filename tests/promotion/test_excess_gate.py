"""The residual Kalman study beside the market: its candidate logs buy-and-hold of the symbol
over the bars it can trade and its total return over that; `min_excess_return` judges it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tradelab.promotion import Gates
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_family_contract import BUILDERS, promote_case

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning"),
]
WARMUP = 60  # conf/study/kalman_residual.yaml


def test_residual_candidate_beside_buy_and_hold_and_the_gate(tmp_path: Path) -> None:
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    case = BUILDERS["kalman_residual"](tmp_path / "residual", tracker=tracker)
    m, close = case.candidate.metrics, case.frame["close"].to_numpy()
    assert m["benchmark_return"] == pytest.approx(close[-1] / close[WARMUP] - 1.0)
    assert m["excess_return"] == pytest.approx(m["total_return"] - m["benchmark_return"])

    def promote(gates: Gates):
        return promote_case(case, tracker, tmp_path, gates)

    refused = promote(Gates(min_excess_return=10.0))
    assert not refused.decision.promote
    reason = refused.decision.reason
    assert "excess_return = " in reason and "fails >= 10" in reason, reason
    assert promote(Gates(min_excess_return=-10.0)).decision.promote
