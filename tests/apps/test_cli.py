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


@pytest.mark.parametrize("app", APPS)
def test_help_names_the_app_and_lists_its_groups_without_schemas(app: str) -> None:
    result = run_app(app, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"`tradelab-{app}`")
    assert "_runtime" not in result.stdout and "_schema" not in result.stdout
    groups = result.stdout.split("== Configuration groups ==")[1].split("== Config ==")[0]
    assert "tracking: memory, mlflow" in groups


def _completions(app: str, line: str) -> list[str]:
    """What Hydra's bash completion offers after `tradelab-<app> <line>`."""
    result = run_app(app, "-sc", "query=bash", env={"COMP_LINE": f"tradelab-{app} {line}"})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


@pytest.mark.parametrize(
    ("app", "line", "options"),
    [
        ("wfo", "grid=", {"demo", "full", "known_answer", "phase1_slim", "single", "smoke"}),
        ("wfo", "strategy=atr_d_h", {"atr_d_hma_l", "atr_d_hma_ls"}),
        ("tune", "model=", {"baselines", "kronos", "kronos_ensemble", "toto"}),
        ("tune", "study=", {"forecast", "kalman_pairs", "kalman_residual"}),
        ("ingest", "tracking=", {"memory", "mlflow", "server"}),
    ],
)
def test_tab_completion_offers_each_groups_options_without_schemas(
    app: str, line: str, options: set[str]
) -> None:
    group = line.split("=")[0]
    assert set(_completions(app, line)) == {f"{group}={o}" for o in options}
    assert not [w for w in _completions(app, "") if "_schema" in w]


def test_a_user_error_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_app("wfo", "symbol=ZZZZ", "grid=smoke", "progress=false", cwd=tmp_path)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("tradelab-wfo: error: ") and "ZZZZ" in last
    assert "tradelab-ingest" in last  # what to do
    assert "Traceback" not in result.stderr
    assert (tmp_path / "outputs" / "wfo").is_dir()  # the app's name, not its module's
    full = run_app("wfo", "symbol=ZZZZ", "grid=smoke", cwd=tmp_path, env={"HYDRA_FULL_ERROR": "1"})
    assert full.returncode == 1 and "Traceback" in full.stderr and "DataError" in full.stderr
