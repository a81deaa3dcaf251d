"""WFO chunks on Dask distributed: the same cache and the same numbers as the local run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tradelab.errors import ConfigError
from tradelab.kernels.enums import METRIC_NAMES
from tradelab.wfo.cache import load_phase_dir
from tradelab.wfo.data import WfoData
from tradelab.wfo.executor import DaskExecutor, task_ranges
from tradelab.wfo.runner import run_wfo

from .conftest import small_spec
from .test_runner import GRID, PHASES

pytestmark = pytest.mark.slow


def _sweep(data: WfoData, cache: Path, executor: DaskExecutor | None = None, **kw):
    return run_wfo(
        data, small_spec("atr_d_ls"), GRID, PHASES, cache_dir=cache, chunk_size=16,
        batch_size=8, n_blocks=4, progress=False, executor=executor, **kw,
    )  # fmt: skip


def _files(cache: Path) -> dict[str, bytes]:
    return {str(p.relative_to(cache)): p.read_bytes() for p in sorted(cache.rglob("*.npy"))}


def test_task_ranges_never_cross_a_chunk() -> None:
    assert task_ranges(0, 10, 4, 3) == [(0, 3), (3, 4), (4, 7), (7, 8), (8, 10)]
    assert task_ranges(8, 10, 4, 3) == [(8, 10)]
    assert task_ranges(10, 10, 4, 3) == []


@pytest.mark.parametrize("workers_write", [None, False], ids=["workers-write", "driver-writes"])
def test_dask_local_cluster_writes_the_local_runs_cache_byte_for_byte(
    bars: WfoData, tmp_path: Path, workers_write: bool | None
) -> None:
    """Workers of a LocalCluster write into the cache themselves; a remote cluster's workers
    send their arrays to the driver (`workers_write=False` here)."""
    _sweep(bars, tmp_path / "local")
    with DaskExecutor(n_workers=2, task_size=5, workers_write=workers_write) as executor:
        result = _sweep(bars, tmp_path / "dask", executor)
    assert result.n_evaluated == 2 * GRID.size
    local, dask = _files(tmp_path / "local"), _files(tmp_path / "dask")
    assert sorted(local) == sorted(dask) and all(local[k] == dask[k] for k in local)
    for k in (1, 2):
        manifest = json.loads((tmp_path / "dask" / f"phase{k}" / "manifest.json").read_text())
        assert manifest["complete"] and manifest["chunks_done"] == manifest["n_chunks"]


def test_a_sweep_started_on_dask_resumes_locally(bars: WfoData, tmp_path: Path) -> None:
    """The chunk cache is the executor's common ground: phase 1 on Dask, phase 2 here."""
    with DaskExecutor(n_workers=1, task_size=7) as executor:
        _sweep(bars, tmp_path / "mixed", executor)
    # drop phase 2's results: the local run must redo exactly that phase
    for path in (tmp_path / "mixed" / "phase2").iterdir():
        path.unlink()
    resumed = _sweep(bars, tmp_path / "mixed")
    assert [p.n_evaluated for p in resumed.phases] == [0, GRID.size]
    _sweep(bars, tmp_path / "local")
    for k in (1, 2):
        a = load_phase_dir(tmp_path / "mixed" / f"phase{k}")
        b = load_phase_dir(tmp_path / "local" / f"phase{k}")
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(a[name], b[name])


def test_an_unreachable_scheduler_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"executor\.address"):
        with DaskExecutor(address="tcp://127.0.0.1:9"):
            pass


def test_a_worker_killed_mid_sweep_loses_nothing(bars: WfoData, tmp_path: Path) -> None:
    """SIGKILL a worker that holds tasks: the scheduler runs them again on the other worker (or
    the nanny's replacement); every range is written once and the cache equals the local one."""
    import os
    import signal

    killed: list[int] = []
    with DaskExecutor(n_workers=2, task_size=2) as executor:
        client = executor.client
        pids = client.run(os.getpid)

        def kill_once(_: int) -> None:
            if killed:
                return
            busy = [w for w, tasks in client.processing().items() if tasks]
            if busy:
                killed.append(pids[busy[0]])
                os.kill(pids[busy[0]], signal.SIGKILL)

        result = _sweep(bars, tmp_path / "dask", executor, on_advance=kill_once)
    assert killed, "no worker held a task when the sweep advanced"
    assert [p.n_evaluated for p in result.phases] == [GRID.size, GRID.size]
    _sweep(bars, tmp_path / "local")
    local, dask = _files(tmp_path / "local"), _files(tmp_path / "dask")
    assert sorted(local) == sorted(dask) and all(local[k] == dask[k] for k in local)


def test_workers_running_other_code_are_refused(bars: WfoData, tmp_path: Path) -> None:
    """A worker whose kernels' sources differ would fill the cache with other numbers."""
    import tradelab.wfo.cache as cache_module

    with DaskExecutor(n_workers=1) as executor:
        executor.client.run(
            lambda: setattr(cache_module, "code_version", lambda: "0.0+elsewhere") or None
        )
        with pytest.raises(ConfigError, match="another tradelab"):
            _sweep(bars, tmp_path / "dask", executor)
