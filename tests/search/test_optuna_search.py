"""Batched Optuna studies that resume exactly: killed (a hard exit in a child process) or
stopped by an error at each fault point, a resumed study evaluates the trials an uninterrupted
run would have (never a replay of its first batch), exactly `n_trials` of them; trials a dead
process left RUNNING are failed and queued again once; a live process's are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from tradelab import faults
from tradelab.processes import ProcessId
from tradelab.search import (
    SearchSpace,
    evaluated_trials,
    fail_abandoned,
    make_storage,
    name_study,
    optimize_batched,
    resolve_storage,
    trial_metrics,
)
from tradelab.search.settings import OptunaSearchConfig, search_config

SPACE = {"a": list(range(6)), "b": list(range(5)), "c": [0.1, 0.2, 0.3, 0.4]}
N_TRIALS, BATCH, STARTUP, SEED = 24, 8, 16, 3

SCRIPT = textwrap.dedent(
    """
    import sys
    from tests.search.test_optuna_search import study
    study(sys.argv[1])
    """
)


def evaluate(batch: list[dict]) -> tuple[list[float], list[dict]]:
    """A deterministic objective; `a == 5` is excluded (NaN), as a strategy below its gates."""
    values = [float("nan") if p["a"] == 5 else p["a"] - (p["b"] - 2) ** 2 + p["c"] for p in batch]
    return values, [{"a2": float(p["a"] ** 2)} for p in batch]


def study(journal: str | Path, n_trials: int = N_TRIALS, evaluator=evaluate) -> optuna.Study:
    return optimize_batched(
        SearchSpace.from_config(SPACE),
        evaluator,
        n_trials=n_trials,
        batch_size=BATCH,
        seed=SEED,
        storage=f"journal:{journal}",
        study_name="s",
        n_startup_trials=STARTUP,
    )


def _kill(journal: Path, spec: str) -> None:
    """Run the study in a child process that hard-exits at `spec` (as `kill -9` would)."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, faults.ENV: spec, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(journal)], env=env, capture_output=True, text=True
    )
    assert done.returncode == faults.EXIT_STATUS, done.stderr[-3000:]


def _params(study: optuna.Study) -> list[tuple]:
    return [tuple(t.params.values()) for t in evaluated_trials(study)]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> list[tuple]:
    params = _params(study(tmp_path_factory.mktemp("reference") / "s.journal"))
    startup = params[:STARTUP]
    assert len(set(startup)) == len(startup)  # (this seed draws no duplicate start-up trial)
    return params


@pytest.mark.parametrize(
    "spec",
    [
        "optuna.batch.asked@2",  # trials 8-15 asked, none told
        "optuna.trial.told@11",  # trial 10 told, 11-15 in flight
        "optuna.batch.done@1",  # between batches
    ],
)
def test_a_killed_study_resumes_with_an_uninterrupted_runs_trials(
    tmp_path: Path, uninterrupted: list[tuple], spec: str
) -> None:
    journal = tmp_path / "s.journal"
    _kill(journal, spec)
    resumed = study(journal)
    assert _params(resumed) == uninterrupted  # not a replay of the first batch
    startup = _params(resumed)[:STARTUP]
    assert len(set(startup)) == len(startup)
    assert len(evaluated_trials(resumed)) == N_TRIALS
    states = {t.state for t in resumed.trials}
    assert TrialState.RUNNING not in states and TrialState.WAITING not in states


def test_an_error_mid_batch_queues_the_batch_again(
    tmp_path: Path, uninterrupted: list[tuple], monkeypatch: pytest.MonkeyPatch
) -> None:
    journal = tmp_path / "s.journal"
    monkeypatch.setattr(faults, "_hits", {})
    monkeypatch.setenv(faults.ENV, "optuna.trial.told@11:raise")
    with pytest.raises(faults.InjectedFault):
        study(journal)
    stopped = optuna.load_study(study_name="s", storage=make_storage(f"journal:{journal}"))
    assert [t.number for t in stopped.trials if t.state == TrialState.WAITING] == list(
        range(16, 21)
    )  # trials 11-15 failed at once and queued again: nothing waits for a stale check
    monkeypatch.delenv(faults.ENV)
    assert _params(study(journal)) == uninterrupted


def test_a_rerun_of_a_finished_study_evaluates_nothing(tmp_path: Path) -> None:
    calls: list[int] = []

    def counting(batch: list[dict]) -> tuple[list[float], list[dict]]:
        calls.append(len(batch))
        return evaluate(batch)

    first = study(tmp_path / "s.journal", evaluator=counting)
    again = study(tmp_path / "s.journal", evaluator=counting)
    assert calls == [8, 8, 8] and len(again.trials) == len(first.trials) == N_TRIALS
    more = study(tmp_path / "s.journal", n_trials=28, evaluator=counting)
    assert calls[-1] == 4 and len(evaluated_trials(more)) == 28
    assert trial_metrics(more.trials[0]) == {"a2": float(more.trials[0].params["a"] ** 2)}


def _running(tmp_path: Path, owner: str) -> optuna.Study:
    """A study with trial 0 RUNNING, recorded as evaluated by `owner`."""
    s = optuna.create_study(storage=make_storage(f"journal:{tmp_path / 's.journal'}"))
    trial = s.ask()
    trial.suggest_categorical("a", [1, 2])
    trial.set_user_attr("owner", owner)
    return s


def _dead_owner() -> str:
    """The identity of a process that has exited."""
    code = "import os; print(os.getpid())"
    child = subprocess.run([sys.executable, "-c", code], text=True, capture_output=True)
    me = ProcessId.current()
    return str(ProcessId(me.host, int(child.stdout), me.start))


def test_a_dead_processs_trials_are_failed_and_queued_once(tmp_path: Path) -> None:
    s = _running(tmp_path, _dead_owner())
    assert fail_abandoned(s) == [0]
    assert [t.state for t in s.trials] == [TrialState.FAIL, TrialState.WAITING]
    assert s.trials[1].params == s.trials[0].params
    assert s.trials[1].system_attrs["retry_history"] == [0]
    assert fail_abandoned(s) == [] and len(s.trials) == 2


def test_a_live_processs_trials_are_left_alone(tmp_path: Path) -> None:
    s = _running(tmp_path, str(ProcessId.current()))
    assert fail_abandoned(s) == [] and s.trials[0].state == TrialState.RUNNING


def test_another_machines_trials_wait_for_stale_after_s(tmp_path: Path) -> None:
    s = _running(tmp_path, "elsewhere:123:456")
    assert fail_abandoned(s) == []
    assert fail_abandoned(s, stale_after_s=3600) == []
    assert fail_abandoned(s, stale_after_s=1e-6) == [0]


def test_retries_stop_after_max_retries_and_the_sampler_moves_on(tmp_path: Path) -> None:
    journal = tmp_path / "s.journal"
    for _ in range(4):  # every run dies on its first batch
        _kill(journal, "optuna.batch.asked@1")
    s = optuna.load_study(study_name="s", storage=make_storage(f"journal:{journal}"))
    batches = [[tuple(t.params.values()) for t in s.trials[k : k + BATCH]] for k in (0, 8, 16, 24)]
    # the batch and its two retries (max_retries=2) died; then new parameters were drawn
    assert batches[0] == batches[1] == batches[2] != batches[3]
    resumed = study(journal)
    assert len(evaluated_trials(resumed)) == N_TRIALS
    assert _params(resumed)[:BATCH] == batches[3]


def test_names_follow_what_shapes_the_trials() -> None:
    search = OptunaSearchConfig()
    base = name_study("kalman_residual-RIOT", search, {"space": SPACE}, [1.0, 2.0])
    assert (
        base.startswith("kalman_residual-RIOT-") and len(base) == len("kalman_residual-RIOT-") + 16
    )
    same = OptunaSearchConfig(n_trials=99, storage="memory", study_name=None, max_retries=0)
    assert name_study("kalman_residual-RIOT", same, {"space": SPACE}, [1.0, 2.0]) == base
    for other in (
        name_study(
            "kalman_residual-RIOT", OptunaSearchConfig(seed=1), {"space": SPACE}, [1.0, 2.0]
        ),
        name_study("kalman_residual-RIOT", search, {"space": {"a": [1]}}, [1.0, 2.0]),
        name_study("kalman_residual-RIOT", search, {"space": SPACE}, [1.0, 2.5]),
    ):
        assert other != base


def test_storage_settings(tmp_path: Path) -> None:
    assert OptunaSearchConfig().storage == "auto"
    assert resolve_storage("auto", tmp_path / "f.journal") == f"journal:{tmp_path / 'f.journal'}"
    assert resolve_storage("auto", None) == "memory"
    assert resolve_storage("sqlite:///x.db", tmp_path) == "sqlite:///x.db"
    assert make_storage("memory") is None and make_storage(None) is None
    assert make_storage("auto") is None  # a library call without a store beside it
    make_storage(f"journal:{tmp_path / 'deep' / 'folder' / 'f.journal'}")
    assert (tmp_path / "deep" / "folder").is_dir()
    assert search_config({"kind": "optuna", "storage": None}).storage is None
