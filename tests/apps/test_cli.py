"""Console scripts compose their configs and reject typos with a non-zero exit."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPS = ["ingest", "wfo", "tune", "analyze", "promote", "report", "runs"]


def run_app(app: str, *args: str, cwd: Path = ROOT, env: dict[str, str] | None = None):
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "0", **(env or {})}
    return subprocess.run(
        [str(BIN / f"tradelab-{app}"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )


def ingest_daily(cwd: Path, *overrides: str) -> None:
    """Ingest the synthetic market's daily bars of SMH into `cwd` (no minute bars);
    `overrides` (mode, years, symbols, tracking) come last and win."""
    base = ("data.symbols=[SMH]", "data.minute_days=0", "timeframes=[1day]", "progress=false")
    done = run_app("ingest", *base, *overrides, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("app", APPS)
def test_cfg_job_composes(app: str) -> None:
    result = run_app(app, "--cfg", "job")
    assert result.returncode == 0, result.stderr
    assert "tracking:" in result.stdout and "sqlite:///mlruns/mlflow.db" in result.stdout


def test_misspelled_key_fails_with_its_name() -> None:
    result = run_app("wfo", "symbl=SMH", "--cfg", "job")
    assert result.returncode != 0
    assert "symbl" in result.stderr
