"""`python -m tradelab.testing.services`: starts PostgreSQL (and what is asked) on 127.0.0.1,
writes the addresses the tests read, and stops everything it started."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tradelab.testing.services import ENV_DASK, ENV_POSTGRES, ServiceError, _pg_bindir

pytestmark = pytest.mark.slow


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tradelab.testing.services", *args],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip


def test_start_writes_the_addresses_and_stop_ends_every_service(tmp_path: Path) -> None:
    try:
        _pg_bindir()
    except ServiceError as exc:
        pytest.skip(str(exc))
    folder = tmp_path / "services"
    started = _cli("start", "--dir", str(folder), "--dask")
    assert started.returncode == 0, started.stderr[-2000:]
    env = dict(
        line.removeprefix("export ").split("=", 1)
        for line in (folder / "env").read_text().splitlines()
    )
    pg_port = make_url(env[ENV_POSTGRES]).port
    dask_port = int(env[ENV_DASK].rsplit(":", 1)[1])
    try:
        assert _listening(pg_port) and _listening(dask_port)
        assert env[ENV_DASK].startswith("tcp://127.0.0.1:")
    finally:
        stopped = _cli("stop", "--dir", str(folder))
    assert stopped.returncode == 0, stopped.stderr[-2000:]
    assert not _listening(pg_port) and not _listening(dask_port)
    assert not (folder / "services.json").exists()
