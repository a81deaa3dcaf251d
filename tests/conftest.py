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
