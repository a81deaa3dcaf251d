"""One test per bad-input case: typed error, message naming file and row, store unchanged."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import pytest

from tradelab.data import ingest_flat_files
from tradelab.data.flatfiles import DAY_KIND, MINUTE_KIND
from tradelab.errors import DataError, DataValidationError, InvalidSymbolError

from .conftest import snapshot

HEADER = "ticker,volume,open,close,high,low,window_start,transactions\n"


def _minute_files(raw: Path) -> list[Path]:
    return sorted((raw / MINUTE_KIND).rglob("*.csv.gz"))


def _rewrite(path: Path, edit) -> None:
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    path.write_bytes(gzip.compress("".join(edit(lines)).encode()))


def _set_field(lines: list[str], data_row: int, column: str, value: str) -> list[str]:
    cols = lines[0].strip().split(",")
    parts = lines[data_row].rstrip("\n").split(",")
    parts[cols.index(column)] = value
    lines[data_row] = ",".join(parts) + "\n"
    return lines


@pytest.fixture
def ingested(raw_dir, store):
    """A store that already holds a first ingestion (so 'unchanged' means something)."""
    ingest_flat_files(store, raw_dir, f"{DAY_KIND}/**/*.csv.gz", "1day", ["SPY", "RIOT"])
    return store


def _assert_fails_cleanly(
    store, raw_dir, error, match_file: Path | None, row: int | None, field=None
):
    before = snapshot(store.root)
    with pytest.raises(error) as info:
        ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY", "RIOT"])
    if match_file is not None:
        assert info.value.file == str(match_file) and match_file.name in str(info.value)
    if row is not None:
        assert info.value.row == row and f"row {row}" in str(info.value)
    if field is not None:
        assert info.value.field == field
    assert snapshot(store.root) == before
    assert not list(store.root.rglob("*.tmp"))


def test_missing_column(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    col = HEADER.split(",").index("high")

    def drop_high(lines):
        return [
            ",".join(p for i, p in enumerate(line.rstrip("\n").split(",")) if i != col) + "\n"
            for line in lines
        ]

    _rewrite(path, drop_high)
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None, field="high")


def test_ragged_row(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    _rewrite(path, lambda lines: [*lines[:4], lines[4].rstrip("\n") + ",99\n", *lines[5:]])
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None)


def test_non_numeric_value(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[1]
    _rewrite(path, lambda lines: _set_field(lines, 5, "close", "abc"))
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, 5)


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_nan_or_inf_price(raw_dir, ingested, value) -> None:
    path = _minute_files(raw_dir)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    row = next(i for i, line in enumerate(lines) if line.startswith("RIOT,"))
    _rewrite(path, lambda ls: _set_field(ls, row, "open", value))
    _assert_fails_cleanly(ingested, raw_dir, DataValidationError, path, row, field="open")


def test_non_positive_price(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[2]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    row = [i for i, line in enumerate(lines) if line.startswith("SPY,")][7]
    _rewrite(path, lambda ls: _set_field(ls, row, "low", "-1.5"))
    _assert_fails_cleanly(ingested, raw_dir, DataValidationError, path, row, field="low")


def test_ohlc_inconsistent(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[1]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    row = [i for i, line in enumerate(lines) if line.startswith("SPY,")][3]
    parts = lines[row].split(",")
    low, body_top = parts[5], max(float(parts[2]), float(parts[3]))
    assert float(low) < body_top
    _rewrite(path, lambda ls: _set_field(ls, row, "high", low))  # high below the body
    _assert_fails_cleanly(ingested, raw_dir, DataValidationError, path, row, field="high")


def test_empty_file(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    path.write_bytes(b"")
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None)


def test_header_only_file(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    path.write_bytes(gzip.compress(HEADER.encode()))
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None)


def test_truncated_gz(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[1]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None)


def test_corrupt_gz(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[2]
    data = bytearray(path.read_bytes())
    data[100:140] = b"\x00" * 40
    path.write_bytes(bytes(data))
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, None)


def test_bad_date_in_file_name(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    shutil.move(path, path.with_name("2026-13-45.csv.gz"))
    _assert_fails_cleanly(ingested, raw_dir, DataError, path.with_name("2026-13-45.csv.gz"), None)


def test_bar_outside_the_files_day(raw_dir, ingested) -> None:
    path = _minute_files(raw_dir)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    row = [i for i, line in enumerate(lines) if line.startswith("RIOT,")][1]
    _rewrite(path, lambda ls: _set_field(ls, row, "window_start", "1500000000000000000"))
    _assert_fails_cleanly(ingested, raw_dir, DataError, path, row, field="window_start")


def test_duplicates_first_kept_and_counted(raw_dir, store) -> None:
    path = _minute_files(raw_dir)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines(keepends=True)
    row = next(i for i, line in enumerate(lines) if line.startswith("SPY,"))
    dup = _set_field(list(lines), row, "close", lines[row].split(",")[3])  # unchanged copy
    doctored = [
        *dup[: row + 1],
        _set_field([lines[0], lines[row]], 1, "volume", "1")[1],
        *dup[row + 1 :],
    ]
    path.write_bytes(gzip.compress("".join(doctored).encode()))
    summary = ingest_flat_files(store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY"])
    assert summary.report.duplicates == 1
    spy = store.read("SPY", "1min")
    first = spy.iloc[0]
    assert first["volume"] != 1.0  # the first occurrence was kept


def test_drop_mode_counts_bad_rows(raw_dir, store) -> None:
    path = _minute_files(raw_dir)[0]
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    row = [i for i, line in enumerate(lines) if line.startswith("SPY,")][2]
    _rewrite(path, lambda ls: _set_field(ls, row, "high", "0.5"))
    summary = ingest_flat_files(
        store, raw_dir, f"{MINUTE_KIND}/**/*.csv.gz", "1min", ["SPY"], on_bad="drop"
    )
    assert summary.report.dropped == {"OHLC inconsistent": 1}
    assert len(store.read("SPY", "1min")) == 3 * 390 - 1


def test_symbol_that_is_a_path_is_refused(store) -> None:
    with pytest.raises(InvalidSymbolError):
        store.dataset_path("../../etc/passwd", "1day")
    with pytest.raises(InvalidSymbolError):
        store.get("spy;rm", "1day")
