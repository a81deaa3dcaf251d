"""`tradelab-tune study=kalman_residual search=optuna` killed (a hard exit, as `kill -9`) at each
Optuna fault point, then rerun: the rerun continues the same study (one study in the journal),
its trials are those of an uninterrupted run (not a replay of the first batch), exactly
`n_trials` are evaluated, nothing is left RUNNING in the journal or as a trial run in MLflow,
and the finished job holds each trial run once with the uninterrupted run's results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest
from mlflow import MlflowClient
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from tests.faults.harness import crash, run_app
from tradelab.search import evaluated_trials
from tradelab.testing.mlflow_store import store_runs

pytestmark = pytest.mark.slow

N_TRIALS = 12
TUNE = (
    "study=kalman_residual",
    "search=optuna",
    "symbol=RIOT",
    f"search.n_trials={N_TRIALS}",
    "search.batch_size=4",
    "search.n_startup_trials=10",  # the crashes below fall in the random start-up phase
    "tracking.max_trial_runs=100",  # every trial a run, to see each logged once
    "study.max_last_price=null",
    "progress=false",
)
EXPERIMENT = "kalman_residual/RIOT"
JOURNAL = "mlruns/optuna/kalman_residual.journal"


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("optuna_market")
    ok = run_app(
        "ingest",
        "data.daily_years=1",
        "data.minute_days=5",
        "data.symbols=[RIOT]",
        "progress=false",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-3000:]
    return root


def _workdir(market: Path, tmp_path: Path) -> Path:
    shutil.copytree(market / "data", tmp_path / "data")
    return tmp_path


def _tune(cwd: Path) -> None:
    result = run_app("tune", *TUNE, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def _study(cwd: Path) -> optuna.Study:
    """The one study of the journal (a rerun continues it, never starts another)."""
    storage = JournalStorage(JournalFileBackend(str(cwd / JOURNAL)))
    names = optuna.get_all_study_names(storage)
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage)


def _trial_runs(cwd: Path) -> tuple[list, list]:
    """(trial runs under finished jobs, runs still RUNNING) of the experiment."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = store_runs(client, EXPERIMENT)
    status = {r.info.run_id: r.info.status for r in runs}
    trials = [
        r
        for r in runs
        if r.info.run_name.startswith("trial ")
        and r.info.status == "FINISHED"
        and status.get(r.data.tags.get("mlflow.parentRunId")) == "FINISHED"
    ]
    return trials, [r for r in runs if r.info.status == "RUNNING"]


def _outcome(cwd: Path) -> dict:
    """What must equal an uninterrupted run's: the evaluated trials, the trial runs of the
    finished job(s), the headline metrics."""
    study = _study(cwd)
    assert [t.number for t in study.trials if t.state == TrialState.RUNNING] == []
    assert [t.number for t in study.trials if t.state == TrialState.WAITING] == []
    done = evaluated_trials(study)
    assert len(done) == N_TRIALS  # exactly n_trials, nothing lost, nothing extra
    trials, running = _trial_runs(cwd)
    names = sorted(r.info.run_name for r in trials)
    assert names == sorted(f"trial {k}" for k in range(N_TRIALS))  # each trial run once
    # no trial run is ever left RUNNING; the killed job is ended FAILED by the repair of dead
    # runs at the rerun's start (tradelab.apps._runtime.repair_runs)
    assert running == [], [
        (r.info.run_name, r.data.tags.get("mlflow.parentRunId")) for r in running
    ]
    metrics = json.loads((cwd / "results/kalman_residual/RIOT/metrics.json").read_text())
    return {
        "params": [t.params for t in done],
        "values": [t.value for t in done],
        "runs": {r.info.run_name: (r.data.params, r.data.metrics.get("score")) for r in trials},
        "metrics": metrics,
    }


@pytest.fixture(scope="module")
def uninterrupted(market: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    cwd = _workdir(market, tmp_path_factory.mktemp("optuna_reference"))
    _tune(cwd)
    outcome = _outcome(cwd)
    # a rerun of the finished study evaluates nothing and logs no trial run again
    _tune(cwd)
    again = _outcome(cwd)
    assert len(_study(cwd).trials) == N_TRIALS
    assert again == outcome
    return outcome


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("optuna.batch.asked", 2),  # mid-batch: trials 4-7 asked, none told
        ("optuna.trial.told", 6),  # trial 5 told, before its result is logged; 6-7 in flight
        ("optuna.batch.done", 2),  # between batches
        ("kalman.search.done", 1),  # the study finished, before its trial runs are logged
    ],
)
def test_a_killed_study_resumes_as_if_uninterrupted(
    market: Path, tmp_path: Path, uninterrupted: dict, point: str, nth: int
) -> None:
    cwd = _workdir(market, tmp_path)
    crash("tune", point, *TUNE, cwd=cwd, nth=nth)
    _tune(cwd)
    assert _outcome(cwd) == uninterrupted


def test_a_resume_killed_while_failing_abandoned_trials_queues_each_once(
    market: Path, tmp_path: Path, uninterrupted: dict
) -> None:
    cwd = _workdir(market, tmp_path)
    crash("tune", "optuna.batch.asked", *TUNE, cwd=cwd, nth=2)  # trials 4-7 left RUNNING
    crash("tune", "optuna.resume.retry", *TUNE, cwd=cwd, nth=2)  # 4 queued again, 5 not yet
    _tune(cwd)
    assert _outcome(cwd) == uninterrupted
    retries = [t for t in _study(cwd).trials if t.system_attrs.get("retry_history")]
    assert sorted(t.system_attrs["retry_history"][-1] for t in retries) == [4, 5, 6, 7]
