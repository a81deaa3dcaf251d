"""Bulk, incremental ingestion of flat-file folders into the store (one pass over day files).

The store remembers which day files it ingested, by content digest, and for which symbols
(`<store>/<timeframe>/_ingested.json`, `IngestState`). A rerun reads only new or changed day
files, and files already read for other symbols when new symbols are asked for; a day file
read replaces its session's bars of the symbols read from it (so a changed file corrects them,
whichever ingest first asks for them again). Everything is read and validated before anything
is written, and the datasets and the state are committed together (`tradelab.data.staging`),
so a bad file or a crash leaves the store exactly as it was. The datasets' coverage is the set
of days ingested (two disjoint periods leave the gap uncovered); `market` (a synthetic market's
identity) is recorded in each dataset's meta, and a dataset of another market refuses the merge.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.atomic import write_bytes_atomic
from tradelab.data.coverage import ranges_of_days
from tradelab.data.flatfiles import DayFile, read_day_files, scan_day_files
from tradelab.data.staging import StagedStore, store_transaction
from tradelab.data.store import ParquetStore
from tradelab.data.validation import OnBad, ValidationReport
from tradelab.errors import DataError

__all__ = ["ALL_SYMBOLS", "STATE_FILE", "IngestState", "IngestSummary", "ingest_flat_files"]

STATE_FILE = "_ingested.json"
ALL_SYMBOLS = "*"
"""The symbol an ingest of every ticker (no symbol list) records."""


@dataclass
class IngestSummary:
    timeframe: str
    files_total: int = 0
    files_read: int = 0
    files_skipped: int = 0
    rows: int = 0
    seconds: float = 0.0
    symbols: dict[str, int] = field(default_factory=dict)
    report: ValidationReport = field(default_factory=lambda: ValidationReport(source="flat files"))

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def _digest(path: Path) -> str:
    return hashlib.blake2b(path.read_bytes(), digest_size=16).hexdigest()


@dataclass
class IngestState:
    """Which day files were read, and for which symbols.

    `digests`: day -> content digest of the file as last read; `done`: day -> the symbols read
    from that version of the file (`ALL_SYMBOLS` when every ticker was). On disk (version 2)
    each group of symbols with the same days is stored once, its days as runs of consecutive
    recorded days (`[first, last]`). A version-1 state (day -> digest) records no symbols:
    its files are read again once for the symbols asked for.
    """

    digests: dict[str, str] = field(default_factory=dict)
    done: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> IngestState:
        """Read the state at `path` (an empty state when there is none)."""
        if not path.exists():
            return cls()
        try:
            raw = json.loads(path.read_text())
            if isinstance(raw, dict) and raw.get("version") == 2:
                return cls._from_v2(raw)
            if not isinstance(raw, dict):
                raise TypeError("not an object")
            return cls({str(k): str(v) for k, v in raw.items()}, {})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise DataError(f"unreadable ingestion state: {exc}", file=path) from exc

    @classmethod
    def _from_v2(cls, raw: dict[str, Any]) -> IngestState:
        digests = {str(k): str(v) for k, v in raw["days"].items()}
        days = sorted(digests)
        done: dict[str, set[str]] = {}
        for group in raw["groups"]:
            for first, last in group["days"]:
                for day in days[bisect.bisect_left(days, first) : bisect.bisect_right(days, last)]:
                    done.setdefault(day, set()).update(group["symbols"])
        return cls(digests, done)

    def to_json(self) -> bytes:
        """Serialize as version 2 (class doc)."""
        days = sorted(self.digests)
        symbols = sorted({s for day in days for s in self.done.get(day, ())})
        index = {s: i for i, s in enumerate(symbols)}
        matrix = np.zeros((len(days), len(symbols)), dtype=bool)
        for row, day in enumerate(days):
            matrix[row, [index[s] for s in self.done.get(day, ())]] = True
        groups: dict[bytes, list[str]] = {}
        for col, symbol in enumerate(symbols):
            groups.setdefault(matrix[:, col].tobytes(), []).append(symbol)
        out = []
        for key, members in groups.items():
            mask = np.frombuffer(key, dtype=bool).astype(np.int8)
            edges = np.flatnonzero(np.diff(np.r_[0, mask, 0]))
            runs = [[days[a], days[b - 1]] for a, b in zip(edges[::2], edges[1::2], strict=True)]
            out.append({"symbols": members, "days": runs})
        body = {"version": 2, "days": {d: self.digests[d] for d in days}, "groups": out}
        return json.dumps(body, indent=0, sort_keys=True).encode()

    def needed(self, day: str, digest: str, wanted: list[str] | None) -> set[str]:
        """Return the symbols a day file must still be read for (`ALL_SYMBOLS`: every one)."""
        if self.digests.get(day) != digest:
            return {ALL_SYMBOLS} if wanted is None else set(wanted)
        done = self.done.get(day, set())
        if ALL_SYMBOLS in done:
            return set()
        return ({ALL_SYMBOLS} if wanted is None else set(wanted)) - done

    def record(self, day: str, digest: str, symbols: set[str]) -> None:
        """Record that the file of `day` with `digest` was read for `symbols`."""
        if self.digests.get(day) != digest:
            self.done[day] = set()
        self.digests[day] = digest
        self.done.setdefault(day, set()).update(symbols)


def ingest_flat_files(
    store: ParquetStore,
    root: str | Path,
    pattern: str,
    timeframe: str,
    symbols: Iterable[str] | None,
    *,
    on_bad: OnBad = "error",
    source: str = "flatfiles",
    progress: Callable[[int, int], None] | None = None,
    market: Mapping[str, Any] | None = None,
) -> IngestSummary:
    """Ingest the day files under `root` matching `pattern` into `timeframe` datasets.

    Into a `StagedStore` (a transaction of the caller's) the files are staged; into any other
    store this call is its own transaction, committed when everything validated.
    """
    if isinstance(store, StagedStore):
        return _ingest(store, root, pattern, timeframe, symbols, on_bad, source, progress, market)
    with store_transaction(store) as txn:
        summary = _ingest(
            txn.view, root, pattern, timeframe, symbols, on_bad, source, progress, market
        )
        txn.commit()
    return summary


def _plan(
    files: list[DayFile], state: IngestState, wanted: list[str] | None
) -> tuple[list[DayFile], dict[str, str], dict[str, set[str]]]:
    """Return the files to read, every file's digest, and what each must be read for."""
    digests = {f.day.isoformat(): _digest(f.path) for f in files}
    needs = {
        f.day.isoformat(): state.needed(f.day.isoformat(), digests[f.day.isoformat()], wanted)
        for f in files
    }
    todo = [f for f in files if needs[f.day.isoformat()]]
    return todo, digests, needs


def _ingest(
    store: StagedStore,
    root: str | Path,
    pattern: str,
    timeframe: str,
    symbols: Iterable[str] | None,
    on_bad: OnBad,
    source: str,
    progress: Callable[[int, int], None] | None,
    market: Mapping[str, Any] | None,
) -> IngestSummary:
    started = time.perf_counter()
    wanted = None if symbols is None else sorted(set(symbols))
    files = scan_day_files(root, pattern)
    state = IngestState.load(store.bookkeeping_path(timeframe, STATE_FILE))
    todo, digests, needs = _plan(files, state, wanted)
    summary = IngestSummary(
        timeframe,
        files_total=len(files),
        files_read=len(todo),
        files_skipped=len(files) - len(todo),
    )
    if not todo:
        summary.seconds = time.perf_counter() - started
        return summary
    union = set().union(*(needs[f.day.isoformat()] for f in todo))
    batch = read_day_files(
        todo, None if ALL_SYMBOLS in union else sorted(union), on_bad=on_bad, progress=progress
    )
    coverage = ranges_of_days(f.day for f in todo)
    read_days = {f.day for f in todo}  # a day file read is the truth for its session's bars
    store.require_market(batch.frames, market, source)
    for symbol, frame in batch.frames.items():
        store.merge(
            symbol,
            timeframe,
            frame,
            source=source,
            coverage=coverage,
            on_bad=on_bad,
            replace_days=read_days,
            market=market,
        )
        summary.symbols[symbol] = len(frame)
        summary.rows += len(frame)
    summary.report = batch.report
    for f in todo:
        day = f.day.isoformat()
        state.record(day, digests[day], needs[day])
    write_bytes_atomic(store.root / timeframe / STATE_FILE, state.to_json())
    summary.seconds = time.perf_counter() - started
    return summary
