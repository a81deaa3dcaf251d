"""All-or-nothing store commits: a journal of renames and a lock for the store's writers.

A writer stages every file it writes in `<store>/.staging-<pid>-<token>/` (same layout as the
store). To commit, it writes `<store>/.commit.json` (the staging folder, the files to move in
with their size and modification time, the files to delete) atomically, then renames each
staged file over its target and deletes the listed ones, then removes the journal. A crash
after the journal was written is completed at the next open of the store (roll forward: the
staged files are complete before the journal exists); a crash before it leaves the store as it
was, and the orphaned staging folder is removed by the next writer. A journal whose staged file
is gone while the store's file is not that file cannot be completed: opening the store raises
a `DataError` instead of serving a mix. Writers hold an exclusive lock (`<store>/.lock`,
`flock`) from staging to commit, so two writers never interleave and a staging folder found
under the lock belongs to a dead process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from tradelab import faults
from tradelab.atomic import write_json_atomic
from tradelab.errors import DataError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: commits still journal, without the lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["JOURNAL", "LOCK", "STAGING_PREFIX", "commit_files", "recover", "store_lock"]

log = logging.getLogger(__name__)
JOURNAL = ".commit.json"
LOCK = ".lock"
STAGING_PREFIX = ".staging-"

COMMIT_JOURNAL = faults.declare(
    "ingest.commit.journal", "a store commit after its journal is written, before any rename"
)
COMMIT_RENAME = faults.declare(
    "ingest.commit.rename", "a store commit after the k-th rename of a staged file (@k)"
)
COMMIT_DONE = faults.declare(
    "ingest.commit.done", "a store commit after its renames and deletions, before the journal goes"
)


@contextlib.contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Hold the store's exclusive writer lock (waiting for another writer to finish)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / LOCK, "a+b") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("waiting for another process writing the store %s", root)
                fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _stamp(path: Path) -> list[int] | None:
    """Size and modification time of a file (a rename keeps both), None when it is absent."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return [info.st_size, info.st_mtime_ns]


def _relative(root: Path, name: object, journal: Path) -> Path:
    """Return `root / name` for a path the journal lists, refusing one that leaves `root`."""
    rel = PurePosixPath(str(name))
    if not isinstance(name, str) or rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise DataError(f"commit journal lists an unsafe path {name!r}", file=journal)
    return root.joinpath(*rel.parts)


def _read_journal(root: Path) -> dict[str, Any]:
    path = root / JOURNAL
    try:
        journal = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"unreadable commit journal: {exc}", file=path) from exc
    staging = journal.get("staging") if isinstance(journal, dict) else None
    if not isinstance(staging, str) or not staging.startswith(STAGING_PREFIX) or "/" in staging:
        raise DataError("commit journal names no staging folder", file=path, field="staging")
    return journal


def _apply(root: Path, journal: dict[str, Any], *, crash_points: bool) -> tuple[int, int]:
    """Move the journal's staged files in and delete its files; return (moved, deleted)."""
    path = root / JOURNAL
    staging = root / journal["staging"]
    moved = deleted = 0
    stamps = journal.get("stamps", {})
    for name in journal.get("moves", []):
        source, target = _relative(staging, name, path), _relative(root, name, path)
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
            moved += 1
        elif name in stamps and _stamp(target) != stamps[name]:  # neither staged nor moved in
            raise DataError(
                f"cannot complete the interrupted commit: the staged {name} is gone and the "
                "store's file is not it; re-ingest (remove the journal to accept the store)",
                file=path,
            )
        if crash_points:
            faults.fault(COMMIT_RENAME)
    for name in journal.get("deletes", []):
        target = _relative(root, name, path)
        if target.exists():
            target.unlink()
            deleted += 1
    if crash_points:
        faults.fault(COMMIT_DONE)
    path.unlink()
    shutil.rmtree(staging, ignore_errors=True)
    return moved, deleted


def commit_files(
    root: Path, staging: Path, moves: Sequence[str], deletes: Sequence[str]
) -> tuple[int, int]:
    """Commit: journal, rename each staged file (`moves`, paths relative to `staging` and
    `root`) over its target, delete `deletes`, drop the journal. Hold `store_lock` around it."""
    if staging.parent != root or not staging.name.startswith(STAGING_PREFIX):
        raise ValueError(f"{staging} is not a staging folder of {root}")
    stamps = {name: _stamp(staging / name) for name in moves}
    journal = {"version": 1, "staging": staging.name, "moves": list(moves), "stamps": stamps}
    journal["deletes"] = list(deletes)
    write_json_atomic(root / JOURNAL, journal)
    faults.fault(COMMIT_JOURNAL)
    return _apply(root, journal, crash_points=True)


def recover(root: Path) -> bool:
    """Complete a commit a crash interrupted and remove orphaned staging folders; return
    whether a commit was completed. Call it holding `store_lock`."""
    completed = False
    if (root / JOURNAL).exists():
        moved, deleted = _apply(root, _read_journal(root), crash_points=False)
        log.warning(
            "completed an interrupted commit of the store %s (%d files moved in, %d deleted)",
            root,
            moved,
            deleted,
        )
        completed = True
    if root.is_dir():
        for orphan in root.glob(f"{STAGING_PREFIX}*"):
            log.info("removing the staging folder of an interrupted write: %s", orphan)
            shutil.rmtree(orphan, ignore_errors=True)
    return completed
