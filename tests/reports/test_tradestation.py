"""TradeStation exports and the WFO results pipeline: CSVs parse and contain the best combo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError, DataError, InvalidSymbolError
from tradelab.reports.tradestation import (
    CONFIG_COLUMNS,
    refinement_ranges,
    write_refinement_exports,
)
from tradelab.reports.wfo_results import process_wfo_results
from tradelab.robustness.synthetic import planted_phase_results
from tradelab.search.grid import Grid
from tradelab.tracking import MemoryTracker
from tradelab.wfo.plateaus import Plateau

GRID = Grid.from_config(
    {
        "atr_period": [10, 14, 20],
        "atr_multiplier": {"min": 1, "max": 16, "step": 1},
        "atr_buy_multiplier": {"min": 0.5, "max": 4.5, "step": 0.5},
        "bb_dev": [1.5, 2.0, 2.5, 3.0],
        "bb_scaling": [0, 1, 2],
        "entry_mode": [0, 1],
    }
)
PARAMETERS = {
    "atr_period": {"tier": 1, "ts_input": "ATRPeriod"},
    "atr_multiplier": {"tier": 1, "ts_input": "ATRMult"},
    "atr_buy_multiplier": {"tier": 1, "ts_input": "BuyMult"},
    "bb_dev": {"tier": 1, "ts_input": "BBDev"},
    "bb_scaling": {"tier": 3, "ts_input": "BBScaling"},
    "entry_mode": {"tier": 2, "ts_input": "EntryMode"},
    "commission_note": {"tier": 3, "ts_input": "MaxBarsBack", "default": 100},
}
SWEEP = Path("phase5_refine") / "phase1_slim-default"
REGIONS = [
    {"atr_multiplier": (2, 4), "atr_buy_multiplier": (1.0, 2.0)},
    {"atr_multiplier": (7, 9), "atr_buy_multiplier": (3.0, 4.0)},
]


@pytest.fixture(scope="module")
def phases() -> list[dict[str, np.ndarray]]:
    return planted_phase_results(GRID, REGIONS, seed=61)


def _run(phases, root: Path, job=None, **kw):
    args = {
        "symbol": "SMH",
        "strategy": "atr_d_l",
        "grid_name": "phase1_slim",
        "phases_name": "default",
        "ts_name": "ATR-D-v1.5-L",
        "parameters": PARAMETERS,
        "results_root": root,
        "job": job,
    }
    args.update(kw)
    return process_wfo_results(phases, GRID, **args)


def test_exports_parse_and_contain_the_best_combination(phases, tmp_path: Path) -> None:
    report = _run(phases, tmp_path)
    out = tmp_path / "SMH"
    assert len(report.plateaus.plateaus) == 2
    for plateau in report.plateaus.plateaus:
        path = out / SWEEP / f"phase5_refine_ATR-D-v1.5-L_rank{plateau.rank}.csv"
        ranges = pd.read_csv(path)
        assert list(ranges.columns) == [
            "ts_input",
            "parameter",
            "tier",
            "optimize",
            "start",
            "stop",
            "step",
            "count",
            "median",
            "best",
        ]
        rows = ranges.set_index("parameter")
        best_combo = plateau.top.iloc[0]
        for name in GRID.names:
            row = rows.loc[name]
            if row["tier"] == 1:
                assert bool(row["optimize"])
                assert row["start"] <= best_combo[name] <= row["stop"]
                assert row["step"] > 0
                assert row["count"] == round((row["stop"] - row["start"]) / row["step"]) + 1
                steps = (best_combo[name] - row["start"]) / row["step"]
                assert steps == pytest.approx(round(steps))  # the optimizer tries the best value
            else:  # fixed at the best combination's value, so the exported grid contains it
                assert not bool(row["optimize"])
                assert row["start"] == row["stop"] == best_combo[name]
                assert row["median"] == plateau.medians[name]
                assert row["count"] == 1
            assert row["best"] == best_combo[name]
        assert rows.loc["commission_note", "start"] == 100
        assert rows.loc["atr_multiplier", "step"] == 1.0
        assert rows.loc["atr_buy_multiplier", "step"] == 0.5
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert config["rank"].tolist() == [1, 2]
    assert set(config["regime"]) == {"TIGHT", "MEDIUM"}
    assert set(config["grid"]) == {"phase1_slim"} and set(config["phases"]) == {"default"}
    assert all((out / f).exists() for f in config["file"])
    assert (config["refine_combos"] > 1).all()
    names = sorted(p.name for p in out.iterdir())
    assert "candidates_atr_d_l_phase1_slim-default.parquet" in names
    assert "plateaus_atr_d_l_phase1_slim-default.png" in names
    assert not [n for n in names if n.endswith(".tmp")]
    png = (out / "plateaus_atr_d_l_phase1_slim-default.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_config_combines_strategies_and_drops_stale_files(phases, tmp_path: Path) -> None:
    _run(phases, tmp_path)
    _run(phases, tmp_path, strategy="atr_d_ls", ts_name="ATR-D-v1.5-LS")
    out = tmp_path / "SMH"
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert config.groupby("ts_name").size().to_dict() == {"ATR-D-v1.5-L": 2, "ATR-D-v1.5-LS": 2}
    # a rerun with one plateau replaces that strategy's rows and removes its rank-2 file
    report = _run(phases, tmp_path)
    one = report.plateaus.plateaus[:1]
    write_refinement_exports(
        one,
        PARAMETERS,
        out_dir=out,
        symbol="SMH",
        strategy="atr_d_l",
        ts_name="ATR-D-v1.5-L",
        grid_name="phase1_slim",
        phases_name="default",
        grid=GRID,
    )
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert config.groupby("ts_name").size().to_dict() == {"ATR-D-v1.5-L": 1, "ATR-D-v1.5-LS": 2}
    assert not (out / SWEEP / "phase5_refine_ATR-D-v1.5-L_rank2.csv").exists()
    assert (out / SWEEP / "phase5_refine_ATR-D-v1.5-LS_rank2.csv").exists()


def test_pipeline_logs_tags_artifacts_and_plateau_runs(phases, tmp_path: Path) -> None:
    tracker = MemoryTracker()
    with tracker.start_job("wfo/SMH", "atr_d_l") as job:
        report = _run(phases, tmp_path, job=job)
    parent = tracker.get(job.run_id)
    assert parent.tags["scoring_relaxed"] == "false"
    assert parent.tags["plateaus"] == "2"
    assert parent.metrics["n_plateaus"] == 2
    assert parent.metrics["n_stable"] == report.scores.n_stable
    assert "candidates/candidates_atr_d_l_phase1_slim-default.parquet" in parent.artifacts
    assert "plots/plateaus_atr_d_l_phase1_slim-default.png" in parent.artifacts
    assert "tradestation/phase5_refine_config.csv" in parent.artifacts
    assert "tradestation/phase5_refine_ATR-D-v1.5-L_rank1.csv" in parent.artifacts
    children = [r for r in tracker.runs() if r.parent_id == job.run_id]
    assert sorted(c.name for c in children) == ["plateau 1", "plateau 2"]


def test_noise_pipeline_writes_no_ranges_but_does_not_crash(tmp_path: Path) -> None:
    noise = planted_phase_results(GRID, [], seed=62)
    report = _run(noise, tmp_path)
    assert report.plateaus.plateaus == []
    config = pd.read_csv(tmp_path / "SMH" / "phase5_refine_config.csv")
    assert config.empty
    assert (tmp_path / "SMH" / "plateaus_atr_d_l_phase1_slim-default.png").exists()


def test_bad_parameter_specs_and_names(phases, tmp_path: Path) -> None:
    report = _run(phases, tmp_path)
    plateau = report.plateaus.plateaus[0]
    no_tier = {**PARAMETERS, "bb_dev": {"ts_input": "BBDev"}}
    with pytest.raises(ConfigError, match="bb_dev"):
        refinement_ranges(plateau, no_tier, GRID)
    missing = {k: v for k, v in PARAMETERS.items() if k != "entry_mode"}
    with pytest.raises(ConfigError, match="entry_mode"):
        refinement_ranges(plateau, missing, GRID)
    with pytest.raises(ConfigError, match="tier"):
        refinement_ranges(plateau, {**PARAMETERS, "bb_dev": {"tier": 4, "ts_input": "X"}}, GRID)
    with pytest.raises(InvalidSymbolError):
        _run(phases, tmp_path, symbol="../etc")
    with pytest.raises(ValueError, match="ts_name"):
        write_refinement_exports(
            [],
            PARAMETERS,
            out_dir=tmp_path,
            symbol="SMH",
            strategy="a",
            ts_name="a/b",
            grid_name="g",
            phases_name="default",
        )
    with pytest.raises(ConfigError, match="grid"):
        _run(phases, tmp_path, grid_name="../g")


def test_sweeps_of_other_grids_and_layouts_keep_their_exports(phases, tmp_path: Path) -> None:
    first = _run(phases, tmp_path)
    out = tmp_path / "SMH"
    kept = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    before = {p: (out / p).read_bytes() for p in kept}
    noise = planted_phase_results(GRID, [], seed=62)
    _run(noise, tmp_path, grid_name="single")  # no plateau: used to delete every rank file
    _run(phases, tmp_path, phases_name="compact")
    for path, data in before.items():
        if path.name != "phase5_refine_config.csv":
            assert (out / path).read_bytes() == data, path
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert list(config.columns[:4]) == ["job", "symbol", "grid", "phases"]
    counts = config.groupby(["grid", "phases"]).size().to_dict()
    assert counts == {("phase1_slim", "compact"): 2, ("phase1_slim", "default"): 2}
    assert all((out / f).is_file() for f in config["file"])
    assert len(set(config["file"])) == 4
    assert (out / "plateaus_atr_d_l_single-default.png").exists()
    assert (out / "candidates_atr_d_l_phase1_slim-compact.parquet").exists()
    # rewriting one sweep with fewer plateaus drops only that sweep's extra file
    write_refinement_exports(
        first.plateaus.plateaus[:1],
        PARAMETERS,
        out_dir=out,
        symbol="SMH",
        strategy="atr_d_l",
        ts_name="ATR-D-v1.5-L",
        grid_name="phase1_slim",
        phases_name="compact",
        grid=GRID,
    )
    assert not (
        out / "phase5_refine/phase1_slim-compact/phase5_refine_ATR-D-v1.5-L_rank2.csv"
    ).exists()
    assert (out / SWEEP / "phase5_refine_ATR-D-v1.5-L_rank2.csv").exists()
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert config.groupby(["grid", "phases"]).size().to_dict() == {
        ("phase1_slim", "compact"): 1,
        ("phase1_slim", "default"): 2,
    }


def test_a_config_without_grid_columns_keeps_its_rows(phases, tmp_path: Path) -> None:
    out = tmp_path / "SMH"
    out.mkdir()
    legacy = ["ATR-D-v1.5-LS_rank1", "SMH", "atr_d_ls", "ATR-D-v1.5-LS", 1, "TIGHT"]
    rows = [
        [*legacy, "phase5_refine_ATR-D-v1.5-LS_rank1.csv", 3, 8, 1, 60.0, 70.0, 3, 27],
        [*legacy[:4], 2, "WIDE", "phase5_refine_ATR-D-v1.5-LS_rank2.csv", 3, 8, 1, 1, 2, 3, 27],
    ]
    columns = [c for c in CONFIG_COLUMNS if c not in ("grid", "phases")]
    pd.DataFrame(rows, columns=columns).to_csv(out / "phase5_refine_config.csv", index=False)
    (out / "phase5_refine_ATR-D-v1.5-LS_rank1.csv").write_text("ts_input\n")  # rank2's is gone
    _run(phases, tmp_path)
    config = pd.read_csv(out / "phase5_refine_config.csv", keep_default_na=False)
    assert config[["grid", "file"]].values.tolist() == [
        ["", "phase5_refine_ATR-D-v1.5-LS_rank1.csv"],
        ["phase1_slim", "phase5_refine/phase1_slim-default/phase5_refine_ATR-D-v1.5-L_rank1.csv"],
        ["phase1_slim", "phase5_refine/phase1_slim-default/phase5_refine_ATR-D-v1.5-L_rank2.csv"],
    ]


def test_an_unreadable_config_is_named(phases, tmp_path: Path) -> None:
    out = tmp_path / "SMH"
    out.mkdir()
    (out / "phase5_refine_config.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=r"phase5_refine_config\.csv"):
        _run(phases, tmp_path)


def test_uneven_levels_get_a_step_that_reaches_every_level() -> None:
    """atr_period levels 10, 14, 20, 28 are 4, 6 and 8 apart: a step of 4 (the smallest gap)
    would try 10, 14, 18, 22, 26 and miss 20 and 28; the common step 2 reaches all."""
    grid = Grid.from_config({"atr_period": [8, 10, 14, 20, 28, 40], "atr_multiplier": [2.0]})
    top = pd.DataFrame({"atr_period": [20.0, 10.0, 28.0, 14.0], "atr_multiplier": 2.0})
    plateau = Plateau(
        rank=1,
        label=0,
        regime="TIGHT",
        cells=pd.DataFrame(columns=["x", "y", "count", "median_score"]),
        n_combos=4,
        median_x=2.0,
        median_score=1.0,
        best_score=1.0,
        top=top,
        bounds={"atr_period": (10.0, 28.0), "atr_multiplier": (2.0, 2.0)},
        medians={"atr_period": 14.0, "atr_multiplier": 2.0},
        best={"atr_period": 20.0, "atr_multiplier": 2.0},
    )
    params = {
        "atr_period": {"tier": 1, "ts_input": "P"},
        "atr_multiplier": {"tier": 2, "ts_input": "M"},
    }
    row = refinement_ranges(plateau, params, grid).set_index("parameter").loc["atr_period"]
    assert (row["start"], row["stop"], row["step"], row["count"]) == (10.0, 28.0, 2.0, 10)
    tried = row["start"] + row["step"] * np.arange(row["count"])
    assert {10.0, 14.0, 20.0, 28.0} <= set(tried)
