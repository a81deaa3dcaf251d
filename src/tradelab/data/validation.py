"""Validation of every frame that enters the store.

Rules, in order: required columns; timestamp dtype (timezone-aware); unparseable timestamps;
non-numeric, NaN or infinite values; non-positive prices or negative volume; OHLC consistency
(low <= open, close <= high); then order (sorted, stable) and duplicate timestamps (the first
kept, the count reported). A failing rule raises `DataValidationError` naming the source, the
1-based data row and the field, unless `on_bad="drop"`, which drops and counts the bad rows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from tradelab.data.bars import BAR_COLUMNS, PRICE_COLUMNS, timestamps_ns
from tradelab.errors import DataValidationError

__all__ = ["ValidationReport", "check_rows", "order_and_dedupe", "validate_bars"]

OnBad = Literal["error", "drop"]
_REQUIRED = ("timestamp", *PRICE_COLUMNS, "volume")


@dataclass
class ValidationReport:
    """What validation saw and did. `dropped`: bad rows dropped (`on_bad="drop"`) per rule;
    `skipped`: rows not read at all per reason (`invalid symbol`, `outside universe`)."""

    source: str
    rows_in: int = 0
    rows_out: int = 0
    duplicates: int = 0
    reordered: int = 0
    dropped: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def add(self, other: ValidationReport) -> None:
        """Accumulate another report (same source family) into this one."""
        self.rows_in += other.rows_in
        self.rows_out += other.rows_out
        self.duplicates += other.duplicates
        self.reordered += other.reordered
        for rule, count in other.dropped.items():
            self.dropped[rule] = self.dropped.get(rule, 0) + count
        for reason, count in other.skipped.items():
            self.skipped[reason] = self.skipped.get(reason, 0) + count

    def rows_not_stored(self) -> dict[str, int]:
        """Rows read or seen but not stored, per reason: skipped, dropped, duplicate."""
        out = {**self.skipped}
        for rule, count in self.dropped.items():
            out[rule] = out.get(rule, 0) + count
        if self.duplicates:
            out["duplicate timestamp"] = out.get("duplicate timestamp", 0) + self.duplicates
        return {k: v for k, v in out.items() if v}

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def check_rows(
    frame: pd.DataFrame,
    *,
    source: str | Path,
    on_bad: OnBad = "error",
    rows: np.ndarray | None = None,
    sources: list[str] | None = None,
    source_index: np.ndarray | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Apply the row rules (everything but order and duplicates); return canonical columns.

    `rows` gives each row's 1-based number in its file (default 1..len). When rows come from
    several files, `sources[source_index[i]]` names the file of row i.
    """
    source = str(source)
    report = ValidationReport(source=source, rows_in=len(frame))
    if len(frame) == 0:
        raise DataValidationError("no rows", file=source)
    for column in _REQUIRED:
        if column not in frame.columns:
            raise DataValidationError("missing required column", file=source, field=column)
    row_no = np.arange(1, len(frame) + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    if len(row_no) != len(frame):
        raise ValueError("rows must have one entry per frame row")
    keep_extra = [c for c in ("ticker",) if c in frame.columns]
    out = frame.loc[:, [c for c in BAR_COLUMNS if c in frame.columns] + keep_extra]
    out = out.reset_index(drop=True)
    if "transactions" not in out.columns:
        out["transactions"] = 0
    where = np.zeros(len(out), dtype=np.int64) if source_index is None else np.asarray(source_index)
    names = [source] if sources is None else sources

    def apply(bad: np.ndarray, rule: str, field_name: str, detail: str) -> None:
        nonlocal out, row_no, where
        if not bad.any():
            return
        if on_bad == "error":
            first = int(np.flatnonzero(bad)[0])
            raise DataValidationError(
                f"{rule}: {detail} ({int(bad.sum())} bad row(s))",
                file=names[int(where[first])],
                row=int(row_no[first]),
                field=field_name,
            )
        report.dropped[rule] = report.dropped.get(rule, 0) + int(bad.sum())
        keep = ~bad
        out = out.loc[keep].reset_index(drop=True)
        row_no, where = row_no[keep], where[keep]

    ts = out["timestamp"]
    if not isinstance(ts.dtype, pd.DatetimeTZDtype):
        raise DataValidationError(
            f"timestamp must be timezone-aware datetimes, got dtype {ts.dtype}",
            file=source,
            field="timestamp",
        )
    out["timestamp"] = ts.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    apply(
        out["timestamp"].isna().to_numpy(),
        "bad timestamp",
        "timestamp",
        "missing or unparseable date/time",
    )
    for column in (*PRICE_COLUMNS, "volume", "transactions"):
        raw = out[column]
        values = pd.to_numeric(raw, errors="coerce")
        apply(
            values.isna().to_numpy() & raw.notna().to_numpy(),
            "non-numeric value",
            column,
            f"'{column}' is not a number",
        )
        out[column] = pd.to_numeric(out[column], errors="coerce")
    for column in (*PRICE_COLUMNS, "volume"):
        out[column] = out[column].astype(np.float64)
        apply(
            ~np.isfinite(out[column].to_numpy()),
            "NaN or inf",
            column,
            f"'{column}' is NaN or infinite",
        )
    out["transactions"] = out["transactions"].fillna(0).astype(np.int64)
    for column in PRICE_COLUMNS:
        apply(out[column].to_numpy() <= 0, "non-positive price", column, f"'{column}' <= 0")
    apply(out["volume"].to_numpy() < 0, "negative volume", "volume", "'volume' < 0")
    o, h, lo, c = (out[k].to_numpy() for k in PRICE_COLUMNS)
    apply(
        (lo > o) | (lo > c) | (lo > h), "OHLC inconsistent", "low", "low above open, close or high"
    )
    o, h, lo, c = (out[k].to_numpy() for k in PRICE_COLUMNS)
    apply((h < o) | (h < c), "OHLC inconsistent", "high", "high below open or close")
    if len(out) == 0:
        raise DataValidationError("no valid rows left after dropping bad rows", file=source)
    report.rows_out = len(out)
    return out, report


def order_and_dedupe(frame: pd.DataFrame, report: ValidationReport) -> pd.DataFrame:
    """Sort by timestamp (stable) and drop repeated timestamps, the first kept; count both."""
    stamps = timestamps_ns(frame["timestamp"])
    if len(stamps) > 1 and not (stamps[1:] >= stamps[:-1]).all():
        report.reordered += int((stamps[1:] < stamps[:-1]).sum())
        frame = frame.iloc[np.argsort(stamps, kind="stable")].reset_index(drop=True)
    stamps = timestamps_ns(frame["timestamp"])
    dup = np.zeros(len(stamps), dtype=bool)
    dup[1:] = stamps[1:] == stamps[:-1]
    if dup.any():
        report.duplicates += int(dup.sum())
        frame = frame.loc[~dup].reset_index(drop=True)
    report.rows_out = len(frame)
    return frame


def validate_bars(
    frame: pd.DataFrame,
    *,
    source: str | Path,
    on_bad: OnBad = "error",
    rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, ValidationReport]:
    """Check one symbol's `frame` against every rule; return it canonical, with a report."""
    out, report = check_rows(frame, source=source, on_bad=on_bad, rows=rows)
    out = out.drop(columns=[c for c in out.columns if c not in BAR_COLUMNS])
    return order_and_dedupe(out, report), report
