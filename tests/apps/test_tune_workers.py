"""`tradelab-tune ... search.storage=postgresql://... search.study_name=X` started twice at once:
the two workers share one study on PostgreSQL, evaluate exactly `n_trials` between them, and
MLflow holds each trial's run once (logged by the worker that evaluated it)."""

from __future__ import annotations

import subprocess
from collections import Counter
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.trial import TrialState

from tradelab.testing.mlflow_store import store_runs

from .test_cli import BIN, run_app

pytestmark = pytest.mark.slow
N_TRIALS = 16


def test_two_workers_share_a_study_and_log_each_trial_once(
    tmp_path: Path, postgres_db: str
) -> None:
    ok = run_app(
        "ingest", "data.daily_years=1", "data.minute_days=5", "data.symbols=[RIOT]",
        "progress=false", cwd=tmp_path,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-3000:]
    tune = [
        str(BIN / "tradelab-tune"), "study=kalman_residual", "search=optuna", "symbol=RIOT",
        f"search.n_trials={N_TRIALS}", "search.batch_size=2", f"search.storage={postgres_db}",
        "search.study_name=riot-shared", "study.max_last_price=null", "progress=false",
        "tracking.max_trial_runs=100",  # every trial a run, to see each logged once
    ]  # fmt: skip
    workers = [
        subprocess.Popen(tune, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err.decode()[-3000:]

    study = optuna.load_study(study_name="riot-shared", storage=postgres_db)
    complete = [t for t in study.trials if t.state == TrialState.COMPLETE]
    assert len(complete) == N_TRIALS
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = store_runs(client, "kalman_residual/RIOT")
    jobs = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    trials = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(jobs) == 2 and all(r.info.status == "FINISHED" for r in jobs)
    names = Counter(r.info.run_name for r in trials)
    assert len(names) == N_TRIALS and set(names.values()) == {1}, names
    candidates = [r for r in trials if r.data.tags.get("candidate") == "true"]
    assert len(candidates) == 1
