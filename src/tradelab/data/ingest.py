"""Bulk, incremental ingestion of flat-file folders into the store (one pass over day files).

The store remembers which day files it ingested (`<store>/<timeframe>/_ingested.json`: day ->
content digest). A rerun reads only new or changed day files; a changed file replaces that
session's bars. Everything is read and validated before anything is written, so a bad file
leaves the store exactly as it was. The datasets' coverage is the set of days ingested (two
disjoint periods leave the gap uncovered); `market` (a synthetic market's identity) is recorded
in each dataset's meta, and a dataset of another market refuses the merge.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from tradelab.atomic import write_bytes_atomic
from tradelab.data.coverage import ranges_of_days
from tradelab.data.flatfiles import read_day_files, scan_day_files
from tradelab.data.store import ParquetStore
from tradelab.data.validation import OnBad, ValidationReport

__all__ = ["STATE_FILE", "IngestSummary", "ingest_flat_files"]

STATE_FILE = "_ingested.json"


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
    """Ingest the day files under `root` matching `pattern` into `timeframe` datasets."""
    started = time.perf_counter()
    files = scan_day_files(root, pattern)
    state_path = store.root / timeframe / STATE_FILE
    state: dict[str, str] = json.loads(state_path.read_text()) if state_path.exists() else {}
    digests = {f.day.isoformat(): _digest(f.path) for f in files}
    todo = [f for f in files if state.get(f.day.isoformat()) != digests[f.day.isoformat()]]
    changed: set[date] = {f.day for f in todo if f.day.isoformat() in state}
    summary = IngestSummary(
        timeframe,
        files_total=len(files),
        files_read=len(todo),
        files_skipped=len(files) - len(todo),
    )
    if todo:
        batch = read_day_files(todo, symbols, on_bad=on_bad, progress=progress)
        coverage = ranges_of_days(f.day for f in todo)
        store.require_market(batch.frames, market, source)
        for symbol, frame in batch.frames.items():
            store.merge(
                symbol,
                timeframe,
                frame,
                source=source,
                coverage=coverage,
                on_bad=on_bad,
                replace_days=changed,
                market=market,
            )
            summary.symbols[symbol] = len(frame)
            summary.rows += len(frame)
        summary.report = batch.report
        state.update({f.day.isoformat(): digests[f.day.isoformat()] for f in todo})
        write_bytes_atomic(state_path, json.dumps(state, indent=0, sort_keys=True).encode())
    summary.seconds = time.perf_counter() - started
    return summary
