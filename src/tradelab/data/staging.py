"""Write a store all or nothing: stage every dataset, validate it, then commit in one journal.

    with store_transaction(store) as txn:
        ingest into txn.view (reads see staged datasets, else the store's) or, to rebuild
        datasets from new data alone, into txn.fresh (the staged files only)
        txn.remove([(symbol, timeframe), ...]); txn.reset(["1min"])
        txn.commit()

Nothing reaches the store before `commit`; leaving the block without it (an error) discards the
staged files. `commit` moves every staged file in (one rename each) and deletes the removed
datasets under the journal of `tradelab.data.journal`, so a crash at any point leaves the old
store or, completed at the next open, the new one.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from tradelab.data.journal import JOURNAL, STAGING_PREFIX, commit_files, recover, store_lock
from tradelab.data.store import ParquetStore
from tradelab.errors import DataError

__all__ = ["CommitSummary", "StagedStore", "StoreTransaction", "store_transaction"]


class StagedStore(ParquetStore):
    """A store that writes into a staging folder and reads what it staged, else its `base`'s
    datasets (none when `base` is None) except those `removed`; bookkeeping files (`_*`) of the
    `reset` timeframes are read only from the staging folder."""

    def __init__(self, root: Path, base: ParquetStore | None) -> None:
        super().__init__(root, offline=True)
        self.base = base
        self.removed: set[tuple[str, str]] = set()
        self.reset: set[str] = set()

    def source_path(self, symbol: str, timeframe: str) -> Path:
        staged = self.dataset_path(symbol, timeframe)
        if self.base is None or staged.exists() or (symbol, timeframe) in self.removed:
            return staged
        return self.base.dataset_path(symbol, timeframe)

    def bookkeeping_path(self, timeframe: str, name: str) -> Path:
        staged = super().bookkeeping_path(timeframe, name)
        if self.base is None or staged.exists() or timeframe in self.reset:
            return staged
        return self.base.bookkeeping_path(timeframe, name)

    def symbols(self, timeframe: str) -> list[str]:
        staged = set(super().symbols(timeframe))
        if self.base is None:
            return sorted(staged)
        kept = {s for s in self.base.symbols(timeframe) if (s, timeframe) not in self.removed}
        return sorted(staged | kept)

    def timeframes(self) -> list[str]:
        base = [] if self.base is None else self.base.timeframes()
        return sorted(set(super().timeframes()) | set(base))


@dataclass(frozen=True)
class CommitSummary:
    """What a commit changed in the store: files moved in, files deleted."""

    moved: int = 0
    deleted: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.moved or self.deleted)


class StoreTransaction:
    """Staged writes to `store`, committed together (module doc)."""

    def __init__(self, store: ParquetStore, staging: Path) -> None:
        self.store = store
        self.staging = staging
        self.fresh = StagedStore(staging, None)
        self.view = StagedStore(staging, store)
        self.committed: CommitSummary | None = None

    def remove(self, keys: Iterable[tuple[str, str]]) -> None:
        """Delete these (symbol, timeframe) datasets at commit unless they were staged."""
        self.view.removed.update(keys)

    def reset(self, timeframes: Iterable[str]) -> None:
        """Delete the bookkeeping files of these timeframes at commit unless they were staged."""
        self.view.reset.update(timeframes)

    def _moves(self) -> list[str]:
        """Every staged file, relative to the staging folder: each folder's Parquet files
        first, then the readable copies and bookkeeping files."""
        moves = []
        for timeframe in self.fresh.timeframes():
            files = sorted((self.staging / timeframe).iterdir())
            files.sort(key=lambda p: (p.suffix != ".parquet", p.name))
            moves.extend(f"{timeframe}/{p.name}" for p in files if p.is_file() and p.name[0] != ".")
        return moves

    def _deletes(self, staged: set[str]) -> list[str]:
        root, out = self.store.root, []
        for symbol, timeframe in sorted(self.view.removed):
            for path in (
                self.store.dataset_path(symbol, timeframe),
                self.store.meta_path(symbol, timeframe),
            ):
                out.append(path.relative_to(root).as_posix())
        for timeframe in sorted(self.view.reset):
            out.extend(p.relative_to(root).as_posix() for p in (root / timeframe).glob("_*"))
        return [p for p in dict.fromkeys(out) if p not in staged and (root / p).exists()]

    def commit(self) -> CommitSummary:
        """Move every staged file into the store and delete the removed datasets, all or
        nothing (a crash is completed at the next open)."""
        if self.committed is not None:
            raise RuntimeError("this transaction is already committed")
        moves = self._moves()
        deletes = self._deletes(set(moves))
        if not moves and not deletes:
            self.committed = CommitSummary()
        else:
            self.committed = CommitSummary(
                *commit_files(self.store.root, self.staging, moves, deletes)
            )
        return self.committed


@contextlib.contextmanager
def store_transaction(store: ParquetStore) -> Iterator[StoreTransaction]:
    """Lock `store`, complete an interrupted commit, and yield a transaction on it; staged
    files not committed when the block ends are discarded. A commit that failed half-way
    (an error after its journal was written) is completed now, or at the next open."""
    with store_lock(store.root):
        recover(store.root)
        staging = store.root / f"{STAGING_PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
        staging.mkdir()
        try:
            yield StoreTransaction(store, staging)
        finally:
            if (store.root / JOURNAL).exists():
                with contextlib.suppress(OSError, DataError):
                    recover(store.root)
            else:
                shutil.rmtree(staging, ignore_errors=True)
