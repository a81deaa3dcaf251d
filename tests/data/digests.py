"""Digest a store by content: what a reader sees, not when it was written (`updated`)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

__all__ = ["store_digest"]


def _without_updated(text: bytes) -> str:
    meta = json.loads(text)
    meta.pop("updated", None)
    return json.dumps(meta, sort_keys=True)


def store_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of the store's files (not the lock, journal or staging folders);
    a dataset's meta is hashed without its `updated` time, a Parquet file by its rows and meta."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if not path.is_file() or any(part.startswith(".") for part in rel.split("/")):
            continue
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            meta = _without_updated((table.schema.metadata or {})[b"tradelab.meta"])
            frame = table.replace_schema_metadata(None).to_pandas()
            rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
            data = meta.encode() + rows
        elif path.name.endswith(".meta.json"):
            data = _without_updated(path.read_bytes()).encode()
        else:
            data = path.read_bytes()
        out[rel] = hashlib.sha256(data).hexdigest()
    return out
