"""`tradelab-wfo executor=dask` end to end: the candidates file equals the local run's, byte for
byte, on an in-process LocalCluster and on a running scheduler shared by two drivers at once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from .test_cli import BIN, run_app

pytestmark = pytest.mark.slow
SWEEP = ["strategy=atr_d_ls", "grid=smoke", "phases=compact", "progress=false", "expand=false"]
SYMBOLS = ("SMH", "QQQ")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wfo_dask")
    ok = run_app(
        "ingest", "data.mode=planted", "data.daily_years=8.5", "data.minute_days=0",
        "data.symbols=[SMH,QQQ]", "timeframes=[1day]", "progress=false", cwd=root,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr[-2000:]
    for symbol in SYMBOLS:
        local = run_app("wfo", f"symbol={symbol}", *SWEEP, "paths.results_dir=local", cwd=root)
        assert local.returncode == 0, local.stderr[-3000:]
    return root


def _candidates(root: Path, results: str, symbol: str) -> bytes:
    [path] = (root / results / symbol).glob("candidates_*.parquet")
    return path.read_bytes()


def test_local_cluster_gives_the_local_candidates_byte_for_byte(workdir: Path) -> None:
    run = run_app(
        "wfo", "symbol=SMH", *SWEEP, "executor=dask", "executor.task_size=3",
        "paths.results_dir=dask", "tracking=memory", cwd=workdir,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert _candidates(workdir, "dask", "SMH") == _candidates(workdir, "local", "SMH")
    # one line about the cluster, not Dask's own INFO lines for every worker and connection
    log = run.stdout + run.stderr
    assert "Dask LocalCluster: 2 worker processes" in log
    assert "[distributed." not in log, log[-2000:]


def test_two_drivers_share_one_scheduler(workdir: Path, dask_scheduler: str) -> None:
    """Two sweeps at once (as a Hydra multirun over symbols would) on the same cluster."""
    shared = [
        "executor=dask", f"executor.address={dask_scheduler}", "executor.task_size=2",
        "paths.results_dir=shared", "tracking=memory",
    ]  # fmt: skip
    drivers = [
        subprocess.Popen(
            [str(BIN / "tradelab-wfo"), f"symbol={symbol}", *SWEEP, *shared],
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for symbol in SYMBOLS
    ]
    for driver in drivers:
        _, err = driver.communicate(timeout=300)
        assert driver.returncode == 0, err[-3000:]
    for symbol in SYMBOLS:
        assert _candidates(workdir, "shared", symbol) == _candidates(workdir, "local", symbol)


def test_an_unreachable_scheduler_is_one_line(workdir: Path) -> None:
    run = run_app(
        "wfo", "symbol=SMH", *SWEEP, "executor=dask", "executor.address=tcp://127.0.0.1:9",
        "tracking=memory", cwd=workdir,
    )  # fmt: skip
    assert run.returncode == 2
    assert "executor.address" in run.stderr and "Traceback" not in run.stderr
