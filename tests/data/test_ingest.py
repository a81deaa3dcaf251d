from __future__ import annotations

import gzip
import json

from tradelab.data import ingest_flat_files
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND
from tradelab.data.ingest import ALL_SYMBOLS, STATE_FILE, IngestState


def test_rerun_skips_ingested_days_and_reads_only_new_ones(raw_dir, store) -> None:
    files = sorted((raw_dir / MINUTE_KIND).rglob("*.csv.gz"))
    held_back = files[-1].read_bytes()
    files[-1].unlink()
    first = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert first.files_read == 2 and first.rows == 2 * 2 * 390
    again = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert again.files_read == 0 and again.files_skipped == 2 and again.rows == 0
    files[-1].write_bytes(held_back)
    third = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    assert third.files_read == 1 and third.files_skipped == 2
    assert len(store.read("SPY", "1min")) == 3 * 390
    meta = store.meta("SPY", "1min")
    assert meta.coverage_start == files[0].name[:10] and meta.coverage_end == files[-1].name[:10]


def test_changed_day_file_replaces_its_session(raw_dir, store) -> None:
    ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", ["SPY"])
    last = sorted((raw_dir / DAY_KIND).rglob("*.csv.gz"))[-1]
    lines = gzip.decompress(last.read_bytes()).decode().splitlines(keepends=True)
    lines = [
        line.replace(line.split(",")[1], "12345", 1) if line.startswith("SPY,") else line
        for line in lines
    ]
    last.write_bytes(gzip.compress("".join(lines).encode()))
    summary = ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", ["SPY"])
    assert summary.files_read == 1
    assert store.read("SPY", "1day")["volume"].iloc[-1] == 12345.0


MINUTES = f"{MINUTE_KIND}/**/*.csv.gz"


def _edit_rows(path, ticker: str, edit) -> None:
    """Rewrite the rows of `ticker` in a day file with `edit(fields) -> fields`."""
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    out = [
        ",".join(edit(line.rstrip("\n").split(","))) + "\n"
        if line.startswith(f"{ticker},")
        else line
        for line in lines
    ]
    path.write_bytes(gzip.compress("".join(out).encode()))


def test_new_symbols_read_the_days_already_ingested_for_others(raw_dir, store) -> None:
    first = ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"])
    assert first.files_read == 3 and store.meta("RIOT", "1min") is None
    more = ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY", "RIOT"])
    assert more.files_read == 3 and more.symbols == {"RIOT": 3 * 390}  # SPY is not read again
    assert len(store.read("RIOT", "1min")) == 3 * 390
    assert store.meta("RIOT", "1min").ranges == store.meta("SPY", "1min").ranges
    again = ingest_flat_files(store, raw_dir, MINUTES, "1min", ["RIOT", "SPY"])
    assert again.files_read == 0 and again.files_skipped == 3


def test_a_changed_file_is_read_again_for_the_symbols_not_in_that_ingest(raw_dir, store) -> None:
    ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY", "RIOT"])
    last = sorted((raw_dir / MINUTE_KIND).rglob("*.csv.gz"))[-1]
    _edit_rows(last, "RIOT", lambda f: [*f[:1], "777", *f[2:]])
    assert ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"]).files_read == 1
    riot = ingest_flat_files(store, raw_dir, MINUTES, "1min", ["RIOT"])
    assert riot.files_read == 1
    bars = store.read("RIOT", "1min")
    assert len(bars) == 3 * 390 and (bars["volume"].iloc[-390:] == 777.0).all()
    assert (bars["volume"].iloc[:-390] != 777.0).all()


def test_a_state_without_symbols_reads_its_days_again_once(raw_dir, store) -> None:
    ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"])
    state_path = store.root / "1min" / STATE_FILE
    state = IngestState.load(state_path)
    state_path.write_text(json.dumps(state.digests))  # the format before symbols were recorded
    content = store.meta("SPY", "1min").content_hash
    assert ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"]).files_read == 3
    assert store.meta("SPY", "1min").content_hash == content
    assert ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"]).files_read == 0


def test_the_state_stores_each_group_of_symbols_once() -> None:
    state = IngestState()
    days = [f"2026-01-{d:02d}" for d in (2, 5, 6, 7, 8)]
    for day in days:
        state.record(day, f"d{day}", {"SPY", "QQQ"})
    for day in days[2:]:
        state.record(day, f"d{day}", {"RIOT"})
    state.record(days[3], "changed", {"RIOT"})  # a changed file: only RIOT read it since
    raw = json.loads(state.to_json())
    groups = {tuple(g["symbols"]): g["days"] for g in raw["groups"]}
    assert groups == {
        ("QQQ", "SPY"): [[days[0], days[2]], [days[4], days[4]]],
        ("RIOT",): [[days[2], days[4]]],
    }
    assert IngestState._from_v2(raw) == state
    assert state.needed(days[3], "changed", ["SPY", "RIOT"]) == {"SPY"}
    assert state.needed(days[3], "again", ["SPY", "RIOT"]) == {"SPY", "RIOT"}
    assert state.needed(days[0], f"d{days[0]}", None) == {ALL_SYMBOLS}


def test_rows_not_stored_are_counted_per_reason(raw_dir, store) -> None:
    first = sorted((raw_dir / MINUTE_KIND).rglob("*.csv.gz"))[0]
    _edit_rows(first, "SOFI", lambda f: ["sofi!", *f[1:]])  # tickers that cannot be file names
    others = ingest_flat_files(store, raw_dir, MINUTES, "1min", ["SPY"]).report.skipped
    assert others == {"invalid symbol": 390, "outside universe": 3 * 390 * 6 - 390}
    every = ingest_flat_files(store, raw_dir, MINUTES, "1min", None)
    assert every.report.skipped == {"invalid symbol": 390}
    assert sorted(every.symbols) == ["DIA", "MARA", "QQQ", "RIOT", "SOFI", "SPY", "TQQQ"]
    assert len(store.read("SOFI", "1min")) == 2 * 390


class _LaterClock:
    """Stands in for `datetime` in the store module: every write an hour later."""

    calls = 0

    @classmethod
    def now(cls, tz=None):
        import datetime as dt

        cls.calls += 1
        return dt.datetime(2030, 1, 1, tzinfo=tz) + dt.timedelta(hours=cls.calls)


def test_a_re_ingest_writes_the_same_bytes_whenever_it_runs(raw_dir, tmp_path, monkeypatch) -> None:
    """DVC hashes the store's files: the same day files must give the same bytes at any hour,
    or every re-ingest (a fresh clone's `dvc repro`) changes every downstream stage's deps."""
    from tradelab.data import ParquetStore

    first = ParquetStore(tmp_path / "first")
    ingest_flat_files(first, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    monkeypatch.setattr("tradelab.data.store.datetime", _LaterClock, raising=False)
    second = ParquetStore(tmp_path / "second")
    ingest_flat_files(second, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])

    def files(store: ParquetStore) -> list:
        return sorted(p.relative_to(store.root) for p in store.root.rglob("*") if p.is_file())

    assert [p for p in files(first) if p.suffix == ".parquet"]
    assert files(first) == files(second)
    for rel in files(first):
        assert (first.root / rel).read_bytes() == (second.root / rel).read_bytes(), rel
