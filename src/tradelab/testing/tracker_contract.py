"""The `Tracker` contract: what every tracking backend must do, write side and read side.

Each check takes a fresh tracker and a scratch folder and fails with an `AssertionError`.
Run them all over an implementation with pytest::

    @pytest.mark.parametrize("check", TRACKER_CHECKS, ids=check_id)
    def test_tracker_contract(check, tmp_path):
        check(MyTracker(...), tmp_path)

Everything is read back through the tracker's own read side (`get_run`, `find_runs`,
`list_artifacts`, `load_text`, `load_dict`), so the suite says nothing about any backend.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from tradelab.testing._assert import raises
from tradelab.tracking.base import DatasetRef, RunRecord, RunStatus, Tracker
from tradelab.tracking.lineage import Lineage
from tradelab.tracking.liveness import (
    HEARTBEAT_TAG,
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    REPAIRED_TAG,
    ProcessId,
    heartbeat_tags,
    process_start,
)

__all__ = ["LINEAGE", "TRACKER_CHECKS", "TrackerCheck", "check_id"]

TrackerCheck = Callable[[Tracker, Path], None]

LINEAGE = Lineage.collect("abc123", data_hash="d00d", seed=3, overrides=["symbol=SMH"]).tags()
"""Lineage tags as the apps set them (config hash `abc123`, data hash `d00d`)."""

_LINEAGE_KEYS = (
    "git_commit",
    "git_dirty",
    "config_hash",
    "data_hash",
    "seed",
    "hydra_overrides",
    "tradelab_version",
)


def check_id(check: TrackerCheck) -> str:
    """Return a short test id for a check."""
    return check.__name__.removeprefix("check_")


def _tick() -> None:
    """Let the clock move, so runs started one after the other have distinct start times."""
    time.sleep(0.005)


def _own(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a run was given (those tradelab records on every run left out)."""
    return {k: v for k, v in tags.items() if not k.startswith("tradelab.")}


# -- write side, read back -------------------------------------------------------------------
def check_job_records_params_metrics_tags_and_config(tracker: Tracker, workdir: Path) -> None:
    """A job keeps its params (as strings), metrics (None dropped), lineage tags and config."""
    with tracker.start_job(
        "wfo/SMH", "job", tags=LINEAGE, params={"grid": "slim", "x": 0.5}, config={"a": {"b": 1}}
    ) as job:
        job.log_metrics({"oos_pnl": 12.5, "skip": None})
    run = tracker.get_run(job.run_id)
    assert run.status is RunStatus.FINISHED, run.status
    assert run.name == "job" and run.experiment == "wfo/SMH" and run.parent_id is None
    assert run.params == {"grid": "slim", "x": "0.5"}, run.params
    assert run.metrics == {"oos_pnl": 12.5}, run.metrics
    for key in _LINEAGE_KEYS:
        assert key in run.tags, key
    assert run.tags["config_hash"] == "abc123"
    assert run.tags["hydra_overrides"] == "symbol=SMH"
    assert "config.yaml" in tracker.list_artifacts(job.run_id)
    assert tracker.load_dict(job.run_id, "config.yaml") == {"a": {"b": 1}}


def check_curves_are_step_metrics(tracker: Tracker, workdir: Path) -> None:
    """A curve is a metric's steps: long ones thinned to each bucket's extremes (first and last
    kept, so a one-bar drawdown still shows), NaNs dropped; the run's metric is the value at
    the last step; no curve, no history."""
    values = 100_000.0 + np.arange(5000, dtype=np.float64)
    values[7] = np.nan
    values[2503] = 50_000.0  # a one-bar crash, between evenly spaced points
    with tracker.start_job("wfo/SMH", "curve") as job:
        kept = job.log_curve("equity", values, steps=np.arange(5000) + 60, max_points=1000)
        job.log_curve("short", [1.0, 2.0, 3.0])
    history = tracker.metric_history(job.run_id, "equity")
    assert len(history) == kept <= 1000 and kept >= 990, kept
    assert history[0] == (60, 100_000.0) and history[-1] == (5059, 104_999.0), history[-1]
    assert (2563, 50_000.0) in history  # the crash is drawn
    assert all(value == values[step - 60] for step, value in history)
    assert [s for s, _ in history] == sorted({s for s, _ in history})
    assert tracker.metric_history(job.run_id, "short") == [(0, 1.0), (1, 2.0), (2, 3.0)]
    assert tracker.get_run(job.run_id).metrics["equity"] == 104_999.0
    assert tracker.metric_history(job.run_id, "absent") == []


def check_tables_are_previewable_json(tracker: Tracker, workdir: Path) -> None:
    """A table artifact is JSON in pandas' "split" layout (what the MLflow UI previews);
    another suffix is refused before anything is written."""
    import pandas as pd

    frame = pd.DataFrame({"combo": [3, 1], "score": [1.5, 0.25], "regime": ["TIGHT", "WIDE"]})
    with tracker.start_job("wfo/SMH", "table") as job:
        job.log_table(frame, "candidates/top.json")
        with raises(ValueError, match=r"\*\.json"):
            job.log_table(frame, "candidates/top.parquet")
    assert "candidates/top.json" in tracker.list_artifacts(job.run_id)
    assert "candidates/top.parquet" not in tracker.list_artifacts(job.run_id)
    loaded = json.loads(tracker.load_text(job.run_id, "candidates/top.json"))
    assert loaded["columns"] == ["combo", "score", "regime"]
    assert loaded["data"] == [[3, 1.5, "TIGHT"], [1, 0.25, "WIDE"]]


def check_inputs_name_the_data_a_run_read(tracker: Tracker, workdir: Path) -> None:
    """A job's dataset inputs come back once each, with their digest, source, context and
    profile; its children have none of them."""
    smh = DatasetRef("SMH/1day", "c0ffee", str(workdir / "SMH.parquet"), profile={"rows": 252})
    qqq = DatasetRef("QQQ/1day", "beef01", str(workdir / "QQQ.parquet"), context="eval")
    with tracker.start_job("wfo/SMH", "job", tags=LINEAGE) as job:
        job.log_inputs([smh, qqq])
        job.log_inputs([smh])
        with job.child("phase1") as child:
            child.log_metrics({"x": 1.0})
    got = tracker.get_run(job.run_id).inputs
    assert sorted(got, key=lambda r: r.name) == [qqq, smh], got
    assert tracker.get_run(child.run_id).inputs == ()


def check_trials_are_finished_children_with_lineage(tracker: Tracker, workdir: Path) -> None:
    """`log_trial` makes finished child runs that inherit the job's lineage tags."""
    with tracker.start_job("kalman_residual/RIOT", "search", tags=LINEAGE) as job:
        ids = [
            job.log_trial({"q": q}, {"sharpe": q * 10}, name=f"trial-{i}")
            for i, q in enumerate([0.1, 0.2])
        ]
    children = tracker.find_runs("kalman_residual/RIOT", parent=job.run_id)
    assert sorted(r.run_id for r in children) == sorted(ids)
    for trial_id, q in zip(ids, [0.1, 0.2], strict=True):
        trial = tracker.get_run(trial_id)
        assert trial.status is RunStatus.FINISHED
        assert trial.parent_id == job.run_id
        assert trial.params == {"q": repr(q)}, trial.params
        assert set(trial.metrics) == {"sharpe"}
        assert math.isclose(trial.metrics["sharpe"], q * 10)
        assert trial.tags["config_hash"] == "abc123"


def check_exception_ends_job_and_child_failed(tracker: Tracker, workdir: Path) -> None:
    """An exception ends the job and its open child FAILED and names the error."""
    with raises(ZeroDivisionError):
        with tracker.start_job("wfo/QQQ", "boom", tags=LINEAGE) as job:
            with job.child("phase1") as child:
                _ = 1 / 0
    assert tracker.get_run(job.run_id).status is RunStatus.FAILED
    assert tracker.get_run(child.run_id).status is RunStatus.FAILED
    assert tracker.get_run(child.run_id).parent_id == job.run_id
    assert "ZeroDivisionError" in tracker.get_run(job.run_id).tags["error"]


def check_keyboard_interrupt_ends_job_killed(tracker: Tracker, workdir: Path) -> None:
    """Ctrl-C ends the job KILLED."""
    with raises(KeyboardInterrupt):
        with tracker.start_job("wfo/QQQ", "ctrl-c") as job:
            raise KeyboardInterrupt
    assert tracker.get_run(job.run_id).status is RunStatus.KILLED


def check_artifacts_files_folders_text_and_figure(tracker: Tracker, workdir: Path) -> None:
    """Files, folders, text, dicts and figures become artifacts whose content reads back."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = workdir / "contract_files"
    files.mkdir(parents=True, exist_ok=True)
    table = files / "trials.csv"
    table.write_text("a,b\n1,2\n")
    folder = files / "exports"
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    (folder / "sub" / "x.csv").write_text("x\n")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with tracker.start_job("wfo/SMH", "art") as job:
        job.log_artifact(table)
        job.log_artifact(table, "tables")
        job.log_artifact(folder)
        job.log_text("hello", "notes/readme.txt")
        job.log_dict({"k": 1}, "result.json")
        job.log_dict({"k": [1, 2]}, "result.yaml")
        job.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    assert tracker.list_artifacts(job.run_id) == [
        "exports/sub/x.csv",
        "notes/readme.txt",
        "plots/curve.png",
        "result.json",
        "result.yaml",
        "tables/trials.csv",
        "trials.csv",
    ], tracker.list_artifacts(job.run_id)
    assert tracker.load_text(job.run_id, "notes/readme.txt") == "hello"
    assert tracker.load_text(job.run_id, "tables/trials.csv") == "a,b\n1,2\n"
    assert tracker.load_text(job.run_id, "exports/sub/x.csv") == "x\n"
    assert tracker.load_dict(job.run_id, "result.json") == {"k": 1}
    assert tracker.load_dict(job.run_id, "result.yaml") == {"k": [1, 2]}


def check_end_is_idempotent_and_explicit_status(tracker: Tracker, workdir: Path) -> None:
    """The first `end` wins."""
    job = tracker.start_job("forecast/AAPL", "manual")
    assert tracker.get_run(job.run_id).status is RunStatus.RUNNING
    job.end(RunStatus.KILLED)
    job.end(RunStatus.FINISHED)
    assert tracker.get_run(job.run_id).status is RunStatus.KILLED


def check_experiment_names_are_family_slash_target(tracker: Tracker, workdir: Path) -> None:
    """An experiment must be named `<family>/<target>`."""
    with raises(ValueError, match="family"):
        tracker.start_job("no-family", "x")


def check_every_run_carries_family_and_target(tracker: Tracker, workdir: Path) -> None:
    """Jobs, children and trials are tagged with their address's family and target (the tags
    a runs table filters a family's experiment on); a target never leaks into another's."""
    with tracker.start_job("wfo/SMH", "atr_d_l demo", tags={"target": "ignored"}) as job:
        with job.child("phase 1") as phase:
            trial = phase.log_trial({"w": 1}, {"s": 1.0}, name="trial 1")
    tracker.start_job("wfo/QQQ", "atr_d_l demo").end()
    for run_id in (job.run_id, phase.run_id, trial):
        tags = tracker.get_run(run_id).tags
        assert (tags["family"], tags["target"]) == ("wfo", "SMH"), tags
    assert tracker.get_run(job.run_id).name == "atr_d_l demo"
    assert [r.run_id for r in tracker.find_runs("wfo/SMH", top_level=True)] == [job.run_id]
    assert len(tracker.find_runs("wfo/SMH")) == 3


# -- read side -------------------------------------------------------------------------------
def check_targets_of_a_family(tracker: Tracker, workdir: Path) -> None:
    """`targets` lists the targets of one family only, sorted."""
    for experiment in ("wfo/SMH", "wfo/QQQ", "wfo/SMH", "kalman_pairs/DIA-SPY"):
        tracker.start_job(experiment, "job").end()
    assert tracker.targets("wfo") == ["QQQ", "SMH"]
    assert tracker.targets("kalman_pairs") == ["DIA-SPY"]
    assert tracker.targets("kalman") == []  # a prefix of another family is not that family
    assert tracker.targets("forecast") == []


def check_find_runs_filters_and_orders_newest_first(tracker: Tracker, workdir: Path) -> None:
    """`find_runs` filters by tags, status, parent and top level, newest first, up to `limit`."""
    with tracker.start_job("wfo/SMH", "old", tags={"data_hash": "d1"}) as old:
        old_ids = [
            old.log_trial({"w": w}, {"s": float(w)}, tags={"candidate": "true"}) for w in (1, 2)
        ]
    _tick()
    with tracker.start_job("wfo/SMH", "new", tags={"data_hash": "d2"}) as new:
        _tick()
        kept = new.log_trial({"w": 3}, {"s": 3.0}, tags={"candidate": "true", "note": "it's"})
        _tick()
        new.log_trial({"w": 4}, {"s": 4.0}, tags={"candidate": "false"})
    _tick()
    with raises(RuntimeError):
        with tracker.start_job("wfo/SMH", "failed", tags={"data_hash": "d2"}):
            raise RuntimeError("boom")
    _tick()
    running = tracker.start_job("wfo/SMH", "running", tags={"data_hash": "d3"})

    jobs = tracker.find_runs("wfo/SMH", top_level=True)
    assert [r.name for r in jobs] == ["running", "failed", "new", "old"], [r.name for r in jobs]
    assert all(isinstance(r, RunRecord) for r in jobs)
    starts = [r.start_time for r in jobs]
    assert starts == sorted(starts, reverse=True) and all(s > 0 for s in starts)
    finished = tracker.find_runs("wfo/SMH", status=RunStatus.FINISHED, top_level=True)
    assert [r.name for r in finished] == ["new", "old"]
    assert [r.name for r in tracker.find_runs("wfo/SMH", status="RUNNING")] == ["running"]
    assert [r.name for r in tracker.find_runs("wfo/SMH", top_level=True, limit=2)] == [
        "running",
        "failed",
    ]
    candidates = tracker.find_runs("wfo/SMH", tags={"candidate": "true"}, status="FINISHED")
    assert sorted(r.run_id for r in candidates) == sorted([*old_ids, kept])
    assert candidates[0].run_id == kept  # newest first
    assert all(r.parent_id in (old.run_id, new.run_id) for r in candidates)
    assert [r.run_id for r in tracker.find_runs("wfo/SMH", tags={"note": "it's"})] == [kept]
    tagged = tracker.find_runs("wfo/SMH", tags={"data_hash": "d2", "candidate": "true"})
    assert [r.run_id for r in tagged] == [kept]  # children carry their job's lineage tags
    children = tracker.find_runs("wfo/SMH", parent=new.run_id)
    assert [r.params["w"] for r in children] == ["4", "3"]
    assert [r.params["w"] for r in tracker.find_runs("wfo/SMH", parent=new.run_id, limit=1)] == [
        "4"
    ]
    assert tracker.find_runs("wfo/SMH", tags={"candidate": "maybe"}) == []
    assert tracker.find_runs("wfo/NOPE") == []
    with raises(ValueError):
        tracker.find_runs("wfo/SMH", parent=new.run_id, top_level=True)
    running.end()


def check_get_run_returns_a_snapshot_without_backend_tags(tracker: Tracker, workdir: Path) -> None:
    """`get_run` returns a frozen snapshot with each metric at its latest step; bookkeeping
    tags of the backend stay out."""
    with tracker.start_job("forecast/AAPL", "job", tags={"family": "forecast"}) as job:
        job.log_metrics({"mae": 1.0}, step=0)
        job.log_metrics({"mae": 0.5}, step=2)
        job.log_metrics({"mae": 0.7}, step=1)  # a late step-1 value: step 2 stays the latest
        child = job.log_trial({"a": 1}, {"b": 2.0}, name="t")
        before = tracker.get_run(job.run_id)
        job.log_metrics({"later": 1.0})
        job.set_tags({"late": "yes"})
    assert before.metrics == {"mae": 0.5} and before.status is RunStatus.RUNNING
    assert "late" not in before.tags
    after = tracker.get_run(job.run_id)
    assert after.metrics == {"mae": 0.5, "later": 1.0} and after.tags["late"] == "yes"
    assert _own(after.tags) == {"family": "forecast", "target": "AAPL", "late": "yes"}, after.tags
    assert _own(tracker.get_run(child).tags) == {"family": "forecast", "target": "AAPL"}
    assert tracker.get_run(child).name == "t"
    with raises(dataclasses.FrozenInstanceError):
        after.name = "changed"  # type: ignore[misc]


def check_missing_runs_and_artifacts_are_errors(tracker: Tracker, workdir: Path) -> None:
    """An unknown run is a `KeyError`; a missing artifact a `FileNotFoundError`."""
    with tracker.start_job("wfo/SMH", "job") as job:
        job.log_text("x", "notes/a.txt")
    unknown = "0123456789abcdef0123456789abcdef"
    with raises(KeyError):
        tracker.get_run(unknown)
    with raises(KeyError):
        tracker.load_text(unknown, "config.yaml")
    with raises(FileNotFoundError):
        tracker.load_text(job.run_id, "config.yaml")
    with raises(FileNotFoundError):
        tracker.load_text(job.run_id, "notes/b.txt")
    with raises(FileNotFoundError):
        tracker.load_dict(job.run_id, "notes")  # a folder is not an artifact file
    assert tracker.list_artifacts(job.run_id) == ["notes/a.txt"]


# -- where runs run, and runs left RUNNING -----------------------------------------------------
def check_every_run_records_its_process(tracker: Tracker, workdir: Path) -> None:
    """Jobs, child runs and trials carry the host, pid and start time of their process."""
    here = ProcessId.current()
    with tracker.start_job("wfo/SMH", "job", tags=LINEAGE) as job:
        with job.child("phase1") as child:
            pass
        trial = job.log_trial({"a": 1}, {"b": 1.0})
    for run_id in (job.run_id, child.run_id, trial):
        tags = tracker.get_run(run_id).tags
        assert tags[HOST_TAG] == here.host and tags[PID_TAG] == str(os.getpid()), tags
        assert tags.get(PROCESS_START_TAG) == process_start(os.getpid()), tags
    assert PID_TAG not in job.inherited_tags  # lineage only: a rerun's children say their own


def check_heartbeat_beats_until_the_job_ends(tracker: Tracker, workdir: Path) -> None:
    """With `heartbeat_s` set, a job refreshes its heartbeat tag until it ends, then stops."""
    tracker.heartbeat_s = 0.05
    job = tracker.start_job("wfo/SMH", "long")
    deadline = time.monotonic() + 10
    while HEARTBEAT_TAG not in tracker.get_run(job.run_id).tags:
        assert time.monotonic() < deadline, "no heartbeat within 10 s"
        time.sleep(0.02)
    with job.child("phase1") as child:
        pass
    job.end()
    last = tracker.get_run(job.run_id).tags[HEARTBEAT_TAG]
    time.sleep(0.25)
    after = tracker.get_run(job.run_id)
    assert after.status is RunStatus.FINISHED and after.tags[HEARTBEAT_TAG] == last
    assert HEARTBEAT_TAG not in tracker.get_run(child.run_id).tags  # children follow their job


def check_running_runs_and_end_run(tracker: Tracker, workdir: Path) -> None:
    """`running_runs` lists the RUNNING runs of every experiment, newest first; `end_run` ends
    one with tags, once."""
    tracker.start_job("wfo/SMH", "done").end()
    _tick()
    first = tracker.start_job("wfo/SMH", "first")
    _tick()
    second = tracker.start_job("forecast/AAPL", "second")
    _tick()
    child = second.child("trial")
    running = tracker.running_runs()
    assert [r.run_id for r in running] == [child.run_id, second.run_id, first.run_id]
    assert all(r.status is RunStatus.RUNNING for r in running)
    assert {r.experiment for r in running} == {"wfo/SMH", "forecast/AAPL"}
    assert tracker.end_run(first.run_id, RunStatus.FAILED, tags={"why": "test"})
    ended = tracker.get_run(first.run_id)
    assert ended.status is RunStatus.FAILED and ended.tags["why"] == "test"
    assert not tracker.end_run(first.run_id, RunStatus.KILLED)  # no longer RUNNING
    assert tracker.get_run(first.run_id).status is RunStatus.FAILED
    with raises(KeyError):
        tracker.end_run("0123456789abcdef0123456789abcdef", RunStatus.FAILED)
    child.end()
    second.end()
    first.end()  # the job's own end after a repair changes nothing it need not
    assert tracker.running_runs() == []


def _dead_pid() -> int:
    """Return the pid of a process that has ended."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def check_repair_ends_runs_of_dead_processes_failed(tracker: Tracker, workdir: Path) -> None:
    """Runs whose process is gone from this host, or whose other host's heartbeat is too old,
    end FAILED with the reason (their RUNNING children too); live runs stay RUNNING."""
    stale_after = 600.0
    live = tracker.start_job("wfo/SMH", "live")
    dead = tracker.start_job("wfo/SMH", "dead")
    dead_child = dead.child("phase1")
    dead_pid = _dead_pid()
    dead.set_tags({PID_TAG: str(dead_pid)})
    dead_child.set_tags({PID_TAG: str(dead_pid)})
    far = {HOST_TAG: "elsewhere.invalid"}
    lost = tracker.start_job("forecast/AAPL", "lost")
    lost.set_tags({**far, **heartbeat_tags(time.time() - 2 * stale_after)})
    lost_child = lost.child("trial")
    busy = tracker.start_job("forecast/AAPL", "busy")
    busy.set_tags({**far, **heartbeat_tags(time.time())})
    finished = tracker.start_job("wfo/SMH", "finished")
    finished.set_tags({PID_TAG: str(dead_pid)})
    finished.end()
    reused = None
    if process_start(os.getpid()) is not None:  # the OS tells start times: a reused pid is seen
        reused = tracker.start_job("wfo/SMH", "reused")
        reused.set_tags({PROCESS_START_TAG: "1.00"})

    now = time.time()  # one clock for both passes: a reason says how long a run was silent
    found = {s.run.run_id: s.reason for s in tracker.stale_runs(stale_after_s=stale_after, now=now)}
    expected = {dead.run_id, dead_child.run_id, lost.run_id, lost_child.run_id}
    assert set(found) == expected | ({reused.run_id} if reused else set()), found
    assert tracker.get_run(dead.run_id).status is RunStatus.RUNNING  # stale_runs changes nothing
    repaired = tracker.repair_runs(stale_after_s=stale_after, now=now)
    order = [s.run.run_id for s in repaired]
    assert order.index(dead_child.run_id) < order.index(dead.run_id)  # children first
    for run_id in found:
        run = tracker.get_run(run_id)
        assert run.status is RunStatus.FAILED and run.tags[REPAIRED_TAG] == found[run_id]
    assert f"process {dead_pid} on host" in found[dead.run_id] and "gone" in found[dead.run_id]
    assert found[dead_child.run_id].startswith(f"parent run {dead.run_id}: ")
    assert "elsewhere.invalid" in found[lost.run_id] and "no sign of life" in found[lost.run_id]
    if reused is not None:
        assert "is now a process started at" in found[reused.run_id]
    for kept in (live, busy):
        assert tracker.get_run(kept.run_id).status is RunStatus.RUNNING
    assert REPAIRED_TAG not in tracker.get_run(finished.run_id).tags
    assert tracker.get_run(finished.run_id).status is RunStatus.FINISHED
    assert tracker.repair_runs(stale_after_s=stale_after) == []  # nothing left to repair
    live.end()
    busy.end()


TRACKER_CHECKS: tuple[TrackerCheck, ...] = (
    check_job_records_params_metrics_tags_and_config,
    check_inputs_name_the_data_a_run_read,
    check_curves_are_step_metrics,
    check_tables_are_previewable_json,
    check_trials_are_finished_children_with_lineage,
    check_exception_ends_job_and_child_failed,
    check_keyboard_interrupt_ends_job_killed,
    check_artifacts_files_folders_text_and_figure,
    check_end_is_idempotent_and_explicit_status,
    check_experiment_names_are_family_slash_target,
    check_every_run_carries_family_and_target,
    check_targets_of_a_family,
    check_find_runs_filters_and_orders_newest_first,
    check_get_run_returns_a_snapshot_without_backend_tags,
    check_missing_runs_and_artifacts_are_errors,
    check_every_run_records_its_process,
    check_heartbeat_beats_until_the_job_ends,
    check_running_runs_and_end_run,
    check_repair_ends_runs_of_dead_processes_failed,
)
"""Every check of the tracker contract, in order."""
