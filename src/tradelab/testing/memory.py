"""Peak memory of a command, sampled from /proc (Linux): for `bench/scale.py` and the memory
guard test, which run the apps as users do.

    run = run_sampled(["tradelab-wfo", "grid=full", ...], cwd=workdir)
    run.peak_anon   # bytes: the most RssAnon seen (what the process itself allocated)
    run.peak_rss    # bytes: VmHWM (memory-mapped file pages included)
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SampledRun", "run_sampled"]


@dataclass(frozen=True)
class SampledRun:
    returncode: int
    peak_rss: int
    peak_anon: int
    wall_s: float
    stderr: str


def _field(status: str, key: str) -> int:
    for line in status.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return 0


def run_sampled(
    cmd: Sequence[str],
    cwd: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    interval: float = 0.02,
    timeout: float | None = None,
) -> SampledRun:
    """Run `cmd` (stdout discarded) and sample its /proc status every `interval` seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    peaks = {"VmHWM": 0, "RssAnon": 0}

    def sample() -> None:
        status_file = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                status = status_file.read_text()
            except OSError:
                return
            for key in peaks:
                peaks[key] = max(peaks[key], _field(status, key))
            time.sleep(interval)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, err = proc.communicate(timeout=timeout)
    wall = time.perf_counter() - t0
    watcher.join()
    return SampledRun(
        proc.returncode, peaks["VmHWM"], peaks["RssAnon"], wall, err.decode(errors="replace")
    )
