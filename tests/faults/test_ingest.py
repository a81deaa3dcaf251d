"""Crash `tradelab-ingest` at every ingestion fault point, rerun it, and compare with a twin
that was never interrupted: the store ends identical, and at the crash a reader sees the old
store or the new one, never a mix.

The scenario: a store already holds two symbols' 1min, 1day and 5min bars of a first period;
more day files arrive and one ingest call (step `all`) stages them into every timeframe,
derives the 5-minute bars and commits, touching 14 files. Real CLI runs, hard exits (status
137, like kill -9).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from tests.data.conftest import snapshot
from tests.data.digests import store_digest
from tests.faults.harness import crash, run_app, running_runs, runs_by_status
from tradelab.data import MarketSpec, ParquetStore, generate_market, write_day_files
from tradelab.data.journal import JOURNAL

pytestmark = pytest.mark.slow
NY = "America/New_York"
ARGS = [
    "data=flatfiles",
    "data.path=flat",
    "data.symbols=[SPY,RIOT]",
    "timeframes=[5min]",
    "progress=false",
]
SPEC = MarketSpec(seed=5, symbols=("SPY", "RIOT"), daily_years=0.3, minute_days=4, filler_tickers=2)
CUT = date(2026, 10, 28)  # the first period ends here: 2 of the 4 minute sessions


@dataclass(frozen=True)
class Scenario:
    base: Path  # the old store, the flat files of both periods; no MLflow store
    old: dict[str, bytes]  # the old store's files, byte for byte
    new: dict[str, str]  # what an uninterrupted ingest of the new files leaves (content)


def _write_period(root: Path, until: date | None) -> None:
    market = generate_market(SPEC)
    frames = []
    for frame in (market.bars.daily, market.bars.minute):
        days = pd.to_datetime(frame["window_start"], unit="ns", utc=True).dt.tz_convert(NY)
        keep = (days.dt.date <= (until or date.max)).to_numpy()
        frames.append(frame.loc[keep])
    write_day_files(*frames, root)


def _store_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in snapshot(root).items() if not k.startswith(".")}


def _copy(base: Path, to: Path) -> Path:
    shutil.copytree(base, to, ignore=shutil.ignore_patterns("mlruns"))
    return to


def assert_no_running_runs(cwd: Path) -> None:
    """0 runs RUNNING after the rerun: the crashed one was repaired at the app's start."""
    assert running_runs(cwd) == 0


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    base = tmp_path_factory.mktemp("ingest_crash")
    _write_period(base / "flat", CUT)
    first = run_app("ingest", *ARGS, cwd=base)
    assert first.returncode == 0, first.stderr[-3000:]
    shutil.rmtree(base / "mlruns")
    _write_period(base / "flat", None)  # the first period's files stay byte-identical
    twin = _copy(base, tmp_path_factory.mktemp("ingest_twin") / "twin")
    done = run_app("ingest", *ARGS, cwd=twin)
    assert done.returncode == 0, done.stderr[-3000:]
    new = store_digest(twin / "data/store")
    old = _store_files(base / "data/store")
    assert new.keys() == {k for k in old} and new != store_digest(base / "data/store")
    return Scenario(base, old, new)


CASES = [
    ("ingest.day_file", 1, "old"),  # between the new day files of 1min
    ("ingest.timeframe", 1, "old"),  # 1min staged, 1day not yet
    ("ingest.derived", 1, "old"),  # 1min and 1day staged, one 5min dataset derived
    ("ingest.staged", 1, "old"),  # everything staged and validated, nothing committed
    ("ingest.commit.journal", 1, "new"),  # journal written, no rename yet
    ("ingest.commit.rename", 1, "new"),  # 1 of 14 files renamed
    ("ingest.commit.rename", 7, "new"),  # 7 of 14
    ("ingest.commit.done", 1, "new"),  # every rename done, the journal not yet removed
]


@pytest.mark.parametrize(("point", "nth", "at_crash"), CASES, ids=[f"{p}@{n}" for p, n, _ in CASES])
def test_ingest_crash_then_rerun(
    scenario: Scenario, tmp_path: Path, point: str, nth: int, at_crash: str
) -> None:
    work = _copy(scenario.base, tmp_path / "work")
    store_dir = work / "data/store"
    crash("ingest", point, *ARGS, cwd=work, nth=nth)
    if at_crash == "old":
        assert _store_files(store_dir) == scenario.old  # not one byte changed
        assert not (store_dir / JOURNAL).exists()
    else:
        assert (store_dir / JOURNAL).exists()
    ParquetStore(store_dir, offline=True)  # what any reader does first
    seen = store_digest(store_dir)
    expected = store_digest(scenario.base / "data/store") if at_crash == "old" else scenario.new
    assert seen == expected  # the old store or the new one, never a mix
    rerun = run_app("ingest", *ARGS, cwd=work)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert store_digest(store_dir) == scenario.new
    assert not (store_dir / JOURNAL).exists() and not list(store_dir.glob(".staging-*"))
    assert runs_by_status(work).get("FINISHED") == 1  # the rerun; nothing logged twice
    assert_no_running_runs(work)
