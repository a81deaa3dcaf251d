"""Crash `tradelab-wfo` during its statistics and exports, and `tradelab-report` between its
files; rerun and compare with twins that were never interrupted: the results (and report)
folders end identical, one finished parent run carries the twin's numbers, and a crash between
the TradeStation exports never leaves the config CSV pointing at files of another run.

Real CLI runs on a small planted store (8.5 years of SMH), hard exits (status 137). The crashes
between chunks and phases are in the runner's own tests.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.faults.harness import crash, digest, run_app, running_runs
from tradelab.testing.mlflow_store import store_runs

pytestmark = pytest.mark.slow
SWEEP = [
    "symbol=SMH",
    "strategy=atr_d_l",
    "grid=smoke",
    "phases=compact",
    "progress=false",
    "scoring.plateaus.min_cell_count=1",  # a plateau, so TradeStation exports, on 16 combos
]
CONFIG = "results/SMH/phase5_refine_config.csv"
TIMINGS = ("diagnostics/wall_s", "diagnostics/bar_evals_per_s")


def assert_no_running_runs(cwd: Path) -> None:
    """0 runs RUNNING after the rerun: the crashed one was repaired at the app's start."""
    assert running_runs(cwd) == 0


def _copy(base: Path, to: Path) -> Path:
    shutil.copytree(base, to, ignore=shutil.ignore_patterns("mlruns"))
    return to


def _run(app: str, *args: str, cwd: Path) -> None:
    result = run_app(app, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def _finished_parents(cwd: Path) -> list[dict[str, float]]:
    """The metrics (timings left out) of each finished parent run of `wfo/SMH`."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    runs = store_runs(client, "wfo/SMH")
    return [
        {k: v for k, v in r.data.metrics.items() if k not in TIMINGS}
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags and r.info.status == "FINISHED"
    ]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 8.5 planted years of SMH, no MLflow store, no results."""
    root = tmp_path_factory.mktemp("wfo_crash")
    ingest = ["data.mode=planted", "data.daily_years=8.5", "data.minute_days=0"]
    _run("ingest", *ingest, "data.symbols=[SMH]", "timeframes=[1day]", "progress=false", cwd=root)
    shutil.rmtree(root / "mlruns")
    return root


@pytest.fixture(scope="module")
def twin(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = _copy(base, tmp_path_factory.mktemp("wfo_twin") / "twin")
    _run("wfo", *SWEEP, cwd=root)
    return root


CASES = [
    ("wfo.exports.candidates", 1),  # candidates written, plateau files not yet
    ("wfo.exports.plateaus", 1),  # plateau plot and table written, TradeStation CSVs not yet
    ("wfo.exports.refine", 1),  # a TradeStation range file written, the config not yet
    ("wfo.exports.artifacts", 1),  # every file written, none logged to MLflow yet
    ("wfo.statistics", 1),  # exports done, PBO / deflated Sharpe not yet computed
]


@pytest.mark.parametrize(("point", "nth"), CASES, ids=[f"{p}@{n}" for p, n in CASES])
def test_wfo_crash_then_rerun(base: Path, twin: Path, tmp_path: Path, point: str, nth: int):
    work = _copy(base, tmp_path / "work")
    crash("wfo", point, *SWEEP, cwd=work, nth=nth)
    _run("wfo", *SWEEP, cwd=work)
    assert digest(work / "results") == digest(twin / "results")
    assert _finished_parents(work) == _finished_parents(twin)  # one, with the twin's numbers
    assert_no_running_runs(work)


def _config_pairs(root: Path) -> dict[str, tuple[tuple[str, ...], str | None]]:
    """Each config row (by file) with the digest of the file it points at."""
    config = pd.read_csv(root / CONFIG, dtype=str, keep_default_na=False)
    out = {}
    for row in config.itertuples(index=False):
        path = root / "results/SMH" / row.file
        data = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        out[row.file] = (tuple(row), data)
    return out


def test_a_crash_between_exports_leaves_no_config_row_on_another_runs_file(
    base: Path, twin: Path, tmp_path: Path
) -> None:
    work = _copy(base, tmp_path / "work")
    _run("wfo", *SWEEP, "scoring.plateaus.top_fraction=0.5", cwd=work)  # other ranges
    before, after = _config_pairs(work), _config_pairs(twin)
    assert before.keys() == after.keys() and before != after
    crash("wfo", "wfo.exports.config", *SWEEP, cwd=work)  # range files new, config not yet
    for name, pair in _config_pairs(work).items():
        assert pair in (before[name], after[name]), f"{name}: the row and its file disagree"
    _run("wfo", *SWEEP, cwd=work)
    assert digest(work / "results") == digest(twin / "results")


def _report_digest(root: Path) -> dict[str, str]:
    """The report's files, its generation time left out."""
    out = {}
    for path in sorted((root / "reports").rglob("*")):
        if path.is_file():
            data = re.sub(rb"Generated [^<\n]*UTC", b"Generated <time>", path.read_bytes())
            out[path.relative_to(root).as_posix()] = hashlib.sha256(data).hexdigest()
    return out


@pytest.fixture(scope="module")
def reported(twin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the twin's sweep (its plateau plot is the one figure)."""
    root = _copy(twin, tmp_path_factory.mktemp("report_twin") / "twin")
    _run("report", cwd=root)
    assert len(list((root / "reports/figures").glob("*.png"))) == 1
    return root


REPORT_CASES = [
    ("report.figure", 1),  # the figure copied, the summary files not yet written
    ("report.summary", 1),  # summary.md written, summary.html not yet
]


@pytest.mark.parametrize(("point", "nth"), REPORT_CASES, ids=[p for p, _ in REPORT_CASES])
def test_report_crash_then_rerun(
    twin: Path, reported: Path, tmp_path: Path, point: str, nth: int
) -> None:
    work = _copy(twin, tmp_path / "work")
    crash("report", point, cwd=work, nth=nth)
    _run("report", cwd=work)
    assert _report_digest(work) == _report_digest(reported)
    assert_no_running_runs(work)
