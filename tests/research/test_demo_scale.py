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
