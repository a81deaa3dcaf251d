"""The number of trials is cumulative: every sweep logged for the same target and data counts
toward the deflated Sharpe's N (the tracking store is the ledger), a repeated sweep once."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tradelab.testing.mlflow_store import store_runs

from .test_cli import ingest_daily, run_app

pytestmark = pytest.mark.slow
COMPACT = ("phases=compact", "progress=false", "expand=false")


def _parents(root: Path, grid: str) -> list:
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    runs = store_runs(
        client, "wfo/SMH", f"tags.grid = '{grid}'", order_by=["attributes.start_time DESC"]
    )
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags]


def test_n_trials_counts_every_sweep_tried_on_the_target_and_data(tmp_path: Path) -> None:
    ingest_daily(tmp_path, "data.mode=planted", "data.daily_years=8.5")

    def sweep(grid: str, *extra: str) -> dict[str, float]:
        done = run_app(
            "wfo", "symbol=SMH", "strategy=atr_d_l", f"grid={grid}", *COMPACT, *extra, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-3000:]
        metrics = _parents(tmp_path, grid)[0].data.metrics
        return {k.removeprefix("validity/"): v for k, v in metrics.items()}

    first = sweep("smoke")
    assert (first["n_trials"], first["n_trials_prior"]) == (16, 0)
    second = sweep("known_answer")  # a narrower look after the first: judged against both
    assert (second["n_trials"], second["n_trials_sweep"], second["n_trials_prior"]) == (46, 30, 16)
    again = sweep("known_answer")  # the same sweep again tries nothing new
    assert again["n_trials"] == 46
    rescored = sweep("known_answer", "rescore=true")
    assert rescored["n_trials"] == 46
    assert sweep("smoke")["n_trials"] == 46  # the first, re-run, now knows the second


def test_a_jobs_variants_count_each_other_on_the_first_run_as_on_a_rerun(tmp_path: Path) -> None:
    """`strategy=atr_d_ls` sweeps atr_d_ls, then its ancestor atr_d_l: both are tried on the
    data, so each sweep's N holds the other's combinations whichever ran first, and a forced
    rerun of the same job (`dvc repro -f`) gives the same numbers."""
    ingest_daily(tmp_path, "data.mode=planted", "data.daily_years=8.5")

    def job() -> dict[str, dict[str, float]]:
        done = run_app(
            "wfo", "symbol=SMH", "strategy=atr_d_ls", "grid=smoke", *COMPACT[:2], cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr[-3000:]
        latest: dict[str, dict[str, float]] = {}
        for run in _parents(tmp_path, "smoke"):  # newest first
            latest.setdefault(run.data.tags["strategy"], run.data.metrics)
        return {
            s: {k: m[f"validity/{k}"] for k in ("n_trials", "n_trials_prior")}
            for s, m in latest.items()
        }

    first = job()
    assert first["atr_d_ls"] == {"n_trials": 48.0, "n_trials_prior": 16.0}
    assert first["atr_d_l"] == {"n_trials": 48.0, "n_trials_prior": 32.0}
    assert job() == first
