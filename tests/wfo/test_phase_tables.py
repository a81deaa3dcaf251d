"""What a WFO sweep keeps and logs of its per-phase tables: below `phase_table_max_rows` every
metric, the whole table logged as Parquet, streamed in row groups from the cache's memory maps;
above it only the scoring metrics in the cache (the others re-simulated for the candidates) and
a manifest of the cache (path, sizes, content identity) logged instead of a copy of it."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import tradelab.jobs.wfo as wfo_job
from tradelab.jobs.wfo import WfoJobConfig, run_sweep
from tradelab.kernels.enums import METRIC_NAMES
from tradelab.tracking import MemoryTracker
from tradelab.wfo.phase_metrics import SCORING_METRICS
from tradelab.wfo.scoring import score_phases
from tradelab.wfo.settings import GateConfig, ScoringConfig

from .conftest import make_bars, small_spec
from .test_runner import GRID, PHASES  # the same small sweep


def _sweep(tmp_path: Path, bars=None, **settings) -> tuple[MemoryTracker, str, object]:
    tracker = MemoryTracker()
    config = WfoJobConfig(
        grid_name="t",
        results_dir=str(tmp_path),
        progress=False,
        **{"scoring": ScoringConfig(min_phases=2), **settings},  # two phases here
    )
    with tracker.start_job("wfo/TEST", "sweep") as job:
        outcome = run_sweep(
            make_bars(400, seed=7) if bars is None else bars,
            small_spec("atr_d_l"),
            GRID,
            PHASES,
            config,
            target="TEST",
            job=job,
        )
    return tracker, job.run_id, outcome


def _phase_run(tracker: MemoryTracker, parent: str, k: int):
    (run,) = [r for r in tracker.find_runs("wfo/TEST", parent=parent) if r.name == f"phase {k}"]
    return run


def test_small_tables_are_logged_whole_in_row_groups(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(wfo_job, "PHASE_TABLE_ROW_GROUP", 7)  # several row groups
    tracker, parent, outcome = _sweep(tmp_path)
    for k in (1, 2):
        run = _phase_run(tracker, parent, k)
        assert tracker.list_artifacts(run.run_id) == [f"phases/phase{k}.parquet"]
        raw = tracker._runs[run.run_id].artifacts[f"phases/phase{k}.parquet"]
        parquet = pq.ParquetFile(io.BytesIO(raw))
        assert parquet.metadata.num_row_groups == -(-GRID.size // 7)
        table = parquet.read().to_pandas()
        assert list(table.columns) == ["combo", *METRIC_NAMES]
        np.testing.assert_array_equal(table["combo"], np.arange(GRID.size))
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(table[name], outcome.phase_metrics[k - 1][name])


def test_large_tables_are_a_manifest_of_the_cache(tmp_path: Path) -> None:
    tracker, parent, _ = _sweep(tmp_path, phase_table_max_rows=GRID.size - 1)
    run = _phase_run(tracker, parent, 1)
    assert tracker.list_artifacts(run.run_id) == ["phases/phase1.manifest.json"]
    manifest = tracker.load_dict(run.run_id, "phases/phase1.manifest.json")
    folder = Path(manifest["cache_dir"])
    assert folder.is_dir() and folder.name == "phase1"
    assert manifest["rows"] == GRID.size and manifest["complete"] is True
    sizes = {f["name"]: f["bytes"] for f in manifest["files"]}
    assert sizes == {p.name: p.stat().st_size for p in folder.glob("*.npy")}
    assert set(sizes) == {f"{name}.npy" for name in SCORING_METRICS}  # float64: 8 bytes each
    header = 128  # an .npy header
    assert sum(sizes.values()) == len(SCORING_METRICS) * (8 * GRID.size + header)
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert manifest["key"] == on_disk["key"] and len(manifest["content_id"]) == 64
    # the same inputs, the same identity: a second sweep into another folder agrees
    other, parent2, _ = _sweep(tmp_path / "again", phase_table_max_rows=GRID.size - 1)
    again = other.load_dict(_phase_run(other, parent2, 1).run_id, "phases/phase1.manifest.json")
    assert again["content_id"] == manifest["content_id"]
    assert pd.Series([m["bytes"] for m in manifest["files"]]).sum() == manifest["bytes"]


def test_a_large_sweep_scores_and_reports_exactly_as_a_small_one(tmp_path: Path) -> None:
    """The compact cache changes no number users see: the candidates table (every metric
    mean over the phases) and the promotion candidates' metrics are bit for bit those of a
    cache of every metric, and the compact cache is 32 bytes per combination per phase."""
    loose = ScoringConfig(
        min_phases=1,
        relaxed_min_phases=1,
        gates=GateConfig(min_wfe=-1e9, max_oos_dd_to_pnl=1e9, max_oos_dd_to_is_dd=1e9),
    )
    bars = make_bars(400, seed=3, drift=0.001)  # most combinations profitable
    _, _, full = _sweep(tmp_path / "full", bars, scoring=loose)
    _, _, compact = _sweep(
        tmp_path / "compact", bars, scoring=loose, phase_table_max_rows=GRID.size - 1
    )
    assert set(full.phase_metrics[0].stored) == set(METRIC_NAMES)
    assert compact.phase_metrics[0].stored == SCORING_METRICS
    assert len(full.report.candidates) > 5
    pd.testing.assert_frame_equal(compact.report.candidates, full.report.candidates)
    assert compact.candidates == full.candidates
    mask = np.arange(GRID.size) % 3 == 0
    for got, want in zip(compact.phase_metrics, full.phase_metrics, strict=True):
        rows = np.arange(GRID.size)
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(got[name][rows], want[name])
            np.testing.assert_array_equal(got[name][mask], np.asarray(want[name])[mask])
            np.testing.assert_array_equal(got[name][5:9], np.asarray(want[name])[5:9])
            assert got[name][7] == want[name][7]
    folder = Path(tmp_path / "compact")
    npy = [p for p in folder.rglob("phase1/*.npy")]
    assert sum(p.stat().st_size - 128 for p in npy) == 32 * GRID.size


def test_ranking_by_a_metric_the_compact_cache_lacks_says_how_to_store_it(tmp_path: Path) -> None:
    """A large sweep stores its rank metric; a rescore that ranks by another metric the cache
    does not store is refused with a typed error naming the metric and the fix."""
    from tradelab.errors import DataError
    from tradelab.wfo.runner import load_cached_phases

    big = {"phase_table_max_rows": GRID.size - 1}
    by_sharpe = ScoringConfig(min_phases=2, rank_metric="oos_sharpe")
    _, _, outcome = _sweep(tmp_path, scoring=by_sharpe, **big)
    assert set(outcome.phase_metrics[0].stored) == {*SCORING_METRICS, "oos_sharpe"}
    _sweep(tmp_path / "pnl", **big)  # ranked by OOS PnL: the scoring metrics only
    (folder,) = (tmp_path / "pnl" / "TEST" / "wfo" / "atr_d_l").iterdir()
    phases = load_cached_phases(folder, make_bars(400, seed=7), small_spec("atr_d_l"), GRID, PHASES)
    assert set(phases[0].stored) == set(SCORING_METRICS)
    with pytest.raises(DataError, match=r"oos_sortino is not stored.*phase_table_max_rows"):
        score_phases(phases, config=ScoringConfig(min_phases=2, rank_metric="oos_sortino"))


def test_timings_are_diagnostics_apart_from_the_results(tmp_path: Path) -> None:
    """MLflow's UI groups metrics by their `/` prefix: the sweep's and each phase's timings
    sit under `diagnostics/`, not among the research numbers."""
    tracker, parent, _ = _sweep(tmp_path)
    for run in (tracker.get_run(parent), _phase_run(tracker, parent, 1)):
        timings = {k for k in run.metrics if "wall_s" in k or "per_s" in k}
        assert timings and all(k.startswith("diagnostics/") for k in timings), timings
    assert "diagnostics/bar_evals_per_s" in _phase_run(tracker, parent, 2).metrics
