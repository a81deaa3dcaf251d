"""A local store (mlruns/: database and artifacts) moved to another folder: the next job
refuses in one line instead of writing at the old paths; `tradelab-runs relocate` points the
records at the new folder, and every artifact reads back from there."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_cli import ingest_daily, run_app


def _locations(db: Path) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT artifact_location FROM experiments WHERE name != 'Default'")
        runs = conn.execute("SELECT artifact_uri FROM runs")
        return [r[0] for r in rows] + [r[0] for r in runs]


def test_a_moved_store_is_refused_then_relocated_and_reads_back(tmp_path: Path) -> None:
    before = tmp_path / "before"
    before.mkdir()
    ingest_daily(before)
    after = tmp_path / "after"
    shutil.move(before, after)

    refused = run_app("ingest", "data.symbols=[SMH]", "timeframes=[1day]", cwd=after)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    last = refused.stderr.strip().splitlines()[-1]
    assert "was moved" in last and "tradelab-runs relocate" in last and str(before) in last
    assert not before.exists()  # nothing written at the old paths

    done = run_app("runs", "relocate", cwd=after)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"{before.as_uri()}/mlruns/artifacts -> {after.as_uri()}/mlruns/artifacts" in done.stdout
    db = after / "mlruns" / "mlflow.db"
    assert _locations(db) and all(str(after) in loc for loc in _locations(db))

    tracker = MlflowTracker(f"sqlite:///{db}", after / "mlruns" / "artifacts")
    (target,) = tracker.targets("ingest")
    (run,) = tracker.find_runs(f"ingest/{target}", top_level=True)
    assert "config.yaml" in tracker.list_artifacts(run.run_id)
    assert "data" in tracker.load_text(run.run_id, "config.yaml")
    ingest_daily(after)  # logs again, under the new folder
    assert not before.exists()
    assert len(tracker.find_runs(f"ingest/{target}", top_level=True)) == 2

    again = run_app("runs", "relocate", cwd=after)
    assert again.returncode == 0 and "already point at" in again.stdout


def test_relocating_a_database_moved_without_its_artifacts_changes_nothing(tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    ingest_daily(tmp_path / "store")
    elsewhere = tmp_path / "elsewhere" / "mlruns"
    elsewhere.mkdir(parents=True)
    shutil.copy2(tmp_path / "store" / "mlruns" / "mlflow.db", elsewhere / "mlflow.db")
    recorded = _locations(elsewhere / "mlflow.db")

    result = run_app("runs", "relocate", cwd=elsewhere.parent)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "still in" in last and "move the whole store folder" in last
    assert _locations(elsewhere / "mlflow.db") == recorded
