"""Where a run runs and whether it still does: process tags, the heartbeat, the staleness rule.

Every run records the process that started it: `tradelab.host`, `tradelab.pid` and
`tradelab.process_start` (when the process started, epoch seconds, where the OS says: Linux).
A job's heartbeat thread refreshes `tradelab.heartbeat` (UTC, ISO 8601) every `heartbeat_s`.

A RUNNING run is stale when its process is gone from this host (no such pid, or the pid now
belongs to a process started at another time), or, for a run of another host, when its last sign
of life (its heartbeat, else its start) is older than `stale_after_s`. Numba kernels hold the
Python GIL, so a heartbeat can be late by one kernel batch: keep `stale_after_s` well above it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from tradelab.processes import ProcessId, process_gone, process_start

__all__ = [
    "HEARTBEAT_TAG",
    "HOST_TAG",
    "PID_TAG",
    "PROCESS_START_TAG",
    "PROCESS_TAGS",
    "REPAIRED_TAG",
    "Heartbeat",
    "ProcessId",
    "heartbeat_tags",
    "process_from_tags",
    "process_gone",
    "process_start",
    "process_tags",
    "staleness",
]

log = logging.getLogger(__name__)

HOST_TAG = "tradelab.host"
PID_TAG = "tradelab.pid"
PROCESS_START_TAG = "tradelab.process_start"
HEARTBEAT_TAG = "tradelab.heartbeat"
REPAIRED_TAG = "tradelab.repaired"
"""Set on a run that `Tracker.repair_runs` ended: why it was ended."""
PROCESS_TAGS = (HOST_TAG, PID_TAG, PROCESS_START_TAG)


def process_tags(proc: ProcessId) -> dict[str, str]:
    """Return the tags that record `proc` on a run."""
    tags = {HOST_TAG: proc.host, PID_TAG: str(proc.pid)}
    if proc.start is not None:
        tags[PROCESS_START_TAG] = proc.start
    return tags


def process_from_tags(tags: Mapping[str, str]) -> ProcessId | None:
    """Return the process a run's tags record (None for a run without them)."""
    host, pid = tags.get(HOST_TAG), tags.get(PID_TAG)
    if not host or not pid or not pid.isdigit():
        return None
    return ProcessId(host, int(pid), tags.get(PROCESS_START_TAG))


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def heartbeat_tags(now: float | None = None) -> dict[str, str]:
    """Return the heartbeat tag stamped `now` (default: the current time)."""
    stamp = datetime.now(UTC) if now is None else datetime.fromtimestamp(now, UTC)
    return {HEARTBEAT_TAG: stamp.isoformat(timespec="seconds")}


def _last_sign_of_life(tags: Mapping[str, str], start_ms: int) -> tuple[float, str]:
    beat = tags.get(HEARTBEAT_TAG)
    if beat:
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(beat).timestamp(), "heartbeat"
    return start_ms / 1000.0, "start"


def staleness(
    tags: Mapping[str, str],
    start_ms: int,
    *,
    stale_after_s: float,
    now: float,
    here: ProcessId,
    gone: Callable[[ProcessId], str | None] = process_gone,
) -> str | None:
    """Say why a RUNNING run with these tags no longer runs; None while it may still run.

    A run of this host is judged by its process (`gone`); any other run (another host, or a run
    that recorded no process) by its last heartbeat, else its start, against `stale_after_s`.
    """
    proc = process_from_tags(tags)
    if proc is not None and proc.host == here.host:
        return gone(proc)
    seen, what = _last_sign_of_life(tags, start_ms)
    age = now - seen
    if age <= stale_after_s:
        return None
    where = f"process {proc.pid} on host {proc.host}" if proc else "a process that recorded no host"
    last = f"last {what} {_iso(seen)}, limit {stale_after_s:g} s"
    return f"{where}: no sign of life for {age:.0f} s ({last})"


class Heartbeat:
    """A daemon thread calling `beat()` every `interval_s` until `stop()`; a failing beat is
    logged and the next one tried (a heartbeat never fails its job)."""

    def __init__(
        self, interval_s: float, beat: Callable[[], None], name: str = "heartbeat"
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"heartbeat interval must be > 0, got {interval_s}")
        self.interval_s = float(interval_s)
        self._beat = beat
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self._beat()
            except Exception as exc:  # the job goes on; the next beat may succeed
                log.debug("heartbeat failed: %s", exc)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop beating; wait up to `timeout_s` for a beat in progress."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
