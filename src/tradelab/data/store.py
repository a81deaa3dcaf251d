"""The Parquet store: one dataset per (symbol, timeframe) plus a `meta.json` of its coverage.

Layout: `<root>/<timeframe>/<SYMBOL>.parquet` and `<SYMBOL>.meta.json`. The meta (coverage,
row count, source, content hash) is also embedded in the Parquet file's key-value metadata,
which is written in the same atomic rename as the data; the JSON file is written after it and
is only a readable copy. So a crash can never leave a meta that claims coverage the data does
not have. `get` serves a date range: a cache hit reads the file; a partial miss fetches only
the missing edges through the fetcher and merges; a full miss fetches the range. In offline
mode nothing is fetched and what is cached is returned.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradelab.atomic import write_bytes_atomic
from tradelab.data.bars import BAR_COLUMNS, EXCHANGE_TZ, timeframe_minutes, timestamps_ns
from tradelab.data.resample import resample_bars
from tradelab.data.symbols import validate_symbol
from tradelab.data.validation import OnBad, ValidationReport, validate_bars
from tradelab.errors import DataError

__all__ = ["Fetcher", "ParquetStore", "StoreMeta", "frame_hash"]

log = logging.getLogger(__name__)
_META_KEY = b"tradelab.meta"
BASE_TIMEFRAMES = ("1min", "1day")


class Fetcher(Protocol):
    """Supplies raw bars the store does not have yet."""

    name: str

    def fetch(self, symbol: str, timeframe: str, start: date, end: date) -> pd.DataFrame:
        """Return bars of `symbol` for sessions `start`..`end` (inclusive), possibly empty."""
        ...

    def available(self, symbol: str, timeframe: str) -> tuple[date, date] | None:
        """Return the session range the fetcher can supply for `symbol`, or None."""
        ...


@dataclass(frozen=True)
class StoreMeta:
    symbol: str
    timeframe: str
    rows: int
    first: str
    last: str
    coverage_start: str
    coverage_end: str
    source: str
    content_hash: str
    derived_from: str | None = None
    updated: str = ""

    def covers(self, start: date, end: date) -> bool:
        return date.fromisoformat(self.coverage_start) <= start and end <= date.fromisoformat(
            self.coverage_end
        )

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def frame_hash(frame: pd.DataFrame) -> str:
    """Hash the values of a canonical frame (independent of Parquet encoding)."""
    digest = hashlib.sha256()
    digest.update(timestamps_ns(frame["timestamp"]).tobytes())
    for column in BAR_COLUMNS[1:]:
        digest.update(np.ascontiguousarray(frame[column].to_numpy()).tobytes())
    return digest.hexdigest()[:32]


def session_day(ts: pd.Timestamp) -> date:
    return ts.tz_convert(EXCHANGE_TZ).date()


def _day_bounds(start: date, end: date) -> tuple[pd.Timestamp, pd.Timestamp]:
    lo = pd.Timestamp(start).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
    hi = pd.Timestamp(end + timedelta(days=1)).tz_localize(EXCHANGE_TZ).tz_convert("UTC")
    return lo, hi


class ParquetStore:
    """Validated bars per symbol and timeframe, with coverage-aware `get`."""

    def __init__(
        self, root: str | Path, fetcher: Fetcher | None = None, *, offline: bool = False
    ) -> None:
        self.root = Path(root)
        self.fetcher = fetcher
        self.offline = offline

    # -- paths and metadata ----------------------------------------------------------------
    def dataset_path(self, symbol: str, timeframe: str) -> Path:
        timeframe_minutes(timeframe)
        return self.root / timeframe / f"{validate_symbol(symbol)}.parquet"

    def meta_path(self, symbol: str, timeframe: str) -> Path:
        return self.dataset_path(symbol, timeframe).with_suffix(".meta.json")

    def meta(self, symbol: str, timeframe: str) -> StoreMeta | None:
        """Return the dataset's metadata (from the Parquet file itself), None when absent."""
        path = self.dataset_path(symbol, timeframe)
        if not path.exists():
            return None
        try:
            raw = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"corrupt store file: {exc}", file=path) from exc
        if _META_KEY not in raw:
            raise DataError("store file has no tradelab metadata", file=path)
        return StoreMeta(**json.loads(raw[_META_KEY]))

    def symbols(self, timeframe: str) -> list[str]:
        """Return the symbols stored for `timeframe`."""
        folder = self.root / timeframe
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    # -- reading and writing ---------------------------------------------------------------
    def read(
        self, symbol: str, timeframe: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Return cached bars (sessions `start`..`end`, inclusive); never fetches."""
        path = self.dataset_path(symbol, timeframe)
        if not path.exists():
            raise DataError(f"no {timeframe} data for {symbol} in the store", file=path)
        try:
            frame = pq.read_table(path).to_pandas()
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"corrupt store file: {exc}", file=path) from exc
        frame["timestamp"] = frame["timestamp"].astype("datetime64[ns, UTC]")
        keep = np.ones(len(frame), dtype=bool)
        if start is not None:
            keep &= (frame["timestamp"] >= _day_bounds(start, start)[0]).to_numpy()
        if end is not None:
            keep &= (frame["timestamp"] < _day_bounds(end, end)[1]).to_numpy()
        return frame if keep.all() else frame.loc[keep].reset_index(drop=True)

    def write(
        self,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        source: str,
        coverage: tuple[date, date] | None = None,
        derived_from: str | None = None,
        on_bad: OnBad = "error",
    ) -> tuple[StoreMeta, ValidationReport]:
        """Validate `frame` and replace the dataset with it (atomically)."""
        path = self.dataset_path(symbol, timeframe)
        clean, report = validate_bars(frame, source=f"{source} -> {path}", on_bad=on_bad)
        first, last = clean["timestamp"].iloc[0], clean["timestamp"].iloc[-1]
        cov = coverage or (session_day(first), session_day(last))
        meta = StoreMeta(
            symbol=symbol,
            timeframe=timeframe,
            rows=len(clean),
            first=first.isoformat(),
            last=last.isoformat(),
            coverage_start=cov[0].isoformat(),
            coverage_end=cov[1].isoformat(),
            source=source,
            content_hash=frame_hash(clean),
            derived_from=derived_from,
            updated=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        table = pa.Table.from_pandas(clean.loc[:, list(BAR_COLUMNS)], preserve_index=False)
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: meta.to_json().encode()}
        )
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        write_bytes_atomic(path, sink.getvalue().to_pybytes())
        write_bytes_atomic(self.meta_path(symbol, timeframe), meta.to_json().encode())
        return meta, report

    def merge(
        self,
        symbol: str,
        timeframe: str,
        frame: pd.DataFrame,
        *,
        source: str,
        coverage: tuple[date, date] | None = None,
        on_bad: OnBad = "error",
        replace_days: set[date] | None = None,
    ) -> tuple[StoreMeta, ValidationReport]:
        """Add `frame` to the dataset: existing rows win on equal timestamps; coverage grows.

        Existing rows on `replace_days` (sessions whose source changed) are dropped first.
        """
        old = self.meta(symbol, timeframe)
        if old is None:
            return self.write(
                symbol, timeframe, frame, source=source, coverage=coverage, on_bad=on_bad
            )
        existing = self.read(symbol, timeframe)
        if replace_days:
            days = existing["timestamp"].dt.tz_convert(EXCHANGE_TZ).dt.date
            existing = existing.loc[~days.isin(replace_days).to_numpy()].reset_index(drop=True)
        cov_new = coverage
        if cov_new is None and len(frame):
            stamps = frame["timestamp"]
            cov_new = (session_day(stamps.min()), session_day(stamps.max()))
        lo = date.fromisoformat(old.coverage_start)
        hi = date.fromisoformat(old.coverage_end)
        if cov_new is not None:
            lo, hi = min(lo, cov_new[0]), max(hi, cov_new[1])
        combined = pd.concat(
            [existing, frame.loc[:, [c for c in BAR_COLUMNS if c in frame.columns]]],
            ignore_index=True,
        )
        sources = old.source if source in old.source.split("+") else f"{old.source}+{source}"
        return self.write(
            symbol, timeframe, combined, source=sources, coverage=(lo, hi), on_bad=on_bad
        )

    # -- serving ranges --------------------------------------------------------------------
    def get(
        self,
        symbol: str,
        timeframe: str,
        start: date | str | None = None,
        end: date | str | None = None,
    ) -> pd.DataFrame:
        """Return bars for sessions `start`..`end`, fetching only what is missing."""
        start_d = _as_date(start)
        end_d = _as_date(end)
        if timeframe not in BASE_TIMEFRAMES:
            return self._get_derived(symbol, timeframe, start_d, end_d)
        meta = self.meta(symbol, timeframe)
        if start_d is None or end_d is None:
            bounds = None
            if meta is not None:
                bounds = (
                    date.fromisoformat(meta.coverage_start),
                    date.fromisoformat(meta.coverage_end),
                )
            elif self.fetcher is not None and not self.offline:
                bounds = self.fetcher.available(symbol, timeframe)
            if bounds is None:
                raise DataError(
                    f"no {timeframe} data for {symbol}: "
                    "not in the store and nothing to fetch it from",
                    file=self.dataset_path(symbol, timeframe),
                )
            start_d, end_d = start_d or bounds[0], end_d or bounds[1]
        if start_d > end_d:
            raise ValueError(f"start {start_d} is after end {end_d}")
        if meta is not None and meta.covers(start_d, end_d):
            return self.read(symbol, timeframe, start_d, end_d)
        if self.offline or self.fetcher is None:
            if meta is None:
                raise DataError(
                    f"no {timeframe} data for {symbol} and offline: nothing cached",
                    file=self.dataset_path(symbol, timeframe),
                )
            log.warning(
                "%s %s: offline, serving cached %s..%s of requested %s..%s",
                symbol,
                timeframe,
                meta.coverage_start,
                meta.coverage_end,
                start_d,
                end_d,
            )
            return self.read(symbol, timeframe, start_d, end_d)
        for gap in _gaps(meta, start_d, end_d):
            fetched = self.fetcher.fetch(symbol, timeframe, *gap)
            if len(fetched) == 0:
                if meta is None:
                    raise DataError(
                        f"fetcher '{self.fetcher.name}' has no {timeframe} data for {symbol} "
                        f"in {gap[0]}..{gap[1]}"
                    )
                continue
            meta, _ = self.merge(symbol, timeframe, fetched, source=self.fetcher.name, coverage=gap)
        return self.read(symbol, timeframe, start_d, end_d)

    def derive(self, symbol: str, timeframe: str, base: str = "1min") -> StoreMeta:
        """(Re)build `timeframe` from the `base` dataset unless it is already up to date."""
        base_meta = self.meta(symbol, base)
        if base_meta is None:
            raise DataError(
                f"cannot derive {timeframe} for {symbol}: no {base} data",
                file=self.dataset_path(symbol, base),
            )
        current = self.meta(symbol, timeframe)
        if current is not None and current.derived_from == base_meta.content_hash:
            return current
        bars = resample_bars(self.read(symbol, base), timeframe)
        meta, _ = self.write(
            symbol,
            timeframe,
            bars,
            source=f"resample({base})",
            coverage=(
                date.fromisoformat(base_meta.coverage_start),
                date.fromisoformat(base_meta.coverage_end),
            ),
            derived_from=base_meta.content_hash,
        )
        return meta

    def _get_derived(
        self, symbol: str, timeframe: str, start: date | None, end: date | None
    ) -> pd.DataFrame:
        base = "1min"
        if start is not None and end is not None:
            self.get(symbol, base, start, end)
        elif not self.offline and self.meta(symbol, base) is None:
            self.get(symbol, base)
        self.derive(symbol, timeframe, base)
        return self.read(symbol, timeframe, start, end)

    def content_hash(self, keys: Iterable[tuple[str, str]] | None = None) -> str:
        """Hash the content of the given (symbol, timeframe) datasets (all when None)."""
        if keys is None:
            keys = [
                (s, tf.name)
                for tf in sorted(self.root.glob("*"))
                if tf.is_dir()
                for s in self.symbols(tf.name)
            ]
        lines = []
        for symbol, timeframe in sorted(set(keys)):
            meta = self.meta(symbol, timeframe)
            lines.append(f"{symbol}|{timeframe}|{meta.content_hash if meta else 'missing'}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return pd.Timestamp(value).date()


def _gaps(meta: StoreMeta | None, start: date, end: date) -> list[tuple[date, date]]:
    if meta is None:
        return [(start, end)]
    lo, hi = date.fromisoformat(meta.coverage_start), date.fromisoformat(meta.coverage_end)
    if end < lo - timedelta(days=1) or start > hi + timedelta(days=1):
        # a disjoint request: fetch the bridge too, so coverage stays one interval
        return [(start, lo - timedelta(days=1))] if end < lo else [(hi + timedelta(days=1), end)]
    gaps = []
    if start < lo:
        gaps.append((start, lo - timedelta(days=1)))
    if end > hi:
        gaps.append((hi + timedelta(days=1), end))
    return gaps
