"""Whether a run's process still runs: process identity, the heartbeat thread, the staleness
rule, and the tracking settings that drive them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from tradelab.errors import ConfigError
from tradelab.tracking import MemoryTracker, RunStatus
from tradelab.tracking.liveness import (
    HEARTBEAT_TAG,
    HOST_TAG,
    PID_TAG,
    PROCESS_START_TAG,
    Heartbeat,
    ProcessId,
    heartbeat_tags,
    process_from_tags,
    process_gone,
    process_start,
    process_tags,
    staleness,
)
from tradelab.tracking.settings import TrackingConfig

HERE = ProcessId("here", 100, "5.00")
NOW = 1_800_000_000.0
LINUX = process_start(os.getpid()) is not None


def _ended_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_this_process_is_alive_and_an_ended_one_is_gone() -> None:
    me = ProcessId.current()
    assert me.pid == os.getpid() and process_gone(me) is None
    pid = _ended_pid()
    assert process_gone(ProcessId(me.host, pid)) == f"process {pid} on host {me.host} is gone"


@pytest.mark.skipif(not LINUX, reason="the OS does not tell process start times")
def test_a_reused_pid_is_another_process() -> None:
    me = ProcessId.current()
    assert me.start == process_start(os.getpid())
    older = ProcessId(me.host, me.pid, "1.00")
    assert "is now a process started at" in (process_gone(older) or "")


def test_process_tags_round_trip_and_runs_without_them_have_no_process() -> None:
    assert process_from_tags(process_tags(HERE)) == HERE
    assert process_from_tags({HOST_TAG: "h", PID_TAG: "12"}) == ProcessId("h", 12, None)
    assert process_from_tags({HOST_TAG: "h"}) is None
    assert process_from_tags({HOST_TAG: "h", PID_TAG: "x1"}) is None
    assert set(process_tags(HERE)) == {HOST_TAG, PID_TAG, PROCESS_START_TAG}


def _stale(tags: dict[str, str], start_s: float = NOW - 10, gone=lambda p: None) -> str | None:
    return staleness(tags, int(start_s * 1000), stale_after_s=600, now=NOW, here=HERE, gone=gone)


def test_a_run_of_this_host_is_judged_by_its_process_not_its_heartbeat() -> None:
    old = heartbeat_tags(NOW - 10_000)
    assert _stale({**process_tags(HERE), **old}) is None  # alive: an old heartbeat does not matter
    assert _stale(process_tags(HERE), gone=lambda p: f"{p.pid} gone") == "100 gone"


def test_a_run_of_another_host_is_judged_by_its_last_heartbeat_else_its_start() -> None:
    far = {HOST_TAG: "far", PID_TAG: "7"}
    assert _stale({**far, **heartbeat_tags(NOW - 599)}, start_s=NOW - 10_000) is None
    reason = _stale({**far, **heartbeat_tags(NOW - 601)})
    assert reason is not None and reason.startswith("process 7 on host far: no sign of life")
    assert "last heartbeat" in reason and "limit 600 s" in reason
    assert _stale(far, start_s=NOW - 100) is None
    assert "last start" in (_stale(far, start_s=NOW - 700) or "")
    anonymous = _stale({}, start_s=NOW - 700)  # a run from before runs recorded their process
    assert anonymous is not None and anonymous.startswith("a process that recorded no host")
    assert _stale({**far, HEARTBEAT_TAG: "garbage"}, start_s=NOW - 700) is not None


def test_heartbeat_beats_until_stopped_and_survives_a_failing_beat() -> None:
    beats: list[float] = []
    fail = threading.Event()

    def beat() -> None:
        beats.append(time.monotonic())
        if not fail.is_set():
            fail.set()
            raise RuntimeError("store locked")

    heart = Heartbeat(0.02, beat)
    deadline = time.monotonic() + 5
    while len(beats) < 3:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    heart.stop()
    assert not heart.alive
    count = len(beats)
    time.sleep(0.1)
    assert len(beats) == count
    with pytest.raises(ValueError):
        Heartbeat(0, beat)


def test_memory_jobs_beat_when_the_tracker_says_so() -> None:
    tracker = MemoryTracker(heartbeat_s=0.02)
    job = tracker.start_job("wfo/SMH", "job")
    deadline = time.monotonic() + 5
    while HEARTBEAT_TAG not in tracker.get_run(job.run_id).tags:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    job.end()
    assert tracker.get_run(job.run_id).status is RunStatus.FINISHED
    assert HEARTBEAT_TAG not in MemoryTracker().start_job("wfo/SMH", "quiet").inherited_tags


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"heartbeat_s": 0.0}, "tracking.heartbeat_s"),
        ({"stale_after_s": -1.0}, "tracking.stale_after_s"),
        ({"heartbeat_s": 60.0, "stale_after_s": 100.0}, "tracking.stale_after_s"),
    ],
)
def test_tracking_settings_refuse_a_limit_a_live_run_would_miss(changes: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        TrackingConfig(**changes)
    assert TrackingConfig(heartbeat_s=None, stale_after_s=10.0).heartbeat_s is None
