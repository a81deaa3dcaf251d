"""Which process does the work, and whether a recorded one still runs.

A process is named by its host, its pid and its start time (epoch seconds, from `/proc`), so a
later process that reuses the pid is told apart. Runs (`tradelab.tracking.liveness`) and Optuna
trials (`tradelab.search.optuna_search`) record the process evaluating them with it; a resume on
the same host then knows whether that process is gone.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["ProcessId", "process_gone", "process_start"]

_PROC = Path("/proc")


def _boot_time() -> float | None:
    try:
        for line in (_PROC / "stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def process_start(pid: int) -> str | None:
    """Return when process `pid` started (epoch seconds, 2 decimals); None when the OS does not
    say (no such process, or no /proc)."""
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    boot = _boot_time()
    if boot is None:
        return None
    # fields after the command name (which may hold spaces and parentheses); starttime is the 22nd
    ticks = int(stat.rpartition(")")[2].split()[19])
    return f"{boot + ticks / os.sysconf('SC_CLK_TCK'):.2f}"


def _pid_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@dataclass(frozen=True)
class ProcessId:
    """A process, told apart from a later one that reuses its pid by its start time."""

    host: str
    pid: int
    start: str | None = None

    @classmethod
    def current(cls) -> ProcessId:
        """Return this process (looked up again after a fork)."""
        pid = os.getpid()
        cached = _current.get(pid)
        if cached is None:
            cached = cls(socket.gethostname(), pid, process_start(pid))
            _current.clear()
            _current[pid] = cached
        return cached

    def __str__(self) -> str:
        """`host:pid:start` (start empty when unknown); `parse` reads it back."""
        return f"{self.host}:{self.pid}:{self.start or ''}"

    @classmethod
    def parse(cls, text: str) -> ProcessId | None:
        """Return the process `str(process)` named; None for anything else."""
        host, sep, rest = text.rpartition(":")
        host, sep2, pid = host.rpartition(":")
        if not (sep and sep2 and host and pid.isdigit()):
            return None
        return cls(host, int(pid), rest or None)

    @property
    def here(self) -> bool:
        """Whether the process is (or was) on this host."""
        return self.host == ProcessId.current().host


_current: dict[int, ProcessId] = {}


def _iso(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="seconds")


def process_gone(proc: ProcessId) -> str | None:
    """Say why `proc` (a process of this host) no longer runs; None while it does."""
    where = f"process {proc.pid} on host {proc.host}"
    if not _pid_exists(proc.pid):
        return f"{where} is gone"
    now = process_start(proc.pid)
    if proc.start is not None and now is not None and now != proc.start:
        return f"{where} is gone (pid {proc.pid} is now a process started at {_iso(float(now))})"
    return None
