"""Plateau detection: planted plateaus are recovered, noise gives none (with a message)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import DataError
from tradelab.reports.wfo_results import log_plateaus
from tradelab.robustness.synthetic import planted_phase_results
from tradelab.search.grid import Grid
from tradelab.tracking import MemoryTracker
from tradelab.wfo.plateaus import detect_plateaus, regime_of
from tradelab.wfo.scoring import candidates_table, score_phases
from tradelab.wfo.settings import PlateauConfig

GRID = Grid.from_config(
    {
        "atr_period": [10, 14, 20, 30],
        "atr_multiplier": {"min": 1, "max": 20, "step": 1},
        "atr_buy_multiplier": {"min": 0.5, "max": 5.0, "step": 0.25},
        "bb_dev": [1.5, 2.0, 2.5, 3.0, 3.5],
        "bb_scaling": [0, 1, 2],
    }
)
TIGHT = {"atr_multiplier": (3, 5), "atr_buy_multiplier": (1.0, 1.75)}
WIDE = {"atr_multiplier": (13, 16), "atr_buy_multiplier": (3.5, 4.25)}


def _cells(region: dict) -> set[tuple[float, float]]:
    (x0, x1), (y0, y1) = region["atr_multiplier"], region["atr_buy_multiplier"]
    xs = [x for x in GRID.levels[1] if x0 <= x <= x1]
    ys = [y for y in GRID.levels[2] if y0 <= y <= y1]
    return {(x, y) for x in xs for y in ys}


def _candidates(regions: list[dict], seed: int) -> pd.DataFrame:
    phases = planted_phase_results(GRID, regions, seed=seed)
    return candidates_table(score_phases(phases), phases, GRID)


@pytest.fixture(scope="module")
def planted() -> pd.DataFrame:
    return _candidates([TIGHT, WIDE], seed=51)


def test_planted_plateaus_are_recovered(planted: pd.DataFrame) -> None:
    result = detect_plateaus(planted, grid=GRID)
    assert len(result.plateaus) == 2, result.message
    by_regime = {p.regime: p for p in result.plateaus}
    assert set(by_regime) == {"TIGHT", "WIDE"}
    for regime, region in (("TIGHT", TIGHT), ("WIDE", WIDE)):
        plateau = by_regime[regime]
        got = set(zip(plateau.cells["x"], plateau.cells["y"]))
        assert got == _cells(region)
        assert plateau.n_combos == int(plateau.cells["count"].sum())
    assert [p.rank for p in result.plateaus] == [1, 2]
    assert result.plateaus[0].median_score >= result.plateaus[1].median_score
    assert result.eps is not None and "2 plateau(s)" in result.message
    assert result.search["admissible"].any()


def test_plateau_table_states_returns_beside_the_benchmark() -> None:
    """With the phases' buy-and-hold returns, every plateau row carries the median OOS return
    of its combinations, the benchmark and the median excess return; the plateau runs too."""
    phases = planted_phase_results(GRID, [TIGHT, WIDE], seed=51)
    held, capital = [0.05, -0.02, 0.10, 0.01], 100_000.0
    table = candidates_table(score_phases(phases), phases, GRID, benchmarks=held, capital=capital)
    result = detect_plateaus(table, grid=GRID)
    assert len(result.plateaus) == 2
    rows = result.table()
    for plateau, (_, row) in zip(result.plateaus, rows.iterrows(), strict=True):
        members = table[
            table.set_index(["atr_multiplier", "atr_buy_multiplier"]).index.isin(
                list(zip(plateau.cells["x"], plateau.cells["y"]))
            )
        ]
        returns = np.mean(
            [members[f"oos_pnl_p{k}"] / (capital + members[f"is_pnl_p{k}"]) for k in range(1, 5)],
            axis=0,
        )
        assert row["median_oos_return"] == pytest.approx(np.median(returns))
        assert row["benchmark_return"] == pytest.approx(np.mean(held))
        assert row["median_excess_return"] == pytest.approx(np.median(returns) - np.mean(held))
    tracker = MemoryTracker()
    with tracker.start_job("wfo/T", "sweep") as job:
        ids = log_plateaus(job, result, strategy="atr_d_l")
    for child in map(tracker.get, ids):
        assert {"median_excess_return", "benchmark_return"} <= set(child.metrics)
        assert "median_benchmark_return" not in child.metrics


def test_benchmarks_must_match_the_phases() -> None:
    phases = planted_phase_results(GRID, [TIGHT], seed=3)
    with pytest.raises(ValueError, match="3 benchmarks for 4 phases"):
        candidates_table(score_phases(phases), phases, GRID, benchmarks=[0.1] * 3, capital=1e5)


def test_top_fraction_bounds_and_medians(planted: pd.DataFrame) -> None:
    result = detect_plateaus(planted, grid=GRID, config=PlateauConfig(top_fraction=0.2))
    for plateau in result.plateaus:
        assert len(plateau.top) == math.ceil(0.2 * plateau.n_combos)
        scores = plateau.top["score"].to_numpy()
        assert np.all(np.diff(scores) <= 0)
        members = planted[
            planted.set_index(["atr_multiplier", "atr_buy_multiplier"]).index.isin(
                list(zip(plateau.cells["x"], plateau.cells["y"]))
            )
        ]
        assert scores[0] == members["score"].max() == plateau.best_score
        for name in GRID.names:
            lo, hi = plateau.bounds[name]
            assert lo == plateau.top[name].min() and hi == plateau.top[name].max()
            assert plateau.medians[name] in set(plateau.top[name])
            assert plateau.best[name] == plateau.top[name].iloc[0]
    table = result.table()
    assert {"rank", "regime", "atr_multiplier_min", "bb_dev_median"} <= set(table.columns)


def test_noise_only_gives_no_plateau_and_a_message() -> None:
    result = detect_plateaus(_candidates([], seed=52), grid=GRID)
    assert result.plateaus == []
    assert result.message.startswith("no plateau")
    assert ">= 50" in result.message
    assert result.table().empty


def test_dense_but_isolated_cells_form_no_plateau() -> None:
    rng = np.random.default_rng(53)
    cells = [(1.0, 0.5), (10.0, 3.0), (20.0, 5.0)]
    rows = [
        {"atr_multiplier": x, "atr_buy_multiplier": y, "score": s}
        for x, y in cells
        for s in rng.uniform(50, 100, 60)
    ]
    result = detect_plateaus(pd.DataFrame(rows), grid=GRID, params=[])
    assert result.plateaus == []
    assert "form no cluster" in result.message
    assert (result.cells["label"] == -1).all()


def test_empty_candidates_and_missing_columns() -> None:
    empty = pd.DataFrame({"atr_multiplier": [], "atr_buy_multiplier": [], "score": []})
    result = detect_plateaus(empty)
    assert result.plateaus == [] and "no stable candidates" in result.message
    with pytest.raises(DataError, match="atr_buy_multiplier"):
        detect_plateaus(pd.DataFrame({"atr_multiplier": [1.0], "score": [1.0]}))
    with pytest.raises(DataError, match="bb_dev"):
        detect_plateaus(empty, params=["bb_dev"])


@pytest.mark.parametrize(
    ("mult", "regime"),
    [(1.0, "TIGHT"), (4.99, "TIGHT"), (5.0, "MEDIUM"), (12.0, "MEDIUM"), (12.5, "WIDE")],
)
def test_regime_boundaries(mult: float, regime: str) -> None:
    assert regime_of(mult) == regime


def test_plateaus_become_child_runs(planted: pd.DataFrame) -> None:
    tracker = MemoryTracker()
    result = detect_plateaus(planted, grid=GRID)
    with tracker.start_job("wfo/SMH", "atr_d_l") as job:
        ids = log_plateaus(job, result, strategy="atr_d_l")
    children = [tracker.get(i) for i in ids]
    assert [c.name for c in children] == ["plateau 1", "plateau 2"]
    for child, plateau in zip(children, result.plateaus):
        assert child.parent_id == job.run_id
        assert child.tags["regime"] == plateau.regime
        assert child.params["regime"] == plateau.regime
        assert float(child.params["atr_multiplier_min"]) == plateau.bounds["atr_multiplier"][0]
        assert child.metrics["n_combos"] == plateau.n_combos
        assert child.metrics["stability_score"] == pytest.approx(plateau.best_score)


def _seed_scale_candidates(seed: int) -> pd.DataFrame:
    """Every (x, y) cell dense (80 stable combinations each), scores peaking around x = 5-7,
    y = 1.5-2.0 and falling off with distance: the seed's scale, where density says nothing."""
    rng = np.random.default_rng(seed)
    rows = []
    for x in GRID.levels[1]:
        for y in GRID.levels[2]:
            centre = 60.0 - 4.0 * abs(x - 6.0) - 12.0 * abs(y - 1.75)
            for s in rng.normal(centre, 5.0, 80):
                rows.append({"atr_multiplier": x, "atr_buy_multiplier": y, "score": s})
    frame = pd.DataFrame(rows).sort_values("score", ascending=False, kind="stable")
    return frame.reset_index(drop=True)


def test_plateaus_narrow_to_high_scores_when_every_cell_is_dense() -> None:
    candidates = _seed_scale_candidates(seed=54)
    n_plane = len(GRID.levels[1]) * len(GRID.levels[2])
    axes = ["atr_multiplier", "atr_buy_multiplier"]
    seed_rule = detect_plateaus(
        candidates, grid=GRID, params=axes, config=PlateauConfig(max_cell_share=1.0)
    )
    assert [p.n_cells for p in seed_rule.plateaus] == [n_plane]  # the seed: one plateau, everywhere

    result = detect_plateaus(candidates, grid=GRID, params=axes)
    assert result.plateaus, result.message
    top = result.plateaus[0]
    assert top.n_cells <= 0.25 * n_plane
    assert "highest median score" in result.message
    assert (6.0, 1.75) in set(zip(top.cells["x"], top.cells["y"]))  # on the peak
    assert top.cells["x"].max() <= 12 and top.cells["y"].max() <= 4.0  # of x 1-20, y 0.5-5
    seed_top = seed_rule.plateaus[0]
    for name in axes:  # refinement ranges no wider than the seed rule's
        lo, hi = top.bounds[name]
        assert hi - lo <= seed_top.bounds[name][1] - seed_top.bounds[name][0]
    assert top.best_score == candidates["score"].max()
    assert (result.cells["label"] == -3).sum() == n_plane - (result.cells["label"] >= -1).sum()


def test_a_grid_that_does_not_search_an_axis_has_no_plateau() -> None:
    grid = Grid.from_config({"atr_multiplier": [4.0]})  # a one-combination re-run
    frame = pd.DataFrame({"atr_multiplier": [4.0], "score": [130.0]})
    result = detect_plateaus(frame, grid=grid)
    assert result.plateaus == [] and "does not search atr_buy_multiplier" in result.message
