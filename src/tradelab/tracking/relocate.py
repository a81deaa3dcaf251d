"""Moving a local MLflow store: point its artifact records at the artifact root it now has.

MLflow records every experiment's artifact location, and every run's and logged model's, as
an absolute `file://` URI when it creates them: a local store (`mlruns/mlflow.db` and
`mlruns/artifacts/`) copied to another folder or machine still names the old paths, and the
UI, `load_model` and later jobs would read (or write) there. MLflow has no call that changes
a recorded location, so `relocate_artifacts` rewrites the old root to the new one in the
store's tables, in one transaction, after checking the files are at the new root.

`moved_artifacts` tells a job, before it logs anything, that its experiment's recorded folder
is gone while the configured one holds the files: the store was moved and not relocated.
"""

from __future__ import annotations

import contextlib
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from tradelab.errors import TrackingError

__all__ = ["Relocation", "file_uri_path", "moved_artifacts", "relocate_artifacts"]

# the columns of MLflow's schema that hold artifact URIs (the tables a version lacks are skipped)
_URI_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


@dataclass(frozen=True)
class Relocation:
    """One artifact root rewritten: `old` -> `new`, in `rows` rows of the store."""

    old: str
    new: str
    experiments: tuple[str, ...]
    rows: int


def file_uri_path(uri: str) -> Path | None:
    """The local path of a `file:` URI or plain absolute path, None for other schemes."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    if parts.scheme == "" and uri.startswith("/"):
        return Path(uri)
    return None


def moved_artifacts(recorded: str, expected: str) -> bool:
    """Say whether an experiment recorded at `recorded` was moved to `expected`: both local,
    different, the recorded folder gone and the expected one there."""
    old, new = file_uri_path(recorded), file_uri_path(expected)
    return old is not None and new is not None and old != new and not old.exists() and new.is_dir()


def _columns(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    present = []
    for table, column in _URI_COLUMNS:
        names = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if column in names:
            present.append((table, column))
    return present


def _folder(uri: str) -> Path:
    path = file_uri_path(uri)
    assert path is not None
    return path


def relocate_artifacts(db: Path, artifact_root: str) -> list[Relocation]:
    """Point the artifact records of the SQLite store `db` at `artifact_root` (a `file://`
    URI): each experiment `<old root>/<name>` becomes `<artifact_root>/<name>`, and every run,
    model version and logged model under an old root moves with it.

    Raises `TrackingError` when an experiment's artifacts are still at the old root and not
    at the new one (the files were not moved along), before anything changes. Returns what
    was rewritten (nothing when the store already points there)."""
    new_root = artifact_root.rstrip("/")
    if file_uri_path(new_root) is None:
        raise TrackingError(
            f"artifact root {artifact_root!r} is not a local folder: only a local store's "
            "records can be relocated (a tracking server keeps its artifacts)"
        )
    with contextlib.closing(sqlite3.connect(db, timeout=60, isolation_level=None)) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            roots: dict[str, list[str]] = {}
            for name, location in conn.execute("SELECT name, artifact_location FROM experiments"):
                location = (location or "").rstrip("/")
                if not location.endswith(f"/{name}") or file_uri_path(location) is None:
                    continue  # not `<root>/<name>` (MLflow's Default experiment)
                old = location[: -len(name) - 1]
                if old != new_root:
                    roots.setdefault(old, []).append(name)
            for old, names in roots.items():
                for name in sorted(names):
                    there = _folder(f"{new_root}/{name}").is_dir()
                    if not there and _folder(f"{old}/{name}").is_dir():
                        raise TrackingError(
                            f"the artifacts of experiment {name!r} are still in "
                            f"{_folder(old)}, not in {_folder(new_root)}: move the whole "
                            "store folder (database and artifacts) first, or set "
                            "tracking.artifact_root to where the artifacts are"
                        )
            done = []
            columns = _columns(conn)
            for old, names in roots.items():
                rows = 0
                for table, column in columns:
                    cursor = conn.execute(
                        f"UPDATE {table} SET {column} = ? || substr({column}, ?) "
                        f"WHERE substr({column}, 1, ?) = ?",
                        (new_root, len(old) + 1, len(old) + 1, f"{old}/"),
                    )
                    rows += cursor.rowcount
                done.append(Relocation(old, new_root, tuple(sorted(names)), rows))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return done
