"""Sampled paths, kept so trials that differ only in aggregation never call the model again.

Notation
    samples: (n_windows, n_samples, horizon) float64, one entry per key
    seconds: wall-clock time the model took to draw them (kept so a cached trial still
             reports the model's real latency)

A key identifies the forecaster (weights and memory knobs), the data and windows, the
sampling parameters (everything but aggregation) and the seed. Entries live in memory (least
recently used dropped past `max_bytes`) and, with `directory`, in `<key>.npz` files written
atomically and read back without pickle.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.atomic import atomic_path
from tradelab.forecast.base import stable_json

__all__ = ["CacheStats", "SampleCache", "cache_key"]


def cache_key(**parts: Any) -> str:
    """Hash the named parts into a key (32 hex digits)."""
    return hashlib.sha256(stable_json(parts).encode()).hexdigest()[:32]


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    disk_hits: int = 0


class SampleCache:
    """Memory (and optional disk) cache of sampled paths."""

    def __init__(self, directory: str | Path | None = None, max_bytes: int = 2 << 30) -> None:
        self.directory = None if directory is None else Path(directory)
        self.max_bytes = int(max_bytes)
        self.stats = CacheStats()
        self._memory: OrderedDict[str, tuple[np.ndarray, float]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._memory)

    def get(self, key: str) -> tuple[np.ndarray, float] | None:
        """Return `(samples, seconds)` for `key`, or None."""
        entry = self._memory.get(key)
        if entry is not None:
            self._memory.move_to_end(key)
            return entry
        if self.directory is not None:
            entry = self._read(key)
            if entry is not None:
                self.stats.disk_hits += 1
                self._remember(key, entry)
                return entry
        return None

    def put(self, key: str, samples: np.ndarray, seconds: float) -> None:
        """Store an entry (memory, and disk when a directory is set)."""
        entry = (np.asarray(samples, dtype=np.float64), float(seconds))
        self._remember(key, entry)
        if self.directory is not None:
            self._write(key, entry)

    def get_or_draw(
        self, key: str, draw: Callable[[], tuple[np.ndarray, float]]
    ) -> tuple[np.ndarray, float, bool]:
        """Return `(samples, seconds, hit)`, calling `draw()` on a miss."""
        entry = self.get(key)
        if entry is not None:
            self.stats.hits += 1
            return entry[0], entry[1], True
        self.stats.misses += 1
        samples, seconds = draw()
        self.put(key, samples, seconds)
        return np.asarray(samples, dtype=np.float64), float(seconds), False

    def _remember(self, key: str, entry: tuple[np.ndarray, float]) -> None:
        old = self._memory.pop(key, None)
        if old is not None:
            self._bytes -= old[0].nbytes
        self._memory[key] = entry
        self._bytes += entry[0].nbytes
        while self._bytes > self.max_bytes and len(self._memory) > 1:
            _, dropped = self._memory.popitem(last=False)
            self._bytes -= dropped[0].nbytes

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.npz"

    def _read(self, key: str) -> tuple[np.ndarray, float] | None:
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as blob:
                return np.asarray(blob["samples"], dtype=np.float64), float(blob["seconds"])
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is a miss; the redraw overwrites it

    def _write(self, key: str, entry: tuple[np.ndarray, float]) -> None:
        assert self.directory is not None
        with atomic_path(self._path(key)) as tmp, open(tmp, "wb") as fh:
            np.savez(fh, samples=entry[0], seconds=np.float64(entry[1]))
