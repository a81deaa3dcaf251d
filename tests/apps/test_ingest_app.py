"""`tradelab-ingest` end to end: store filled, runs logged with lineage, failures FAILED,
parallel multirun jobs all recorded in one SQLite store."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from .test_cli import run_app

pytestmark = pytest.mark.slow
TINY = [
    "experiment=smoke",
    "data.daily_years=1",
    "data.minute_days=1",
    "data.symbols=[SPY,QQQ,RIOT]",
    "progress=false",
]
LINEAGE = (
    "git_commit",
    "git_dirty",
    "config_hash",
    "data_hash",
    "seed",
    "hydra_overrides",
    "tradelab_version",
)


def _runs(cwd: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment}"
    return client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"])


def test_ingest_fills_the_store_and_logs_lineage(tmp_path: Path) -> None:
    first = run_app("ingest", *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    for tf in ("1min", "1day", "5min"):
        assert sorted(p.name for p in (tmp_path / "data/store" / tf).glob("*.parquet")) == [
            "QQQ.parquet",
            "RIOT.parquet",
            "SPY.parquet",
        ]
    second = run_app("ingest", *TINY, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    runs = _runs(tmp_path, "ingest/synthetic")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    for run in runs:
        assert set(LINEAGE) <= set(run.data.tags)
        assert "experiment=smoke" in run.data.tags["hydra_overrides"]
    assert runs[0].data.tags["data_hash"] == runs[1].data.tags["data_hash"]
    assert runs[0].data.metrics["files_read_1min"] == 1
    assert (
        runs[1].data.metrics["files_read_1min"] == 0
        and runs[1].data.metrics["files_skipped_1min"] == 1
    )
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"config.yaml", "coverage.csv"} <= names


def test_failing_job_ends_failed(tmp_path: Path) -> None:
    result = run_app(
        "ingest",
        "data=csv",
        "data.path=missing.csv",
        "data.symbol=SMH",
        "progress=false",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "missing.csv" in result.stderr
    runs = _runs(tmp_path, "ingest/csv")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "file not found" in runs[0].data.tags["error"]


def test_parallel_multirun_jobs_share_one_sqlite_store(tmp_path: Path) -> None:
    result = run_app(
        "ingest",
        "-m",
        "data.seed=1,2,3,4",
        "paths.data_dir=data/seed${data.seed}",
        *TINY,
        cwd=tmp_path,
        env={"TRADELAB_JOBS": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = _runs(tmp_path, "ingest/synthetic")
    assert len(runs) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
    assert (
        sorted(r.data.tags["seed"] for r in runs) == ["7"] * 4
        or len({r.data.tags["config_hash"] for r in runs}) == 4
    )
    assert len({r.data.tags["data_hash"] for r in runs}) == 4
