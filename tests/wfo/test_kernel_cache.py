"""The ATR-D kernels load from numba's disk cache: a later process compiles nothing and gets
the same results, also when the variants were compiled by different processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs the sweeps named on the command line (`sim:<kind>` through the simulate kernel,
# `trace:<kind>` through the trace kernel, `prepare`: indicators only) on tiny synthetic data;
# prints the functions numba compiled on the way and a digest of each sweep's results (JSON).
CHILD = """
import hashlib, json, sys
import numpy as np
from numba.core import event

with event.install_recorder("numba:compile") as rec:
    from tests.wfo.conftest import make_bars, small_spec
    from tradelab.search.grid import Grid
    from tradelab.wfo.engine import evaluate_combos, prepare_phase, trace_combos
    from tradelab.wfo.phases import Phase

    data = make_bars(300, seed=3)
    phase = Phase("p", warmup_start=20, is_start=50, oos_start=200, oos_end=299)
    grid = Grid.from_config({"atr_period": [3, 5], "atr_multiplier": [1.0, 2.0, 3.0]})
    digests = {}
    for job in sys.argv[1:]:
        if job == "prepare":
            for kind in ("atr_d_l", "atr_d_hma_l", "atr_d_ls"):
                prepare_phase(data, small_spec(kind), grid, phase)
            continue
        how, kind = job.split(":")
        digest = hashlib.sha256()
        if how == "sim":
            res = evaluate_combos(data, small_spec(kind), grid, phase, n_blocks=2)
            for name in sorted(res.metrics):
                digest.update(res.metrics[name].tobytes())
            digest.update(res.block_ret_sum.tobytes())
        else:
            combos = np.arange(grid.size)
            for trades in trace_combos(data, small_spec(kind), grid, phase, combos)[0]:
                digest.update(trades.tobytes())
        digests[job] = digest.hexdigest()
compiled = [ev.data["dispatcher"].py_func.__qualname__ for _, ev in rec.buffer if ev.is_start]
print(json.dumps({"compiled": compiled, "digests": digests}))
"""
JOBS = ["sim:atr_d_l", "sim:atr_d_hma_l", "sim:atr_d_ls", "trace:atr_d_ls"]


def _run_child(cache_dir: Path, *jobs: str) -> dict:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    env.pop("NUMBA_DISABLE_JIT", None)
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, *jobs],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_kernels_compiled_by_separate_processes_load_together(tmp_path: Path) -> None:
    cache = tmp_path / "numba"
    _run_child(cache, "prepare")  # the indicators, so that each process below compiles one kernel
    cold = {}
    for job in JOBS:  # fresh processes in the same state: numba numbers their functions alike
        run = _run_child(cache, job)
        assert run["compiled"], f"{job}: nothing compiled in an unfilled cache"
        cold.update(run["digests"])
    warm = _run_child(cache, *JOBS)
    assert warm["compiled"] == [], f"recompiled with a populated cache: {warm['compiled']}"
    assert warm["digests"] == cold
