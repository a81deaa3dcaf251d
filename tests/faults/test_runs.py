"""No run stays RUNNING: `kill -9` a WFO sweep mid-phase or between phases, rerun it, and
compare with a twin that was never interrupted.

The killed parent run ends FAILED with the `tradelab.repaired` tag (repaired at the rerun's
start), the rerun resumes from the chunk cache and writes the same results, and no run is left
RUNNING. `tradelab-runs list|repair` shows and ends the runs of another host whose heartbeat
stopped. Real CLI runs, hard exits (status 137, like kill -9).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.apps.test_cli import ingest_daily
from tests.faults.harness import crash, digest, run_app, running_runs
from tradelab.testing.mlflow_store import store_runs
from tradelab.tracking.liveness import HOST_TAG, REPAIRED_TAG, heartbeat_tags
from tradelab.tracking.mlflow_tracker import MlflowTracker

pytestmark = pytest.mark.slow
# 16 combinations in chunks of 4: four chunks in each of the four phases
WFO = [
    "symbol=SMH",
    "strategy=atr_d_l",
    "grid=smoke",
    "phases=compact",
    "search.chunk_size=4",
    "progress=false",
]
RESULTS = ("results/**/*",)
CACHE = "results/SMH/wfo/atr_d_l/smoke-compact"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working directory with a small daily store and no MLflow runs."""
    root = tmp_path_factory.mktemp("runs_store")
    ingest_daily(root, "data.mode=planted", "data.daily_years=8.5", "tracking=memory")
    return root


@pytest.fixture(scope="module")
def twin(store: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The results of an uninterrupted sweep."""
    root = shutil.copytree(store, tmp_path_factory.mktemp("runs_twin") / "w")
    ok = run_app("wfo", *WFO, cwd=root)
    assert ok.returncode == 0, ok.stderr[-3000:]
    return digest(root, RESULTS)


def _parents(cwd: Path) -> list:
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = store_runs(client, "wfo/SMH", order_by=["attributes.start_time ASC"])
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], runs


@pytest.mark.parametrize(
    ("point", "nth", "chunks_done"),
    [("wfo.chunk", 6, {"phase1": 4, "phase2": 2}), ("wfo.phase", 2, {"phase1": 4, "phase2": 4})],
    ids=["mid-phase", "between-phases"],
)
def test_a_killed_wfo_run_is_failed_with_the_reason_and_the_rerun_resumes(
    store: Path,
    twin: dict[str, str],
    tmp_path: Path,
    point: str,
    nth: int,
    chunks_done: dict[str, int],
) -> None:
    work = shutil.copytree(store, tmp_path / "w")
    crash("wfo", point, *WFO, cwd=work, nth=nth)
    for phase, done in chunks_done.items():
        manifest = json.loads((work / CACHE / phase / "manifest.json").read_text())
        assert manifest["chunks_done"] == done, (phase, manifest)
    assert running_runs(work) == 1  # the killed parent: nothing ended it
    [killed], _ = _parents(work)
    host, pid = killed.data.tags[HOST_TAG], killed.data.tags["tradelab.pid"]

    rerun = run_app("wfo", *WFO, cwd=work)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert running_runs(work) == 0
    (first, second), runs = _parents(work)
    assert first.info.run_id == killed.info.run_id and first.info.status == "FAILED"
    assert first.data.tags[REPAIRED_TAG] == f"process {pid} on host {host} is gone"
    assert second.info.status == "FINISHED" and REPAIRED_TAG not in second.data.tags
    phase1 = next(
        r
        for r in runs
        if r.data.tags.get("mlflow.parentRunId") == second.info.run_id
        and r.info.run_name == "phase 1"
    )
    assert phase1.data.metrics["cached"] == 1.0  # the rerun resumed from the cache
    assert digest(work, RESULTS) == twin


def _stale_job(tracker: MlflowTracker, stale_after_s: float) -> str:
    """A job of another host whose heartbeat stopped `2 x stale_after_s` ago."""
    job = tracker.start_job("forecast/AAPL", "lost")
    beat = heartbeat_tags(time.time() - 2 * stale_after_s)
    job.set_tags({HOST_TAG: "elsewhere.invalid", **beat})
    return job.run_id


def test_runs_cli_lists_then_repairs_a_run_whose_heartbeat_stopped(tmp_path: Path) -> None:
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlruns/mlflow.db", tmp_path / "mlruns/artifacts")
    lost = _stale_job(tracker, 1800.0)
    live = tracker.start_job("wfo/SMH", "live")  # this test's process: alive

    listed = run_app("runs", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr[-3000:]
    assert f"{lost}  forecast/AAPL  lost: STALE process" in listed.stdout
    assert "no sign of life" in listed.stdout and f"{live.run_id}  wfo/SMH  live: running" in (
        listed.stdout
    )
    assert tracker.get_run(lost).status.value == "RUNNING"  # list changes nothing

    patient = run_app("runs", "repair", "tracking.stale_after_s=86400", cwd=tmp_path)
    assert patient.returncode == 0 and "0 run(s)" in patient.stdout, patient.stderr[-3000:]
    assert tracker.get_run(lost).status.value == "RUNNING"

    repaired = run_app("runs", "repair", cwd=tmp_path)
    assert repaired.returncode == 0, repaired.stderr[-3000:]
    assert "1 run(s) left RUNNING by a dead process ended FAILED" in repaired.stdout
    run = tracker.get_run(lost)
    assert run.status.value == "FAILED" and "elsewhere.invalid" in run.tags[REPAIRED_TAG]
    assert tracker.get_run(live.run_id).status.value == "RUNNING"
    live.end()


def test_every_app_repairs_at_its_start_unless_told_not_to(tmp_path: Path) -> None:
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlruns/mlflow.db", tmp_path / "mlruns/artifacts")
    lost = _stale_job(tracker, 1800.0)
    kept = run_app("promote", "family=wfo", "tracking.repair_on_start=false", cwd=tmp_path)
    assert kept.returncode == 0, kept.stderr[-3000:]
    assert tracker.get_run(lost).status.value == "RUNNING"
    ran = run_app("promote", "family=wfo", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr[-3000:]
    assert tracker.get_run(lost).status.value == "FAILED"
    assert "was left RUNNING: ended FAILED" in ran.stdout + ran.stderr  # the log
