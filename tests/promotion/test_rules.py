from __future__ import annotations

import math

import pytest

from tradelab.promotion import Candidate, Champion, Gates, Objective, Verdict, decide, pick_best

MAX = Objective("score")
NAMES = {"trades": "num_trades", "drawdown": "max_drawdown"}


def cand(run: str, **metrics: float) -> Candidate:
    return Candidate(run, "SMH", metrics)


def test_first_candidate_becomes_champion() -> None:
    d = decide(cand("r1", score=1.0), None, MAX, Gates())
    assert d.verdict is Verdict.promote and "first champion" in d.reason


def test_better_by_margin_promotes_worse_or_equal_refuses() -> None:
    champ = Champion("3", "r0", {"score": 2.0})
    assert decide(cand("r1", score=2.3), champ, MAX, Gates(), margin=0.1).promote
    refused = decide(cand("r2", score=2.1), champ, MAX, Gates(), margin=0.1)
    assert (
        refused.verdict is Verdict.refuse
        and "not better" in refused.reason
        and "2.2" in refused.reason
    )
    assert not decide(cand("r3", score=2.0), champ, MAX, Gates()).promote
    assert decide(cand("r4", score=2.05), champ, MAX, Gates(), margin=0.04, relative=False).promote


def test_minimised_objective() -> None:
    mae = Objective("pct_return_mae", maximize=False)
    champ = Champion("1", "r0", {"pct_return_mae": 0.010})
    assert decide(cand("r1", pct_return_mae=0.009), champ, mae, Gates()).promote
    assert not decide(cand("r2", pct_return_mae=0.011), champ, mae, Gates()).promote


def test_same_run_is_kept() -> None:
    d = decide(cand("r0", score=9.0), Champion("1", "r0", {"score": 1.0}), MAX, Gates())
    assert d.verdict is Verdict.keep


@pytest.mark.parametrize(
    ("gates", "metrics", "failing"),
    [
        (Gates(min_trades=10), {"num_trades": 4}, "min_trades"),
        (Gates(max_drawdown=0.3), {"max_drawdown": 0.4}, "max_drawdown"),
        (Gates(min_phases_valid=3), {"phases_valid": 2}, "min_phases_valid"),
        (Gates(max_pbo=0.5), {"validity/pbo": 0.7}, "max_pbo"),
        (
            Gates(min_deflated_sharpe=0.95),
            {"validity/deflated_sharpe": 0.6},
            "min_deflated_sharpe",
        ),
        (Gates(max_dm_pvalue=0.05), {"dm_pvalue": 0.4}, "max_dm_pvalue"),
        (Gates(min_excess_return=0.0), {"excess_return": -0.1}, "min_excess_return"),
    ],
)
def test_each_gate_refuses_with_its_reason(gates, metrics, failing) -> None:
    candidate = Candidate("r1", "SMH", {"score": 5.0, **metrics})
    d = decide(candidate, None, MAX, gates, metric_names=NAMES)
    assert d.verdict is Verdict.refuse
    assert [c.name for c in d.checks if not c.passed] == [failing]
    assert "gate failed" in d.reason


def test_missing_overfitting_stats_skip_unless_required() -> None:
    gates = Gates(max_pbo=0.5, min_deflated_sharpe=0.95)
    assert decide(cand("r1", score=1.0), None, MAX, gates).promote
    strict = Gates(max_pbo=0.5, min_deflated_sharpe=0.95, require_overfitting_stats=True)
    d = decide(cand("r1", score=1.0), None, MAX, strict)
    assert not d.promote and "validity/pbo not logged" in d.reason


def test_pick_best_with_tie_breaker_and_nan() -> None:
    obj = Objective("sharpe", then=(("max_dd_pct", False),))
    cands = [
        cand("a", sharpe=1.0, max_dd_pct=5.0),
        cand("b", sharpe=1.0, max_dd_pct=3.0),
        cand("c", sharpe=math.nan),
        cand("d", sharpe=0.5),
    ]
    assert pick_best(cands, obj).run_id == "b"
    assert pick_best([cand("c", sharpe=math.nan)], obj) is None
    assert decide(None, None, obj, Gates()).verdict is Verdict.refuse
