"""Production files, written atomically; the append-only promotion audit log; the write-ahead
journal of promotions.

`promotions.jsonl` is the audit log: one line per promotion, rollback or reconciliation.
`promotions.wal.jsonl` is the journal that makes them crash-safe: an `intent` line (fsync) before
the registry changes, a `ready` line with the files about to change, a `done` line after the files
and the audit line; `tradelab.promotion.service` completes an intent without its `done` line.
Both files are appended with one write and an fsync; a line torn by a power cut is skipped on
reading and never glued to the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tradelab import faults
from tradelab.atomic import write_if_changed

__all__ = [
    "AUDIT",
    "FILE_WRITTEN",
    "JOURNAL",
    "append_audit",
    "append_journal",
    "changed_files",
    "journal_lock",
    "plan_production_files",
    "production_paths",
    "read_audit",
    "read_journal",
    "write_if_changed",
    "write_planned",
    "write_production_files",
]

log = logging.getLogger(__name__)

AUDIT = "promotions.jsonl"
JOURNAL = "promotions.wal.jsonl"
FILE_WRITTEN = faults.declare(
    "promotion.file", "a promotion or rollback after its k-th production file is written (@k)"
)

_HEADER = """# @package _global_
# Written by tradelab-promote: the production configuration of {family}/{target}
# (registered model {model} version {version}, source run {run}).
# Re-run it with: tradelab-{app} +production={family}/{target}
"""


def production_paths(
    *, family: str, target: str, seed_files: Mapping[str, Any], conf_dir: Path, production_dir: Path
) -> list[Path]:
    """Return the files a production configuration is written to: the overlay, then the seeds'."""
    return [conf_dir / family / f"{target}.yaml", *(production_dir / rel for rel in seed_files)]


def plan_production_files(
    *,
    family: str,
    target: str,
    app: str,
    overlay: Mapping[str, Any],
    seed_files: Mapping[str, Any],
    model: str,
    version: str,
    run: str,
    conf_dir: Path,
    production_dir: Path,
) -> dict[Path, str]:
    """Return {path: text} of `conf/production/<family>/<target>.yaml` and the seeds' JSON."""
    header = _HEADER.format(
        family=family, target=target, model=model, version=version, run=run, app=app
    )
    paths = production_paths(
        family=family,
        target=target,
        seed_files=seed_files,
        conf_dir=conf_dir,
        production_dir=production_dir,
    )
    texts = [header + yaml.safe_dump(dict(overlay), sort_keys=False)]
    texts += [json.dumps(obj, indent=4) + "\n" for obj in seed_files.values()]
    return dict(zip(paths, texts, strict=True))


def changed_files(plan: Mapping[Path, str]) -> list[Path]:
    """Return the planned files whose content on disk differs (or that do not exist)."""
    out = []
    for path, text in plan.items():
        try:
            same = path.read_text(encoding="utf-8") == text
        except OSError:
            same = False
        if not same:
            out.append(path)
    return out


def write_planned(plan: Mapping[Path, str]) -> list[Path]:
    """Write each planned file atomically unless it already holds its text; return what
    changed."""
    changed = []
    for path, text in plan.items():
        if write_if_changed(path, text):
            changed.append(path)
            faults.fault(FILE_WRITTEN)
    return changed


def write_production_files(**kwargs: Any) -> list[Path]:
    """Write the files `plan_production_files(**kwargs)` plans; return what changed."""
    return write_planned(plan_production_files(**kwargs))


def _append_line(path: Path, record: Mapping[str, Any]) -> None:
    """Append `record` as one JSON line, fsync'd; a torn last line is ended first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(dict(record), default=str) + "\n"
    with open(path, "ab+") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                line = "\n" + line
        handle.write(line.encode())
        handle.flush()
        os.fsync(handle.fileno())


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s line %d is torn (a crash mid-write): skipped", path, number)
    return out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def append_audit(production_dir: Path, record: Mapping[str, Any]) -> None:
    """Append one decision to `promotions.jsonl` (never rewritten)."""
    _append_line(production_dir / AUDIT, {"time": _now(), **record})


def read_audit(production_dir: Path) -> list[dict[str, Any]]:
    """Return every audit record, oldest first."""
    return _read_lines(production_dir / AUDIT)


def append_journal(production_dir: Path, record: Mapping[str, Any]) -> None:
    """Append one record to the write-ahead journal `promotions.wal.jsonl` (fsync'd)."""
    _append_line(production_dir / JOURNAL, {**record, "time": _now()})


def read_journal(production_dir: Path) -> list[dict[str, Any]]:
    """Return every journal record, oldest first."""
    return _read_lines(production_dir / JOURNAL)


@contextlib.contextmanager
def journal_lock(production_dir: Path) -> Iterator[None]:
    """Hold the journal's exclusive lock: one promotion at a time per production folder (the
    lock goes with the process, so a killed one never leaves it held)."""
    production_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(production_dir, os.O_RDONLY)  # the folder itself: no lock file left behind
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
