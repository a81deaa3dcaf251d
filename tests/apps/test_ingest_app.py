"""`tradelab-ingest` end to end: store filled, runs logged with lineage, failures FAILED,
parallel multirun jobs all recorded in one SQLite store."""

from __future__ import annotations

import gzip
import shutil
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from tradelab.data import MarketSpec, ParquetStore, generate_market, write_day_files
from tradelab.errors import DataError
from tradelab.testing.mlflow_store import store_runs

from .test_cli import run_app

pytestmark = pytest.mark.slow
NY = "America/New_York"
TINY = [
    "experiment=smoke",
    "data.daily_years=1",
    "data.minute_days=1",
    "data.symbols=[SPY,QQQ,RIOT]",
    "progress=false",
]
LINEAGE = (
    "git_commit",
    "git_dirty",
    "config_hash",
    "data_hash",
    "seed",
    "hydra_overrides",
    "tradelab_version",
)


def _runs(cwd: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    return store_runs(client, experiment, order_by=["attributes.start_time ASC"])


def test_ingest_fills_the_store_and_logs_lineage(tmp_path: Path) -> None:
    first = run_app("ingest", *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    for tf in ("1min", "1day", "5min"):
        assert sorted(p.name for p in (tmp_path / "data/store" / tf).glob("*.parquet")) == [
            "QQQ.parquet",
            "RIOT.parquet",
            "SPY.parquet",
        ]
    second = run_app("ingest", *TINY, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-3000:]
    runs = _runs(tmp_path, "ingest/synthetic")
    assert [r.info.status for r in runs] == ["FINISHED", "FINISHED"]
    for run in runs:
        assert set(LINEAGE) <= set(run.data.tags)
        assert "experiment=smoke" in run.data.tags["hydra_overrides"]
    assert runs[0].data.tags["data_hash"] == runs[1].data.tags["data_hash"]
    assert runs[0].data.metrics["files_read_1min"] == 1
    assert (
        runs[1].data.metrics["files_read_1min"] == 0
        and runs[1].data.metrics["files_skipped_1min"] == 1
    )
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    names = {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert {"config.yaml", "coverage.csv"} <= names


def test_failing_job_ends_failed(tmp_path: Path) -> None:
    result = run_app(
        "ingest",
        "data=csv",
        "data.path=missing.csv",
        "data.symbol=SMH",
        "progress=false",
        cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "missing.csv" in result.stderr
    runs = _runs(tmp_path, "ingest/csv")
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "file not found" in runs[0].data.tags["error"]


def test_parallel_multirun_jobs_share_one_sqlite_store(tmp_path: Path) -> None:
    result = run_app(
        "ingest",
        "-m",
        "data.seed=1,2,3,4",
        "paths.data_dir=data/seed${data.seed}",
        *TINY,
        cwd=tmp_path,
        env={"TRADELAB_JOBS": "2"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = _runs(tmp_path, "ingest/synthetic")
    assert len(runs) == 4
    assert all(r.info.status == "FINISHED" for r in runs)
    assert (
        sorted(r.data.tags["seed"] for r in runs) == ["7"] * 4
        or len({r.data.tags["config_hash"] for r in runs}) == 4
    )
    assert len({r.data.tags["data_hash"] for r in runs}) == 4
    # each job's folder is named by its overrides, under the app's name
    jobs = sorted(p.name for p in (tmp_path / "multirun" / "ingest").glob("*/*") if p.is_dir())
    seeds = sorted(o for j in jobs for o in j.split(",") if o.startswith("data.seed="))
    assert len(jobs) == 4 and seeds == [f"data.seed={k}" for k in (1, 2, 3, 4)]


def _store_files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_another_market_refuses_and_replace_swaps_it_in(tmp_path: Path) -> None:
    assert run_app("ingest", *TINY, cwd=tmp_path).returncode == 0
    store_dir, raw_dir = tmp_path / "data/store", tmp_path / "data/raw/synthetic"
    before, raw_before = _store_files(store_dir), _store_files(raw_dir)
    planted = ["data.mode=planted", "data.minute_days=0", "data.symbols=[SPY,XLF]"]
    refused = run_app("ingest", *TINY, *planted, "timeframes=[1day]", cwd=tmp_path)
    assert refused.returncode != 0
    assert "data.mode=planted" in refused.stderr and "data.mode=market" in refused.stderr
    assert "replace=true" in refused.stderr
    other_seed = run_app("ingest", *TINY, "data.seed=8", cwd=tmp_path)
    assert other_seed.returncode != 0
    assert "data.seed=8" in other_seed.stderr and "data.seed=7" in other_seed.stderr
    assert _store_files(store_dir) == before and _store_files(raw_dir) == raw_before

    replaced = run_app("ingest", *TINY, *planted, "timeframes=[1day]", "replace=true", cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr[-3000:]
    store = ParquetStore(store_dir, offline=True)
    spec = MarketSpec(seed=7, mode="planted", daily_years=1, minute_days=0, symbols=("SPY", "XLF"))
    market = generate_market(spec)
    for symbol in ("SPY", "XLF"):
        meta = store.meta(symbol, "1day")
        assert meta.market == spec.identity() and meta.source == "synthetic"
        expected = market.bars.daily.loc[market.bars.daily["ticker"] == symbol, "close"]
        assert store.read(symbol, "1day")["close"].tolist() == expected.tolist()  # no splice
    assert store.meta("SPY", "1min") is None and store.meta("SPY", "5min") is None
    for name in ("1day/QQQ.parquet", "1min/RIOT.parquet", "5min/QQQ.parquet"):
        assert _store_files(store_dir)[name] == before[name]  # other symbols untouched
    assert not list(tmp_path.glob("data/.store.staging-*"))
    statuses = [r.info.status for r in _runs(tmp_path, "ingest/synthetic")]
    assert statuses == ["FINISHED", "FAILED", "FAILED", "FINISHED"]


def test_disjoint_flat_file_periods_leave_the_gap_uncovered(tmp_path: Path) -> None:
    market = generate_market(MarketSpec(seed=5, symbols=("SPY", "RIOT"), daily_years=1))
    daily = market.bars.daily
    day = pd.to_datetime(daily["window_start"], unit="ns", utc=True).dt.tz_convert(NY).dt.date
    periods = {"a": ("2026-01-02", "2026-02-27"), "b": ("2026-05-01", "2026-06-30")}
    for name, (start, end) in periods.items():
        keep = ((day >= date.fromisoformat(start)) & (day <= date.fromisoformat(end))).to_numpy()
        write_day_files(daily.loc[keep], market.bars.minute.iloc[:0], tmp_path / name)
    flat = ["data=flatfiles", "data.symbols=[SPY,RIOT]", "timeframes=[1day]", "progress=false"]
    for name in periods:
        result = run_app("ingest", *flat, f"data.path={name}", cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-3000:]
    store = ParquetStore(tmp_path / "data/store", offline=True)
    with pytest.raises(DataError, match=r"SPY 1day.*2026-03-02\.\.2026-03-31"):
        store.get("SPY", "1day", "2026-03-02", "2026-03-31")  # inside the gap: no cache hit
    assert store.meta("SPY", "1day").ranges == (periods["a"], periods["b"])
    assert len(store.get("SPY", "1day", "2026-05-04", "2026-05-08")) == 5


def test_wide_close_table_like_the_seeds_loads_without_overrides(tmp_path: Path) -> None:
    source = Path(__file__).parents[1] / "data/fixtures/adj_close_wide.csv"
    (tmp_path / "adj_close_wide.csv").write_bytes(source.read_bytes())
    wide = pd.read_csv(source, parse_dates=["date"], index_col="date")  # as seed 001 reads it
    result = run_app(
        "ingest", "data=csv", "data.layout=wide", "data.path=adj_close_wide.csv", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    store = ParquetStore(tmp_path / "data/store", offline=True)
    assert store.symbols("1day") == sorted(wide.columns)
    for ticker in wide.columns:
        expected = wide[ticker].dropna()
        bars = store.get(ticker, "1day")
        dates = bars["timestamp"].dt.tz_convert(NY).dt.tz_localize(None)
        assert dates.tolist() == expected.index.tolist()
        assert bars["close"].tolist() == pytest.approx(expected.tolist())
        assert (bars["open"] == bars["close"]).all() and (bars["volume"] == 0).all()
    assert store.meta("RIOT", "1day").coverage_start == "2020-12-15"  # listed later
    assert [r.info.status for r in _runs(tmp_path, "ingest/csv")] == ["FINISHED"]


def test_ingest_step_refuses_raw_files_of_another_market(tmp_path: Path) -> None:
    raw = run_app("ingest", *TINY, "step=raw", "data.seed=5", cwd=tmp_path)
    assert raw.returncode == 0, raw.stderr[-3000:]
    ingest = run_app("ingest", *TINY, "step=ingest", cwd=tmp_path)
    assert ingest.returncode != 0
    assert "data.seed=5" in ingest.stderr and "data.seed=7" in ingest.stderr
    assert "manifest.json" in ingest.stderr
    assert not list((tmp_path / "data").glob("store/*/*.parquet"))


def test_a_new_market_after_the_pipeline_removed_the_base_datasets(tmp_path: Path) -> None:
    """What `dvc repro` does after a change of market: DVC deletes the ingest stage's outputs
    (1min, 1day) but not the `bars` stage's (5min); the stale derived bars must not block the
    new market, and the next `bars` step rebuilds them from it."""
    assert run_app("ingest", *TINY, cwd=tmp_path).returncode == 0
    store_dir = tmp_path / "data/store"
    for timeframe in ("1min", "1day"):
        shutil.rmtree(store_dir / timeframe)
    assert (store_dir / "5min/RIOT.parquet").exists()
    again = run_app("ingest", *TINY, "data.seed=8", cwd=tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    store = ParquetStore(store_dir, offline=True)
    base = store.meta("RIOT", "1min")
    derived = store.meta("RIOT", "5min")
    assert base.market["seed"] == 8 and derived.market == base.market
    assert derived.derived_from == base.content_hash


def _flat_files(root: Path) -> list[str]:
    """Day files of SPY, RIOT and two other tickers (1 year of days, 2 sessions of minutes)."""
    spec = MarketSpec(
        seed=5, symbols=("SPY", "RIOT"), daily_years=1, minute_days=2, filler_tickers=2
    )
    market = generate_market(spec)
    write_day_files(market.bars.daily, market.bars.minute, root)
    return ["data=flatfiles", f"data.path={root}", "data.symbols=[SPY,RIOT]", "progress=false"]


def test_a_bad_daily_file_leaves_every_timeframe_untouched(tmp_path: Path) -> None:
    flat = _flat_files(tmp_path / "flat")
    last = sorted((tmp_path / "flat/day_aggs_v1").rglob("*.csv.gz"))[-1]
    good = last.read_bytes()
    last.write_bytes(good[: len(good) // 2])  # a truncated download, read after the 1min files
    failed = run_app("ingest", *flat, "timeframes=[5min]", cwd=tmp_path)
    assert failed.returncode != 0 and last.name in failed.stderr
    store = tmp_path / "data/store"
    assert not [p for p in store.rglob("*") if p.is_file() and p.name != ".lock"]
    last.write_bytes(good)
    ok = run_app("ingest", *flat, "timeframes=[5min]", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr[-3000:]
    for timeframe in ("1min", "1day", "5min"):
        assert sorted(p.name for p in (store / timeframe).glob("*.parquet")) == [
            "RIOT.parquet",
            "SPY.parquet",
        ]
    assert not list(store.glob(".staging-*")) and not (store / ".commit.json").exists()


def test_rows_not_stored_are_printed_and_logged_per_reason(tmp_path: Path) -> None:
    flat = _flat_files(tmp_path / "flat")
    first = sorted((tmp_path / "flat/minute_aggs_v1").rglob("*.csv.gz"))[0]
    lines = gzip.decompress(first.read_bytes()).decode().splitlines(keepends=True)
    lines.insert(1, "brk/b" + lines[1][lines[1].index(",") :])  # a ticker no file may be named
    first.write_bytes(gzip.compress("".join(lines).encode()))
    result = run_app("ingest", *flat, "timeframes=[1day]", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Rows not stored" in result.stderr
    assert "invalid symbol" in result.stderr and "outside universe" in result.stderr
    metrics = _runs(tmp_path, "ingest/flatfiles")[0].data.metrics
    assert metrics["rows_skipped/invalid_symbol"] == 1
    filler_days = 2 * 390 * 2 + 2 * len(list((tmp_path / "flat/day_aggs_v1").rglob("*.gz")))
    assert metrics["rows_skipped/outside_universe"] == filler_days
    assert metrics["rows_skipped"] == filler_days + 1


@pytest.mark.parametrize("override", ["data.mode=null", "data.mode='null'"])
def test_a_bare_null_mode_is_the_null_market(override: str, tmp_path: Path) -> None:
    """`data.mode=null` is what the README says to type; Hydra parses it to None, which used to
    fail with "field 'data.mode' is not Optional"."""
    args = ("data.minute_days=0", "data.daily_years=1", "data.symbols=[SMH]", "timeframes=[1day]")
    done = run_app("ingest", override, *args, "progress=false", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    manifest = (tmp_path / "data/raw/synthetic/manifest.json").read_text()
    assert '"mode": "null"' in manifest
