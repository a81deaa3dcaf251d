"""Shared fixtures. Every test gets its own working directory so nothing leaks into the repo."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _numba_cache_dir() -> Path:
    """`.numba_cache/<hash of every source defining a kernel>` (as the Makefile names it):
    numba checks only the file a function is defined in, so an edit to a helper it calls must
    start a fresh cache."""
    sources = sorted(p for p in (ROOT / "src/tradelab").rglob("*.py") if "njit" in p.read_text())
    digest = hashlib.sha1(b"".join(p.read_bytes() for p in sources)).hexdigest()[:12]
    return ROOT / ".numba_cache" / digest


os.environ.setdefault("NUMBA_CACHE_DIR", str(_numba_cache_dir()))
os.environ.setdefault("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test with `tmp_path` as the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(12345)


# --- real services (PostgreSQL, an MLflow server on it, a Dask cluster) ----------------------
# `.ci/run` starts them once (`python -m tradelab.testing.services start`) and exports their
# addresses; without those variables a test session starts private ones where PostgreSQL is
# installed. TRADELAB_REQUIRE_SERVICES=1 (CI) turns "not installed" from a skip into a failure.


def _unavailable(why: str) -> None:
    if os.environ.get("TRADELAB_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{why} (TRADELAB_REQUIRE_SERVICES=1)")
    pytest.skip(why)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory):
    """The URL of a PostgreSQL server (no database) where tests may create databases."""
    from tradelab.testing import services

    given = os.environ.get(services.ENV_POSTGRES)
    if given:
        yield given
        return
    try:
        pg = services.Postgres(tmp_path_factory.mktemp("postgres")).start()
    except services.ServiceError as exc:
        _unavailable(str(exc))
    try:
        yield pg.url
    finally:
        pg.stop()


@pytest.fixture
def postgres_db(postgres_server: str) -> str:
    """A new, empty PostgreSQL database for this test (SQLAlchemy URL)."""
    import uuid

    from tradelab.testing.services import create_database

    return create_database(postgres_server, f"t_{uuid.uuid4().hex[:16]}")


@pytest.fixture(scope="session")
def mlflow_server(postgres_server: str, tmp_path_factory: pytest.TempPathFactory):
    """The URL of an MLflow tracking server on PostgreSQL with proxied artifacts."""
    import uuid

    from tradelab.testing import services

    given = os.environ.get(services.ENV_MLFLOW)
    if given:
        yield given
        return
    backend = services.create_database(postgres_server, f"mlflow_{uuid.uuid4().hex[:12]}")
    folder = tmp_path_factory.mktemp("mlflow-server")
    server = services.MlflowServer(backend, folder / "artifacts").start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def dask_scheduler(tmp_path_factory: pytest.TempPathFactory):
    """The address of a Dask scheduler with two single-threaded worker processes."""
    from tradelab.testing import services

    given = os.environ.get(services.ENV_DASK)
    if given:
        yield given
        return
    cluster = services.DaskCluster(tmp_path_factory.mktemp("dask")).start()
    try:
        yield cluster.address
    finally:
        cluster.stop()
