"""Optuna studies shared by worker processes on PostgreSQL (and a journal file): a study resumes
to `n_trials`; 4 concurrent workers together evaluate exactly `n_trials`, each trial told and
reported once, with no lock error; a worker killed with SIGKILL mid-batch has its trials failed
and retried once (by the pid check on this machine, by the heartbeat from another), and the
study still ends at exactly `n_trials`."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from tradelab import faults
from tradelab.errors import ConfigError
from tradelab.processes import ProcessId
from tradelab.search import (
    BatchResult,
    SearchSpace,
    evaluated_trials,
    fail_abandoned,
    make_storage,
    optimize_batched,
)
from tradelab.search.optuna_search import BatchEvaluator
from tradelab.search.settings import OptunaSearchConfig

SPACE = {"x": list(range(10)), "y": list(range(10)), "z": [0.1, 0.2, 0.3, 0.4]}
BATCH, HEARTBEAT_S, GRACE_S = 4, 1, 2
ROOT = Path(__file__).resolve().parents[2]
SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.search.test_optuna_postgres import worker
    worker(*sys.argv[1:])
    """
)
TROUBLE = re.compile(r"lock|OperationalError|Traceback", re.IGNORECASE)


def evaluate(batch: list[dict]) -> tuple[list[float], list[dict]]:
    """A cheap deterministic objective, a bit slow so that workers interleave."""
    x, y, z = (np.array([p[k] for p in batch], dtype=float) for k in ("x", "y", "z"))
    time.sleep(0.05)
    return list(-((x - 3) ** 2) - (y - 6) ** 2 + z), [{"x2": float(v)} for v in x**2]


def run_study(
    storage: str,
    n_trials: int,
    on_result: Callable[[BatchResult], None] | None = None,
    evaluator: BatchEvaluator = evaluate,
) -> optuna.Study:
    return optimize_batched(
        SearchSpace.from_config(SPACE),
        evaluator,
        n_trials=n_trials,
        batch_size=BATCH,
        seed=7,
        storage=storage,
        study_name="s",
        n_startup_trials=8,
        on_result=on_result,
        heartbeat_s=HEARTBEAT_S,
        grace_s=GRACE_S,
    )


def worker(storage: str, folder: str, name: str, n_workers: str, n_trials: str, mode: str) -> None:
    """A worker process: wait for the other workers, join study `s`, write a JSON line per trial
    it told to `<name>.jsonl`, then the study's evaluated count. `mode`: `run`; `hang` (hang in
    its second batch, to be killed); `elsewhere` (hang, as a process of another machine)."""
    import socket

    if mode == "elsewhere":
        socket.gethostname = lambda: "another-machine"  # its trials' owner: not this host
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    here = Path(folder)
    out = here / f"{name}.jsonl"
    (here / f"{name}.ready").touch()
    while len(list(here.glob("*.ready"))) < int(n_workers):
        time.sleep(0.01)
    batches = []

    def evaluator(batch: list[dict]) -> tuple[list[float], list[dict]]:
        batches.append(len(batch))
        if mode != "run" and len(batches) == 2:
            (here / f"{name}.hung").touch()
            time.sleep(600)
        return evaluate(batch)

    def report(res: BatchResult) -> None:
        with out.open("a") as f:
            f.write(json.dumps({"number": res.number, "index": res.index}) + "\n")

    study = run_study(storage, int(n_trials), report, evaluator)
    with out.open("a") as f:
        f.write(json.dumps({"evaluated": len(evaluated_trials(study))}) + "\n")


def _start(
    storage: str, folder: Path, name: str, n_workers: int, n_trials: int, mode: str = "run"
) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    argv = [sys.executable, "-c", SCRIPT, storage, str(folder), name, str(n_workers)]
    return subprocess.Popen(
        [*argv, str(n_trials), mode],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@contextlib.contextmanager
def _reaped(procs: list[subprocess.Popen]) -> Iterator[list[subprocess.Popen]]:
    """Kill the workers still running when the test ends (a failure must not leave them)."""
    try:
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _storage(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "journal":
        return f"journal:{tmp_path / 's.journal'}"
    return request.getfixturevalue("postgres_db")


def _load(storage: str) -> optuna.Study:
    return optuna.load_study(study_name="s", storage=make_storage(storage))


def _complete(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials() if t.state == TrialState.COMPLETE]


def test_a_study_on_postgres_resumes_to_n_trials(postgres_db: str) -> None:
    storage = make_storage(postgres_db)
    assert isinstance(storage, optuna.storages.RDBStorage)
    assert storage.get_heartbeat_interval() == OptunaSearchConfig.heartbeat_s
    assert storage.grace_period == OptunaSearchConfig.grace_s
    assert storage.engine.pool._pre_ping and storage.get_heartbeat_stale_trial_callback()
    calls: list[int] = []

    def counting(batch: list[dict]) -> tuple[list[float], list[dict]]:
        calls.append(len(batch))
        return evaluate(batch)

    first = [t.params for t in evaluated_trials(run_study(postgres_db, 6, evaluator=counting))]
    resumed = run_study(postgres_db, 12, evaluator=counting)
    assert calls == [4, 2, 4, 2]
    assert [t.params for t in evaluated_trials(resumed)][:6] == first
    assert len(_complete(resumed)) == len(resumed.trials) == 12
    assert [t.user_attrs["slot"] for t in evaluated_trials(resumed)] == list(range(12))
    assert run_study(postgres_db, 12, evaluator=counting) and len(calls) == 4  # nothing left


@pytest.mark.parametrize("kind", ["postgres", "journal"])
def test_concurrent_workers_evaluate_exactly_n_trials(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    storage, n_workers, n_trials = _storage(kind, request, tmp_path), 4, 40
    with _reaped(
        [_start(storage, tmp_path, f"w{i}", n_workers, n_trials) for i in range(n_workers)]
    ) as procs:
        outcomes = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, outcomes):
        assert proc.returncode == 0, err[-3000:]
        assert not TROUBLE.search(err), err[-3000:]
    reports = [_lines(tmp_path / f"w{i}.jsonl") for i in range(n_workers)]
    told = [r for lines in reports for r in lines if "number" in r]
    assert sum(1 for lines in reports if len(lines) > 1) >= 2  # the workers shared the study
    assert all(lines[-1] == {"evaluated": n_trials} for lines in reports)  # each saw it all
    numbers = sorted(r["number"] for r in told)
    assert len(numbers) == len(set(numbers)) == n_trials  # no trial told twice
    assert sorted(r["index"] for r in told) == list(range(n_trials))
    study = _load(storage)
    assert sorted(t.number for t in _complete(study)) == numbers
    assert len(study.trials) == n_trials  # none created beyond n_trials, none failed


@pytest.mark.parametrize("mode", ["hang", "elsewhere"])
def test_a_killed_workers_trials_are_retried_once(
    mode: str, postgres_db: str, tmp_path: Path
) -> None:
    n_trials = 12
    with _reaped([_start(postgres_db, tmp_path, "victim", 1, n_trials, mode)]) as (victim,):
        deadline = time.monotonic() + 30
        while not (tmp_path / "victim.hung").exists():
            assert victim.poll() is None and time.monotonic() < deadline, victim.stderr.read()
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)  # trials 4-7 left RUNNING
        victim.communicate()
    mine: list[int] = []
    study = run_study(postgres_db, n_trials, on_result=lambda r: mine.append(r.number))
    theirs = [r["number"] for r in _lines(tmp_path / "victim.jsonl")]
    assert theirs == [0, 1, 2, 3]
    trials = study.get_trials()
    assert [t.state for t in trials[4:8]] == [TrialState.FAIL] * 4
    retries = [t.system_attrs["retry_history"] for t in trials if "retry_history" in t.system_attrs]
    assert sorted(retries) == [[4], [5], [6], [7]]  # each retried once
    assert sorted(theirs + mine) == sorted(t.number for t in _complete(study))
    assert len(_complete(study)) == len(evaluated_trials(study)) == n_trials
    assert len(trials) == n_trials + 4
    assert sorted(t.user_attrs["slot"] for t in _complete(study)) == list(range(n_trials))


@pytest.mark.filterwarnings(
    "ignore:Heartbeat of storage", "ignore::optuna.exceptions.ExperimentalWarning"
)
def test_the_pid_check_and_the_heartbeat_queue_a_trial_once(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = make_storage(postgres_db, heartbeat_s=HEARTBEAT_S, grace_s=GRACE_S)
    study = optuna.create_study(study_name="s", storage=storage)
    trial = study.ask()
    trial.suggest_categorical("x", [1, 2])
    trial.set_user_attr("owner", _dead_owner())
    storage.record_heartbeat(trial._trial_id)
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setenv(faults.ENV, "optuna.resume.retry@1:raise")
    with pytest.raises(faults.InjectedFault):  # a resume died after queuing it, before failing it
        fail_abandoned(study)
    time.sleep(GRACE_S + 0.5)
    optuna.storages.fail_stale_trials(study)  # its heartbeat is stale now: failed, not queued
    assert [t.state for t in study.trials] == [TrialState.FAIL, TrialState.WAITING]
    assert study.trials[1].system_attrs["retry_history"] == [0]


def _dead_owner() -> str:
    """The identity of a process of this machine that has exited."""
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], text=True, capture_output=True
    )
    me = ProcessId.current()
    return str(ProcessId(me.host, int(child.stdout), me.start))


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"heartbeat_s": 0}, "search.heartbeat_s"),
        ({"heartbeat_s": 10, "grace_s": 15}, "search.grace_s"),
    ],
)
def test_bad_heartbeat_settings(settings: dict, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        OptunaSearchConfig(**settings)
    assert err.value.key == key
