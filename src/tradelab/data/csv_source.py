"""Generic CSV/Parquet sources: a long table (one symbol per file or a symbol column) with a
column mapping, or a wide close-price table (`date` + one column per ticker).

Timestamps are parsed with `date_format` (strptime; ISO 8601 when None); naive times are in
`timezone`. Daily rows are stamped at midnight America/New_York of their date (the store's
convention). A wide table becomes close-only bars (open = high = low = close, volume 0); a
ticker's empty cells (before it listed) are skipped, not errors.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from tradelab.data.bars import EXCHANGE_TZ
from tradelab.data.symbols import validate_symbol
from tradelab.data.validation import OnBad, ValidationReport, validate_bars
from tradelab.errors import DataError

__all__ = ["read_long_table", "read_wide_closes"]

_CANONICAL = ("timestamp", "open", "high", "low", "close", "volume")


def _load(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError("file not found", file=path)
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise DataError(f"cannot read: {exc}", file=path) from exc


_FORMAT_GUESSES = ("%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "%d.%m.%Y", "%m/%d/%Y %H:%M", "%b %d, %Y")


def _parse_times(
    raw: pd.Series, date_format: str | None, timezone: str, daily: bool, path: Path
) -> pd.Series:
    """Parse the date column; when its first date does not parse, the format is wrong (not
    one row): a `DataError` shows the value and suggests a `data.date_format` that reads it."""
    text = raw.astype(str).str.strip()
    if date_format:
        parsed = pd.to_datetime(text, format=date_format, errors="coerce")
    else:
        parsed = pd.to_datetime(text, format="ISO8601", errors="coerce", utc=False)
    filled = np.flatnonzero((text != "").to_numpy())
    if len(filled) and pd.isna(parsed.iloc[filled[0]]):
        value = text.iloc[filled[0]]
        fits = [
            f
            for f in _FORMAT_GUESSES
            if not pd.isna(pd.to_datetime(value, format=f, errors="coerce"))
        ]
        hint = f"set data.date_format={fits[0]}" if fits else "set data.date_format (strptime)"
        used = (
            f"data.date_format={date_format}" if date_format else "ISO 8601 (no data.date_format)"
        )
        raise DataError(
            f"cannot read the date {value!r} as {used}: {hint}",
            file=path,
            row=int(filled[0]) + 1,
            field=str(raw.name),
        )
    if isinstance(parsed.dtype, pd.DatetimeTZDtype):
        if daily:
            parsed = parsed.dt.tz_localize(None)
        else:
            return parsed.dt.tz_convert("UTC")
    if daily:
        return parsed.dt.normalize().dt.tz_localize(EXCHANGE_TZ).dt.tz_convert("UTC")
    return parsed.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT").dt.tz_convert("UTC")


def read_long_table(
    path: str | Path,
    *,
    columns: Mapping[str, str],
    symbol: str | None = None,
    symbol_column: str | None = None,
    timeframe: str = "1day",
    date_format: str | None = None,
    timezone: str = EXCHANGE_TZ,
    adjust_close_column: str | None = None,
    on_bad: OnBad = "error",
    report: ValidationReport | None = None,
) -> dict[str, pd.DataFrame]:
    """Read a long OHLCV table; map columns; return validated bars per symbol (what validation
    did is added to `report`)."""
    path = Path(path)
    raw = _load(path)
    mapping = {k: columns.get(k, k) for k in _CANONICAL}
    if "transactions" in columns:
        mapping["transactions"] = columns["transactions"]
    for canonical, name in mapping.items():
        if name not in raw.columns:
            raise DataError(
                f"column '{name}' (mapped to {canonical}) not in the file; it has "
                f"{list(raw.columns)}",
                file=path,
                field=name,
            )
    if (symbol is None) == (symbol_column is None):
        raise DataError(
            "give exactly one of 'symbol' or 'symbol_column'", file=path, field="symbol"
        )
    frame = pd.DataFrame({k: raw[v] for k, v in mapping.items() if k != "timestamp"})
    frame["timestamp"] = _parse_times(
        raw[mapping["timestamp"]], date_format, timezone, timeframe == "1day", path
    )
    if adjust_close_column is not None:
        if adjust_close_column not in raw.columns:
            raise DataError(
                f"adjustment column '{adjust_close_column}' not in the file",
                file=path,
                field=adjust_close_column,
            )
        factor = pd.to_numeric(raw[adjust_close_column], errors="coerce") / pd.to_numeric(
            frame["close"], errors="coerce"
        )
        for c in ("open", "high", "low", "close"):
            frame[c] = pd.to_numeric(frame[c], errors="coerce") * factor
    rows = np.arange(1, len(frame) + 1)
    if symbol is not None:
        groups = {validate_symbol(symbol): np.ones(len(frame), dtype=bool)}
    else:
        assert symbol_column is not None
        if symbol_column not in raw.columns:
            raise DataError(
                f"symbol column '{symbol_column}' not in the file", file=path, field=symbol_column
            )
        names = raw[symbol_column].astype(str).str.strip()
        groups = {validate_symbol(s): (names == s).to_numpy() for s in sorted(names.unique())}
    out = {}
    for sym, mask in groups.items():
        out[sym], seen = validate_bars(
            frame.loc[mask].reset_index(drop=True), source=path, on_bad=on_bad, rows=rows[mask]
        )
        if report is not None:
            report.add(seen)
    return out


def read_wide_closes(
    path: str | Path,
    *,
    date_column: str = "date",
    date_format: str | None = None,
    on_bad: OnBad = "error",
    report: ValidationReport | None = None,
) -> dict[str, pd.DataFrame]:
    """Read a wide close table (`date` + one column per ticker) into close-only daily bars
    (what validation did is added to `report`)."""
    path = Path(path)
    raw = _load(path)
    if date_column not in raw.columns:
        raise DataError(
            f"date column '{date_column}' not in the file", file=path, field=date_column
        )
    stamps = _parse_times(raw[date_column], date_format, EXCHANGE_TZ, True, path)
    rows = np.arange(1, len(raw) + 1)
    out = {}
    for ticker in [c for c in raw.columns if c != date_column]:
        sym = validate_symbol(str(ticker).strip())
        cell = raw[ticker].astype(str).str.strip()
        present = (cell != "") & (cell.str.lower() != "nan")
        close = cell[present]
        frame = pd.DataFrame(
            {
                "timestamp": stamps[present].to_numpy(),
                "open": close,
                "high": close,
                "low": close,
                "close": close,
                "volume": 0.0,
            }
        )
        frame["timestamp"] = frame["timestamp"].astype("datetime64[ns, UTC]")
        if len(frame):
            out[sym], seen = validate_bars(
                frame, source=path, on_bad=on_bad, rows=rows[present.to_numpy()]
            )
            if report is not None:
                report.add(seen)
    return out
