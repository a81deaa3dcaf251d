"""The Parquet store: one dataset per (symbol, timeframe) plus a `meta.json` of its coverage.

Layout: `<root>/<timeframe>/<SYMBOL>.parquet` and `<SYMBOL>.meta.json`. The meta (coverage
ranges, row count, source, the synthetic market it came from, content hash) is also embedded in
the Parquet file's key-value metadata, which is written in the same atomic rename as the data;
the JSON file is written after it and is only a readable copy. So a crash can never leave a
meta that claims coverage the data does not have.

Coverage is a set of date ranges (`coverage.py`): ingesting two disjoint periods leaves the gap
uncovered. `get` serves a date range (an open end: the store's `span`, else the dataset's
coverage): a cache hit reads the file; a miss (an edge, a gap, or everything) fetches only the
missing ranges through the fetcher and merges. Without a fetcher (or offline), or when the
fetcher's API is down (`FetchError.api_down`: network, 5xx, credentials refused), nothing is
fetched: a request whose cached part is one unbroken stretch gets it with a warning; a request
inside a gap, or one whose answer would have a hole, is a `DataError` naming the missing
ranges. Datasets of different synthetic markets (`StoreMeta.market`) never
merge: that would splice two unrelated price paths.

Writers that touch several datasets stage them and commit them together
(`tradelab.data.staging`); opening a store completes a commit a crash interrupted
(`tradelab.data.journal`), so readers see the store before or after a commit, never a mix.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tradelab.atomic import write_bytes_atomic
from tradelab.data.bars import BAR_COLUMNS, EXCHANGE_TZ, timeframe_minutes, timestamps_ns
from tradelab.data.coverage import DateRange, merge_ranges, missing_ranges
from tradelab.data.journal import JOURNAL, recover, store_lock
from tradelab.data.resample import resample_bars
from tradelab.data.symbols import validate_symbol
from tradelab.data.validation import OnBad, ValidationReport, validate_bars
from tradelab.errors import DataError, FetchError

__all__ = ["Fetcher", "ParquetStore", "StoreMeta", "describe_market", "frame_hash"]

log = logging.getLogger(__name__)
_META_KEY = b"tradelab.meta"
BASE_TIMEFRAMES = ("1min", "1day")


class Fetcher(Protocol):
    """Supplies raw bars the store does not have yet.

    A fetcher of a synthetic market may also have a `market` attribute (its identity, see
    `MarketSpec.identity`); the store records it and never merges bars of another market.
    """

    name: str

    def fetch(self, symbol: str, timeframe: str, start: date, end: date) -> pd.DataFrame:
        """Return bars of `symbol` for sessions `start`..`end` (inclusive), possibly empty."""
        ...

    def available(self, symbol: str, timeframe: str) -> tuple[date, date] | None:
        """Return the session range the fetcher can supply for `symbol`, or None."""
        ...


@dataclass(frozen=True)
class StoreMeta:
    """What a dataset holds. `ranges`: the covered date ranges (ISO dates, inclusive);
    `coverage_start`/`coverage_end` are their outer bounds. `market`: the synthetic market's
    identity, None for other sources. A meta written before ranges existed is one range.

    Nothing in it depends on when it was written: the same bars give the same bytes, so a
    re-ingest leaves DVC's hashes of the store unchanged (older metas' `updated` stamp is
    ignored on read)."""

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
    ranges: tuple[tuple[str, str], ...] = ()
    market: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        ranges = tuple((str(a), str(b)) for a, b in self.ranges)
        object.__setattr__(self, "ranges", ranges or ((self.coverage_start, self.coverage_end),))

    def date_ranges(self) -> list[DateRange]:
        """Return the covered ranges as dates."""
        return [(date.fromisoformat(a), date.fromisoformat(b)) for a, b in self.ranges]

    def missing(self, start: date, end: date) -> list[DateRange]:
        """Return the ranges of `start`..`end` (holding sessions) this dataset does not cover."""
        return missing_ranges(self.date_ranges(), start, end)

    def covers(self, start: date, end: date) -> bool:
        return not self.missing(start, end)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)


def describe_market(market: Mapping[str, Any] | None, source: str = "") -> str:
    """Describe a dataset's market for messages (`data.mode=..., data.seed=...`)."""
    if market is None:
        if source.split("+")[0] == "synthetic":
            return "a synthetic market of unknown spec (written before tradelab recorded it)"
        return f"'{source}' data (not a synthetic market)" if source else "other data"
    keys = ("mode", "seed", "end", "daily_years")
    spec = ", ".join(f"data.{k}={market.get(k)}" for k in keys)
    return f"the synthetic market {spec} (generator v{market.get('generator_version')})"


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
    """Validated bars per symbol and timeframe, with coverage-aware `get`.

    Opening a store whose last commit a crash interrupted completes that commit first
    (`tradelab.data.journal`), so a reader sees the store before or after it, never a mix.
    """

    def __init__(
        self,
        root: str | Path,
        fetcher: Fetcher | None = None,
        *,
        offline: bool = False,
        span: DateRange | None = None,
    ) -> None:
        self.root = Path(root)
        self.fetcher = fetcher
        self.offline = offline
        self.span = span
        if (self.root / JOURNAL).exists():
            with store_lock(self.root):
                recover(self.root)

    # -- paths and metadata ----------------------------------------------------------------
    def dataset_path(self, symbol: str, timeframe: str) -> Path:
        """Return where this store writes the dataset (`<root>/<timeframe>/<SYMBOL>.parquet`)."""
        timeframe_minutes(timeframe)
        return self.root / timeframe / f"{validate_symbol(symbol)}.parquet"

    def meta_path(self, symbol: str, timeframe: str) -> Path:
        return self.dataset_path(symbol, timeframe).with_suffix(".meta.json")

    def source_path(self, symbol: str, timeframe: str) -> Path:
        """Return the file reads of the dataset come from (a staged store may read its base)."""
        return self.dataset_path(symbol, timeframe)

    def bookkeeping_path(self, timeframe: str, name: str) -> Path:
        """Return the file a bookkeeping record (`_<name>`) of `timeframe` is read from."""
        timeframe_minutes(timeframe)
        if not name.startswith("_") or "/" in name:
            raise ValueError(f"bookkeeping file names start with '_': {name!r}")
        return self.root / timeframe / name

    def meta(self, symbol: str, timeframe: str) -> StoreMeta | None:
        """Return the dataset's metadata (from the Parquet file itself), None when absent."""
        path = self.source_path(symbol, timeframe)
        if not path.exists():
            return None
        try:
            raw = pq.read_schema(path).metadata or {}
        except (pa.ArrowException, OSError) as exc:
            raise DataError(f"corrupt store file: {exc}", file=path) from exc
        if _META_KEY not in raw:
            raise DataError("store file has no tradelab metadata", file=path)
        fields = json.loads(raw[_META_KEY])
        fields.pop("updated", None)  # written by older versions: the time of the write
        return StoreMeta(**fields)

    def symbols(self, timeframe: str) -> list[str]:
        """Return the symbols stored for `timeframe`."""
        folder = self.root / timeframe
        return sorted(p.stem for p in folder.glob("*.parquet")) if folder.exists() else []

    # -- reading and writing ---------------------------------------------------------------
    def read(
        self, symbol: str, timeframe: str, start: date | None = None, end: date | None = None
    ) -> pd.DataFrame:
        """Return cached bars (sessions `start`..`end`, inclusive); never fetches."""
        path = self.source_path(symbol, timeframe)
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
        coverage: Sequence[DateRange] | None = None,
        derived_from: str | None = None,
        on_bad: OnBad = "error",
        market: Mapping[str, Any] | None = None,
    ) -> tuple[StoreMeta, ValidationReport]:
        """Validate `frame` and replace the dataset with it (atomically).

        `coverage`: the date ranges the frame covers (default: its first to its last session).
        """
        path = self.dataset_path(symbol, timeframe)
        clean, report = validate_bars(frame, source=f"{source} -> {path}", on_bad=on_bad)
        first, last = clean["timestamp"].iloc[0], clean["timestamp"].iloc[-1]
        ranges = merge_ranges(coverage or [(session_day(first), session_day(last))])
        meta = StoreMeta(
            symbol=symbol,
            timeframe=timeframe,
            rows=len(clean),
            first=first.isoformat(),
            last=last.isoformat(),
            coverage_start=ranges[0][0].isoformat(),
            coverage_end=ranges[-1][1].isoformat(),
            source=source,
            content_hash=frame_hash(clean),
            derived_from=derived_from,
            ranges=tuple((a.isoformat(), b.isoformat()) for a, b in ranges),
            market=None if market is None else dict(market),
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
        coverage: Sequence[DateRange] | None = None,
        on_bad: OnBad = "error",
        replace_days: set[date] | None = None,
        market: Mapping[str, Any] | None = None,
    ) -> tuple[StoreMeta, ValidationReport]:
        """Add `frame` to the dataset: existing rows win on equal timestamps; coverage grows.

        Existing rows on `replace_days` (sessions whose source changed) are dropped first. A
        dataset of another synthetic `market` is never merged into (`DataError`).
        """
        old = self.meta(symbol, timeframe)
        if old is None:
            return self.write(
                symbol,
                timeframe,
                frame,
                source=source,
                coverage=coverage,
                on_bad=on_bad,
                market=market,
            )
        self._check_market(old, market, source)
        existing = self.read(symbol, timeframe)
        if replace_days:
            days = existing["timestamp"].dt.tz_convert(EXCHANGE_TZ).dt.date
            existing = existing.loc[~days.isin(replace_days).to_numpy()].reset_index(drop=True)
        new_ranges = list(coverage or [])
        if not new_ranges and len(frame):
            stamps = frame["timestamp"]
            new_ranges = [(session_day(stamps.min()), session_day(stamps.max()))]
        combined = pd.concat(
            [existing, frame.loc[:, [c for c in BAR_COLUMNS if c in frame.columns]]],
            ignore_index=True,
        )
        sources = old.source if source in old.source.split("+") else f"{old.source}+{source}"
        return self.write(
            symbol,
            timeframe,
            combined,
            source=sources,
            coverage=[*old.date_ranges(), *new_ranges],
            on_bad=on_bad,
            market=market,
        )

    def _check_market(
        self, meta: StoreMeta, market: Mapping[str, Any] | None, source: str = ""
    ) -> None:
        if meta.market != (None if market is None else dict(market)):
            raise self._market_error([meta], market, source)

    def _market_error(
        self, conflicts: list[StoreMeta], market: Mapping[str, Any] | None, source: str = ""
    ) -> DataError:
        first = conflicts[0]
        more = f" (and {len(conflicts) - 1} more datasets)" if len(conflicts) > 1 else ""
        return DataError(
            f"refusing to add {describe_market(market, source)} to {first.symbol} "
            f"{first.timeframe}"
            f"{more}, which holds {describe_market(first.market, first.source)}: that would "
            "splice two unrelated price paths; ingest with replace=true to replace the "
            "affected datasets, or use another store (paths.store_dir)",
            file=self.dataset_path(first.symbol, first.timeframe),
        )

    def market_conflicts(
        self,
        symbols: Iterable[str],
        market: Mapping[str, Any] | None,
        *,
        derived: bool = False,
    ) -> list[StoreMeta]:
        """Return the datasets (any timeframe) of `symbols` that hold another market.

        Derived datasets (resampled from a base timeframe) count only with `derived`: `derive`
        rebuilds them whole from their base once it changes, so they are never spliced and do
        not block an ingest (a pipeline that removes the base datasets before ingesting a new
        market keeps its old 5-minute bars until the `bars` step replaces them); a replacement
        removes them with the rest.
        """
        wanted = None if market is None else dict(market)
        names = list(symbols)
        out = []
        for timeframe in self.timeframes():
            for symbol in names:
                meta = self.meta(symbol, timeframe)
                if meta is None or (meta.derived_from is not None and not derived):
                    continue
                if meta.market != wanted:
                    out.append(meta)
        return out

    def require_market(
        self, symbols: Iterable[str], market: Mapping[str, Any] | None, source: str = ""
    ) -> None:
        """Raise a `DataError` if a dataset of `symbols` holds another market than `market`
        (the synthetic market of the data from `source`, None for other sources)."""
        conflicts = self.market_conflicts(symbols, market)
        if conflicts:
            raise self._market_error(conflicts, market, source)

    def timeframes(self) -> list[str]:
        """Return the timeframes that have a folder in the store."""
        if not self.root.exists():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and _is_timeframe(p.name))

    # -- serving ranges --------------------------------------------------------------------
    def get(
        self,
        symbol: str,
        timeframe: str,
        start: date | str | None = None,
        end: date | str | None = None,
    ) -> pd.DataFrame:
        """Return bars for sessions `start`..`end`, fetching only what is missing."""
        start_d, end_d = _as_date(start), _as_date(end)
        if self.span is not None:
            start_d, end_d = start_d or self.span[0], end_d or self.span[1]
        if timeframe not in BASE_TIMEFRAMES:
            return self._get_derived(symbol, timeframe, start_d, end_d)
        meta = self.meta(symbol, timeframe)
        start_d, end_d = self._bounds(symbol, timeframe, meta, start_d, end_d)
        if start_d > end_d:
            raise ValueError(f"start {start_d} is after end {end_d}")
        missing = [(start_d, end_d)] if meta is None else meta.missing(start_d, end_d)
        if not missing:
            return self.read(symbol, timeframe, start_d, end_d)
        if self.offline or self.fetcher is None:
            return self._serve_cached(symbol, timeframe, meta, (start_d, end_d), missing)
        failure: FetchError | None = None
        try:
            self.fill(symbol, timeframe, start_d, end_d)
        except FetchError as exc:
            if not exc.api_down:
                raise
            failure = exc  # handled below, so an error about the cache does not chain to it
        if failure is None:
            return self.read(symbol, timeframe, start_d, end_d)
        meta = self.meta(symbol, timeframe)
        still = [(start_d, end_d)] if meta is None else meta.missing(start_d, end_d)
        if not still:
            return self.read(symbol, timeframe, start_d, end_d)
        why = f"{self.fetcher.name} unavailable ({failure})"
        return self._serve_cached(symbol, timeframe, meta, (start_d, end_d), still, why)

    def fill(
        self,
        symbol: str,
        timeframe: str,
        start: date,
        end: date,
        fetcher: Fetcher | None = None,
        *,
        on_bad: OnBad = "error",
    ) -> list[DateRange]:
        """Fetch the ranges of `start`..`end` the dataset lacks through `fetcher` (default:
        the store's) and merge each as it arrives; return the ranges fetched.

        A fetch error propagates (ranges merged before it stay). A range the fetcher has no
        bars for is not recorded as covered, except on a dataset's first fetch, which records
        the whole range it asked for (the source has nothing before its first bar).
        """
        fetcher = fetcher or self.fetcher
        if fetcher is None:
            raise ValueError("no fetcher to fill the store from")
        meta = self.meta(symbol, timeframe)
        missing = [(start, end)] if meta is None else meta.missing(start, end)
        market = getattr(fetcher, "market", None)
        if meta is not None and missing:
            self._check_market(meta, market, fetcher.name)
        for gap in missing:
            log.info("%s %s: fetching %s..%s from %s", symbol, timeframe, *gap, fetcher.name)
            fetched = fetcher.fetch(symbol, timeframe, *gap)
            log.info("%s %s: %d bars fetched", symbol, timeframe, len(fetched))
            if len(fetched) == 0:
                if meta is None:
                    raise DataError(
                        f"fetcher '{fetcher.name}' has no {timeframe} data for {symbol} in "
                        f"{gap[0]}..{gap[1]}: check the symbol (and data.start/data.end)"
                    )
                continue
            meta, _ = self.merge(
                symbol,
                timeframe,
                fetched,
                source=fetcher.name,
                coverage=[gap],
                on_bad=on_bad,
                market=market,
            )
        return missing

    def _bounds(
        self,
        symbol: str,
        timeframe: str,
        meta: StoreMeta | None,
        start: date | None,
        end: date | None,
    ) -> tuple[date, date]:
        """Fill an open `start`/`end` from the coverage (or what the fetcher has)."""
        if start is not None and end is not None:
            return start, end
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
                f"no {timeframe} data for {symbol}: not in the store and nothing to fetch it from",
                file=self.dataset_path(symbol, timeframe),
            )
        return start or bounds[0], end or bounds[1]

    def _serve_cached(
        self,
        symbol: str,
        timeframe: str,
        meta: StoreMeta | None,
        request: DateRange,
        missing: list[DateRange],
        why: str | None = None,
    ) -> pd.DataFrame:
        """Serve a miss without fetching: an unbroken cached stretch, else a `DataError`."""
        why = why or ("offline" if self.offline else "no fetcher")
        path = self.dataset_path(symbol, timeframe)
        if meta is None:
            raise DataError(
                f"no {timeframe} data for {symbol} and {why}: nothing cached", file=path
            )
        gaps = ", ".join(f"{a}..{b}" for a, b in missing)
        inner = [g for g in missing if request[0] < g[0] and g[1] < request[1]]
        if inner or not missing_ranges(missing, *request):  # a hole, or nothing cached
            raise DataError(
                f"{symbol} {timeframe}: the store does not cover {gaps} of the requested "
                f"{request[0]}..{request[1]} ({why}, so nothing is fetched; ingest that period)",
                file=path,
            )
        log.warning(
            "%s %s: %s, serving cached %s..%s of requested %s..%s (missing %s)",
            symbol,
            timeframe,
            why,
            meta.coverage_start,
            meta.coverage_end,
            request[0],
            request[1],
            gaps,
        )
        return self.read(symbol, timeframe, *request)

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
            coverage=base_meta.date_ranges(),
            derived_from=base_meta.content_hash,
            market=base_meta.market,
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
            keys = [(s, tf) for tf in self.timeframes() for s in self.symbols(tf)]
        lines = []
        for symbol, timeframe in sorted(set(keys)):
            meta = self.meta(symbol, timeframe)
            lines.append(f"{symbol}|{timeframe}|{meta.content_hash if meta else 'missing'}")
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def _is_timeframe(name: str) -> bool:
    try:
        timeframe_minutes(name)
    except ValueError:
        return False
    return True


def _as_date(value: date | str | None) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return pd.Timestamp(value).date()
