"""Massive/Polygon-style flat files: one `csv.gz` per trading day.

Layout: `<root>/<kind>/<YYYY>/<MM>/<YYYY-MM-DD>.csv.gz`, kind `minute_aggs_v1` (1-minute bars)
or `day_aggs_v1` (daily bars). Columns: ticker, volume, open, close, high, low, window_start
(int ns UTC, bar start), transactions. Reading makes ONE pass over the day files, keeping only
the wanted tickers; errors name the file and the 1-based data row.
"""

from __future__ import annotations

import gzip
import itertools
import os
import re
import shutil
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from tradelab import faults
from tradelab.data.bars import EXCHANGE_TZ, timestamps_ns
from tradelab.data.symbols import is_symbol
from tradelab.data.validation import OnBad, ValidationReport, check_rows, order_and_dedupe
from tradelab.errors import DataError

__all__ = [
    "DAY_KIND",
    "FLAT_COLUMNS",
    "MINUTE_KIND",
    "DayFile",
    "FlatFileBatch",
    "read_day_files",
    "scan_day_files",
    "write_day_files",
]

MINUTE_KIND = "minute_aggs_v1"
DAY_KIND = "day_aggs_v1"
FLAT_COLUMNS = ["ticker", "volume", "open", "close", "high", "low", "window_start", "transactions"]
_REQUIRED = ("ticker", "volume", "open", "close", "high", "low", "window_start")
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_TYPES = {
    "ticker": pa.string(),
    "volume": pa.float64(),
    "open": pa.float64(),
    "close": pa.float64(),
    "high": pa.float64(),
    "low": pa.float64(),
    "window_start": pa.int64(),
    "transactions": pa.int64(),
}
_ROW_RE = re.compile(r"Row #(\d+)")
DAY_FILE = faults.declare(
    "ingest.day_file", "an ingestion after the k-th day file is read, before the next (@k)"
)
INVALID_SYMBOL = "invalid symbol"
OUTSIDE_UNIVERSE = "outside universe"
_COLUMN_RE = re.compile(r"In CSV column #(\d+)")


def _locate_bad_value(path: Path, column: int) -> tuple[str | None, int | None]:
    """Find the first row whose value in `column` is not a number (slow path, errors only)."""
    try:
        table = pacsv.read_csv(
            path,
            convert_options=pacsv.ConvertOptions(
                column_types={}, strings_can_be_null=False, check_utf8=False
            ),
        )
        name = table.column_names[column]
        values = pd.Series(table.column(column).cast(pa.string()).to_pylist())
    except (pa.ArrowException, OSError, IndexError):
        return None, None
    bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
    return name, (int(np.flatnonzero(bad.to_numpy())[0]) + 1 if bad.any() else None)


@dataclass(frozen=True)
class DayFile:
    path: Path
    day: date


@dataclass
class FlatFileBatch:
    """Bars per symbol from one pass over day files."""

    frames: dict[str, pd.DataFrame]
    report: ValidationReport
    files: list[DayFile]


def scan_day_files(root: str | Path, pattern: str) -> list[DayFile]:
    """List day files under `root` matching `pattern`, sorted by day (named by their date)."""
    root = Path(root)
    out = []
    for path in sorted(root.glob(pattern)):
        if not path.is_file():
            continue
        match = _DATE_RE.search(path.name)
        try:
            day = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            day = None
        if day is None:
            raise DataError("file name does not contain a valid YYYY-MM-DD date", file=path)
        out.append(DayFile(path, day))
    out.sort(key=lambda f: (f.day, str(f.path)))
    return out


def _read_one(path: Path) -> pa.Table:
    if path.stat().st_size == 0:
        raise DataError("empty file", file=path)
    try:
        table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=_TYPES))
    except (pa.ArrowException, OSError, EOFError, zlib.error) as exc:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        match = _ROW_RE.search(str(exc))
        # pyarrow counts the header as row 1; we count data rows from 1
        row = int(match.group(1)) - 1 if match else None
        field = None
        column = _COLUMN_RE.search(str(exc))
        if column is not None and row is None:
            field, row = _locate_bad_value(path, int(column.group(1)))
        raise DataError(f"cannot read: {text}", file=path, row=row, field=field) from exc
    missing = [c for c in _REQUIRED if c not in table.column_names]
    if missing:
        raise DataError(f"missing required column(s) {missing}", file=path, field=missing[0])
    if table.num_rows == 0:
        raise DataError("no data rows (truncated or empty file)", file=path)
    return table


def read_day_files(
    files: Sequence[DayFile],
    symbols: Iterable[str] | None,
    *,
    on_bad: OnBad = "error",
    progress: object | None = None,
) -> FlatFileBatch:
    """Read `files` once, keep `symbols` (all when None), validate, split per symbol."""
    wanted = None if symbols is None else pa.array(sorted(set(symbols)), pa.string())
    parts: dict[str, list[np.ndarray]] = {k: [] for k in (*FLAT_COLUMNS, "_row", "_file")}
    skipped: dict[str, int] = {}
    for i, f in enumerate(files):
        table = _read_one(f.path)
        idx = np.flatnonzero(_selected(table["ticker"], wanted, skipped))
        if len(idx):
            taken = table.take(pa.array(idx))
            for col in FLAT_COLUMNS:
                if col in taken.column_names:
                    arr = taken[col].to_numpy(zero_copy_only=False)
                else:
                    arr = np.zeros(len(idx), dtype=np.int64)
                if col != "ticker" and arr.dtype == object:
                    arr = pd.to_numeric(pd.Series(arr), errors="coerce").to_numpy()
                parts[col].append(arr)
            parts["_row"].append(idx + 1)
            parts["_file"].append(np.full(len(idx), i, dtype=np.int32))
        if progress is not None:
            progress(i + 1, len(files))  # type: ignore[operator]
        faults.fault(DAY_FILE)
    batch = _split(parts, files, on_bad)
    batch.report.skipped = {k: v for k, v in skipped.items() if v}
    return batch


def _selected(
    tickers: pa.ChunkedArray, wanted: pa.Array | None, skipped: dict[str, int]
) -> np.ndarray:
    """Mask of the rows to keep: wanted tickers (every valid one when `wanted` is None); count
    the others as skipped, by reason (an invalid ticker, or one outside the wanted symbols)."""
    if wanted is None:
        counts = pc.value_counts(tickers)
        keep = [v for v in counts.field("values").to_pylist() if is_symbol(v)]
        wanted = pa.array(keep, pa.string())
    mask = pc.fill_null(pc.is_in(tickers, value_set=wanted), False)
    others = pc.value_counts(pc.filter(tickers, pc.invert(mask)))
    for value, count in zip(
        others.field("values").to_pylist(), others.field("counts").to_pylist(), strict=True
    ):
        reason = OUTSIDE_UNIVERSE if is_symbol(value) else INVALID_SYMBOL
        skipped[reason] = skipped.get(reason, 0) + int(count)
    return mask.to_numpy(zero_copy_only=False)


def _split(
    parts: dict[str, list[np.ndarray]], files: Sequence[DayFile], on_bad: OnBad
) -> FlatFileBatch:
    """Validate the rows read and split them per symbol."""
    report = ValidationReport(source="flat files")
    if not parts["_row"]:
        return FlatFileBatch({}, report, list(files))
    cols = {k: np.concatenate(v) for k, v in parts.items()}
    names = [str(f.path) for f in files]
    ws = cols["window_start"].astype("float64")
    stamps = pd.to_datetime(pd.Series(cols["window_start"]), unit="ns", utc=True, errors="coerce")
    bad_ws = ~np.isfinite(ws)
    stamps[bad_ws] = pd.NaT
    frame = pd.DataFrame(
        {
            "ticker": cols["ticker"],
            "timestamp": stamps,
            **{c: cols[c] for c in ("open", "high", "low", "close", "volume", "transactions")},
        }
    )
    frame, report = check_rows(
        frame,
        source="flat files",
        on_bad=on_bad,
        rows=cols["_row"],
        sources=names,
        source_index=cols["_file"],
    )
    kept_rows, kept_files = _kept(cols, frame, report)
    _check_days(frame, kept_rows, kept_files, files, names, on_bad, report)

    frames: dict[str, pd.DataFrame] = {}
    codes, uniques = pd.factorize(frame["ticker"], sort=True)
    order = np.lexsort((np.arange(len(frame)), timestamps_ns(frame["timestamp"]), codes))
    frame = frame.iloc[order].reset_index(drop=True)
    codes = codes[order]
    bounds = np.flatnonzero(np.diff(codes)) + 1
    for start, stop in zip(np.r_[0, bounds], np.r_[bounds, len(frame)]):
        symbol = str(uniques[codes[start]])
        part = frame.iloc[start:stop].drop(columns="ticker").reset_index(drop=True)
        frames[symbol] = order_and_dedupe(part, report)
    report.rows_out = sum(len(f) for f in frames.values())
    return FlatFileBatch(frames, report, list(files))


def _kept(
    cols: dict[str, np.ndarray], frame: pd.DataFrame, report: ValidationReport
) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers and file indices of the rows `check_rows` kept (it may drop some)."""
    if len(frame) == len(cols["_row"]):
        return cols["_row"], cols["_file"]
    # rows were dropped: find survivors by (file, row) identity via the stamp/ticker order
    key_all = pd.MultiIndex.from_arrays(
        [cols["ticker"], pd.to_datetime(cols["window_start"], unit="ns", utc=True, errors="coerce")]
    )
    key_kept = pd.MultiIndex.from_arrays([frame["ticker"].to_numpy(), frame["timestamp"]])
    pos = key_all.get_indexer_for(key_kept)
    pos = pos[: len(frame)]
    return cols["_row"][pos], cols["_file"][pos]


def _check_days(
    frame: pd.DataFrame,
    rows: np.ndarray,
    file_idx: np.ndarray,
    files: Sequence[DayFile],
    names: list[str],
    on_bad: OnBad,
    report: ValidationReport,
) -> None:
    """Every bar must fall on its file's trading day (America/New_York)."""
    local_day = frame["timestamp"].dt.tz_convert(EXCHANGE_TZ).dt.normalize().dt.tz_localize(None)
    file_days = pd.DatetimeIndex([pd.Timestamp(f.day) for f in files]).as_unit("ns").asi8
    bad = np.asarray(local_day.array.as_unit("ns").asi8) != file_days[file_idx]
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    if on_bad == "error":
        raise DataError(
            f"window_start {frame['timestamp'].iloc[first]} is not on the file's day "
            f"{files[int(file_idx[first])].day} ({int(bad.sum())} bad row(s))",
            file=names[int(file_idx[first])],
            row=int(rows[first]),
            field="window_start",
        )
    report.dropped["wrong day"] = report.dropped.get("wrong day", 0) + int(bad.sum())
    frame.drop(index=frame.index[bad], inplace=True)
    frame.reset_index(drop=True, inplace=True)


def write_day_files(daily: pd.DataFrame, minute: pd.DataFrame, root: str | Path) -> int:
    """Write day files for `daily` and `minute` bars (FLAT_COLUMNS) under `root`, atomically.

    The tree is written into a temporary sibling folder and swapped in at the end, so a crash
    never leaves a half-written raw folder. Returns the number of files written.
    """
    root = Path(root)
    tmp = root.with_name(f".{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        shutil.rmtree(tmp)
    count = 0
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    header = (",".join(FLAT_COLUMNS) + "\n").encode()
    for kind, frame in ((DAY_KIND, daily), (MINUTE_KIND, minute)):
        if len(frame) == 0:
            continue
        table = pa.Table.from_pandas(frame[FLAT_COLUMNS], preserve_index=False)
        ws = frame["window_start"].to_numpy()
        days = pd.to_datetime(ws, unit="ns", utc=True).tz_convert(EXCHANGE_TZ).normalize()
        day_codes, day_values = pd.factorize(days, sort=True)
        bounds = np.r_[0, np.flatnonzero(np.diff(day_codes)) + 1, len(frame)]
        if (np.diff(day_codes) < 0).any():
            raise ValueError("bars must be sorted by window_start to write day files")
        for a, b in itertools.pairwise(bounds):
            day = day_values[day_codes[a]]
            path = tmp / kind / f"{day:%Y}" / f"{day:%m}" / f"{day:%Y-%m-%d}.csv.gz"
            path.parent.mkdir(parents=True, exist_ok=True)
            sink = pa.BufferOutputStream()
            pacsv.write_csv(table.slice(a, b - a), sink, write_options=options)
            # level 1 and a zero mtime: fast, and the same spec always gives the same bytes
            body = header + sink.getvalue().to_pybytes()
            path.write_bytes(gzip.compress(body, compresslevel=1, mtime=0))
            count += 1
    old = root.with_name(f".{root.name}.old-{os.getpid()}")
    if root.exists():
        root.rename(old)
    root.parent.mkdir(parents=True, exist_ok=True)
    if tmp.exists():
        tmp.rename(root)
    else:
        root.mkdir(parents=True)
    if old.exists():
        shutil.rmtree(old)
    return count
