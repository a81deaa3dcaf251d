"""The gates at the demo's scale, through the real CLI: `tradelab-wfo grid=demo` (117,936
combinations of atr_d_l) over the seed's four phases on 16 years of daily bars, then
`tradelab-promote`. A planted edge is promoted; a market of driftless random walks is not."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.apps.test_cli import ingest_daily, run_app

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(("mode", "verdict"), [("planted", "promote"), ("null", "refuse")])
def test_demo_grid_promotes_a_planted_edge_and_refuses_luck(
    mode: str, verdict: str, tmp_path: Path
) -> None:
    ingest_daily(tmp_path, f"data.mode={mode}")
    sweep = ("symbol=SMH", "strategy=atr_d_l", "grid=demo", "progress=false")
    wfo = run_app("wfo", *sweep, cwd=tmp_path)
    assert wfo.returncode == 0, wfo.stderr[-3000:]
    promo = run_app("promote", "family=wfo", "target=SMH", cwd=tmp_path)
    assert promo.returncode == 0, promo.stderr[-3000:]
    decision = json.loads((tmp_path / "production/decisions/wfo.json").read_text())["SMH"]
    assert decision["verdict"] == verdict, decision["reason"]
    if verdict == "refuse":
        assert "deflated_sharpe" in decision["reason"] or "pbo" in decision["reason"]


def test_plateaus_sit_on_the_planted_region_and_narrow_the_refinement() -> None:
    """Planted SMH, `demo` grid (117,936 combinations): more than half of the 91 (atr_multiplier,
    atr_buy_multiplier) cells hold >= 50 stable combinations, so the seed's count filter alone
    clusters them all; the plateaus keep the cells of highest median score instead. The best
    combination of each plateau trails its stop inside the planted 2-7 ATR region (median
    distance over its positions: the demo grid's stop cap and squeeze tightening shorten the
    nominal multiplier), and its TradeStation refinement grid contains that combination."""
    import numpy as np

    from tests.research.known_answer import load_conf, run_known_answer
    from tradelab.reports.tradestation import refinement_ranges

    result = run_known_answer("planted", 1, "SMH", grid="demo", phases="compact")
    assert result.plateaus is not None and result.spec is not None and result.region
    cells = result.plateaus.cells
    plane = 13 * 7  # the demo grid's atr_multiplier (2-20) x atr_buy_multiplier (0-3) levels
    assert (cells["count"] >= 50).sum() > plane / 2  # density alone would keep most of the grid
    lo, hi = result.region
    parameters = load_conf("strategy", "atr_d_l")["params"]
    for plateau in result.plateaus.plateaus:
        assert plateau.n_cells <= 0.25 * plane
        assert lo <= result.median_stop(plateau.best) <= hi
        ranges = refinement_ranges(plateau, parameters).set_index("parameter")
        for name, value in plateau.best.items():
            row = ranges.loc[name]
            steps = (value - row["start"]) / row["step"] if row["optimize"] else 0.0
            assert row["start"] <= value <= row["stop"] and steps == np.round(steps), name
    first = result.plateaus.plateaus[0]
    width = first.bounds["atr_multiplier"][1] - first.bounds["atr_multiplier"][0]
    assert width <= 12.0  # the grid spans 2-20


def test_power_and_size_at_the_demo_scale() -> None:
    """The known-answer figures, reduced for CI: the `demo` grid (117,936 combinations, compact
    phases) on 3 planted and 8 null markets, with the shipped costs and gates. A change that
    costs power (a planted edge refused, or found off its region) or size (a null market
    promoted) fails here; `python -m tests.research.known_answer` runs the full set."""
    from tests.research.known_answer import run_known_answer

    planted = [
        run_known_answer("planted", seed, symbol, grid="demo")
        for seed, symbol in ((1, "SMH"), (2, "QQQ"), (3, "SMH"))
    ]
    assert all(r.promoted for r in planted), [r.line() for r in planted]
    assert sum(r.in_region for r in planted) >= 2, [r.line() for r in planted]
    null = [
        run_known_answer("null", seed, symbol, grid="demo")
        for seed in range(1, 5)
        for symbol in ("SMH", "QQQ")
    ]
    assert not any(r.promoted for r in null), [r.line() for r in null if r.promoted]
