"""A re-run of one combination (`+production=...`, `grid=single`) is a verification run: it never
competes, so it cannot bypass the gates its sweep had to pass. Real CLI runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.faults.harness import run_app
from tradelab.testing.mlflow_store import store_runs

pytestmark = pytest.mark.slow
GATES = [
    f"gates.{gate}=null"
    for gate in ("min_deflated_sharpe", "max_pbo", "min_phases_valid", "min_trades", "max_drawdown")
]
PROMOTE = ["family=wfo", "target=SMH", *GATES]
MODEL = "tradelab.wfo.SMH"


def _ok(app: str, *args: str, cwd: Path) -> None:
    result = run_app(app, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def _versions(cwd: Path) -> list[str]:
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    return sorted(str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'"))


def _reason(cwd: Path) -> str:
    """The reason of the latest promotion decision (tag `reason` of its run)."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    [run] = store_runs(
        client, "promotion/wfo.SMH", order_by=["attributes.start_time DESC"], max_results=1
    )
    return run.data.tags["reason"]


def _parents(cwd: Path) -> list:
    """The WFO sweeps (parent runs) on SMH, newest first."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = store_runs(client, "wfo/SMH", order_by=["attributes.start_time DESC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def _champion(cwd: Path) -> str | None:
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    try:
        return str(client.get_model_version_by_alias(MODEL, "champion").version)
    except MlflowException:
        return None


def test_a_production_rerun_is_a_verification_run_never_a_candidate(tmp_path: Path) -> None:
    store = ["data.mode=planted", "data.daily_years=8.5", "data.minute_days=0"]
    _ok("ingest", *store, "data.symbols=[SMH]", "timeframes=[1day]", "progress=false", cwd=tmp_path)
    sweep = ["symbol=SMH", "strategy=atr_d_l", "grid=smoke", "phases=compact", "progress=false"]
    _ok("wfo", *sweep, cwd=tmp_path)
    _ok("promote", *PROMOTE, cwd=tmp_path)
    assert _versions(tmp_path) == ["1"] and _champion(tmp_path) == "1"

    _ok("wfo", "+production=wfo/SMH", "progress=false", cwd=tmp_path)  # one combination
    rerun, sweep_run = _parents(tmp_path)[:2]
    assert sweep_run.data.tags["kind"] == "sweep"
    # tagged as a verification run, linked to the sweep that found it, with that sweep's statistics
    assert rerun.data.tags["kind"] == "verification"
    assert rerun.data.tags["verifies"] == sweep_run.info.run_id
    for name in ("pbo", "deflated_sharpe", "n_trials"):
        verified = rerun.data.metrics[f"validity/verified_{name}"]
        assert verified == sweep_run.data.metrics[f"validity/{name}"]
    _ok("promote", *PROMOTE, cwd=tmp_path)
    said = _reason(tmp_path)
    assert "1 verification run(s) of fewer than 10 combinations left out" in said, said
    assert "already the champion" in said  # the sweep's candidate competes, as before the re-run
    assert _versions(tmp_path) == ["1"] and _champion(tmp_path) == "1"

    # what the rule prevents: counted as a sweep, the one-combination re-run scores 100 x 1.3
    # in every phase (above any real sweep) and is promoted over its own sweep's champion
    _ok("promote", *PROMOTE, "min_grid_size=1", cwd=tmp_path)
    loose = _reason(tmp_path)
    assert loose.startswith("better than champion version 1: stability_score = 130 "), loose
    assert _versions(tmp_path) == ["1", "2"] and _champion(tmp_path) == "2"


def test_a_one_combination_run_no_sweep_proposed_links_to_nothing(tmp_path: Path) -> None:
    store = ["data.mode=planted", "data.daily_years=8.5", "data.minute_days=0"]
    _ok("ingest", *store, "data.symbols=[SMH]", "timeframes=[1day]", "progress=false", cwd=tmp_path)
    single = ["symbol=SMH", "strategy=atr_d_l", "grid=single", "phases=compact", "progress=false"]
    done = run_app("wfo", *single, "+grid.params.atr_multiplier=[4]", "expand=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no finished sweep on this data proposed" in done.stdout + done.stderr
    [run] = _parents(tmp_path)
    assert (run.data.tags["kind"], run.data.tags["verifies"]) == ("verification", "none")
