"""A real forecast sweep of the baselines: by default promotion says no model beats the random
walk; with `allow_baselines` the Diebold-Mariano gate still refuses a baseline that does not
forecast returns better than the random walk, and without the gate it is registered."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tradelab.promotion import Gates
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_family_contract import BUILDERS, promote_case

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning"),
]


def test_dm_gate_refuses_a_forecast_that_does_not_beat_the_random_walk(tmp_path: Path) -> None:
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    case = BUILDERS["forecast"](tmp_path / "forecast", tracker=tracker)
    pvalue = case.candidate.metrics["dm_pvalue_vs_zero"]
    assert 0.0 <= pvalue <= 1.0 and not math.isnan(pvalue)
    assert pvalue > 0.05, "a baseline on a random walk should not beat the random walk"

    def promote(gates: Gates, allow_baselines: bool = True):
        return promote_case(case, tracker, tmp_path, gates, allow_baselines=allow_baselines)

    default = promote(Gates(), allow_baselines=False)
    assert not default.decision.promote
    assert default.decision.reason.startswith("no model beats the random walk: only baselines")

    refused = promote(Gates(max_dm_pvalue=0.05))
    assert not refused.decision.promote
    assert "does not beat the random walk" in refused.decision.reason
    assert "dm_pvalue_vs_zero" in refused.decision.reason
    assert refused.champion is None
    assert promote(Gates()).decision.promote  # the gate, not something else, refused it
    version = tracker.client.get_model_version("tradelab.forecast.SPY", "1")
    assert version.tags["baseline"] == case.candidate.params["model"]
