"""Results you can trust: a rescore scores only a cache built from exactly its settings, and
sweeps of other grids or phase layouts on one symbol never touch each other's files.

Real `tradelab-wfo` runs on a small planted store of 16 years (both phase layouts fit).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tradelab.testing.mlflow_store import store_runs

from .test_cli import run_app

pytestmark = pytest.mark.slow
SMOKE = [
    "symbol=SMH",
    "strategy=atr_d_l",
    "grid=smoke",
    "phases=compact",
    "progress=false",
    "scoring.plateaus.min_cell_count=1",  # plateaus (and refinement exports) on 16 combinations
]
SINGLE = [
    "symbol=SMH",
    "strategy=atr_d_l",
    "grid=single",
    "+grid.params={atr_period:[14],atr_multiplier:[6.0],atr_buy_multiplier:[0.5]}",
    "phases=compact",
    "progress=false",
]


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> Path:
    """A store of 16 years and one `grid=smoke phases=compact` sweep of SMH."""
    root = tmp_path_factory.mktemp("wfo_identity")
    ok = run_app(
        "ingest",
        "data.mode=planted",
        "data.daily_years=16",
        "data.minute_days=0",
        "data.symbols=[SMH]",
        "timeframes=[1day]",
        "progress=false",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    sweep = run_app("wfo", *SMOKE, cwd=root)
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    return root


def _files(folder: Path) -> dict[str, bytes]:
    """Every exported file of the symbol (not the cache, not the shared config) by path."""
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file()
        and "wfo" not in p.relative_to(folder).parts
        and p.name != "phase5_refine_config.csv"
    }


def _parent_runs(root: Path) -> list:
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    runs = store_runs(client, "wfo/SMH")
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def _refused(root: Path, *overrides: str) -> str:
    before = _files(root / "results" / "SMH")
    n_runs = len(_parent_runs(root))
    result = run_app("wfo", *SMOKE, "rescore=true", *overrides, cwd=root)
    assert result.returncode != 0, result.stdout[-2000:]
    assert _files(root / "results" / "SMH") == before  # nothing rewritten
    assert len(_parent_runs(root)) == n_runs  # and no run claims the old results
    return result.stderr


def test_rescore_with_another_phase_layout_refuses(swept: Path) -> None:
    err = _refused(swept, "phases=default")
    assert "no cached results" in err and "smoke-default" in err and "smoke-compact" in err
    err = _refused(swept, "phases.warmup_bars=80")
    assert "config key 'phases'" in err and "phase1 IS" in err and "80 warmup bars" in err


def test_rescore_with_other_costs_or_parameters_refuses(swept: Path) -> None:
    err = _refused(swept, "strategy.slippage=5.0")
    assert "config key 'strategy.slippage'" in err
    assert "strategy.slippage 0.01" in err and "strategy.slippage 5.0" in err
    assert "rescore=true" in err
    err = _refused(swept, "strategy.params.bb_period.default=30")
    assert "strategy.params.bb_period.default" in err


def test_scoring_only_rescore_works(swept: Path) -> None:
    result = run_app("wfo", *SMOKE, "rescore=true", "scoring.min_phases=2", cwd=swept)
    assert result.returncode == 0, result.stderr[-3000:]
    rescored = [r for r in _parent_runs(swept) if r.data.tags.get("rescore") == "true"]
    assert rescored and rescored[-1].data.tags["phases"] == "compact"
    out = swept / "results" / "SMH"
    assert (out / "candidates_atr_d_l_smoke-compact.parquet").is_file()
    assert (swept / "results/SMH/wfo/atr_d_l/smoke-compact/phase4/manifest.json").is_file()


def test_a_second_grid_leaves_the_first_intact(swept: Path) -> None:
    out = swept / "results" / "SMH"
    smoke = {k: v for k, v in _files(out).items() if "smoke" in k}
    assert any(k.startswith("phase5_refine/smoke-compact/phase5_refine_") for k in smoke)
    single = run_app("wfo", *SINGLE, cwd=swept)
    assert single.returncode == 0, single.stderr[-3000:]
    assert {k: v for k, v in _files(out).items() if "smoke" in k} == smoke
    assert (out / "candidates_atr_d_l_single-compact.parquet").is_file()
    assert (out / "wfo/atr_d_l/single-compact/phase1/manifest.json").is_file()
    assert (out / "wfo/atr_d_l/smoke-compact/phase1/manifest.json").is_file()
    config = pd.read_csv(out / "phase5_refine_config.csv")
    assert {"grid", "phases"} <= set(config.columns)
    assert set(config["grid"]) >= {"smoke"}
    assert all((out / f).is_file() for f in config["file"])
    again = run_app("wfo", *SMOKE, "rescore=true", cwd=swept)
    assert again.returncode == 0, again.stderr[-3000:]
    assert {k: v for k, v in _files(out).items() if "smoke" in k}.keys() == smoke.keys()
    assert (out / "candidates_atr_d_l_single-compact.parquet").is_file()
