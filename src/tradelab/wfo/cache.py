"""On-disk cache of one phase's per-combination results, filled chunk by chunk.

Layout of `<results_root>/<SYMBOL>/wfo/<strategy>/<grid>-<phases>/phase<k>/`:
    <metric>.npy           (n_combos,) per stored metric, in its storage type
                           (`tradelab.wfo.phase_metrics.STORAGE_DTYPES`: trade counts int32,
                           the rest float64), once every chunk is done
    block_ret_sum.npy, block_ret_sq.npy (n_combos, S), block_n.npy (S,)   with n_blocks > 0
    manifest.json          key (grid fingerprint, data hash, strategy fingerprint, phase, code
                           version, n_blocks), settings (the same inputs in readable form, for
                           messages: never compared), arrays (name -> dtype: which metrics are
                           stored), chunks_done, complete

While chunks are being computed the arrays are `<name>.npy.partial` memory maps; the manifest
is rewritten atomically after each chunk is flushed, so it never claims a chunk whose numbers
are not on disk. A rerun resumes at the first chunk not done (counted in combinations, so a
different `chunk_size` resumes correctly); a different key or set of stored arrays wipes the
folder's result files and starts over.
Only `complete: true` with plain `.npy` names is a finished result.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.atomic import atomic_path, write_json_atomic

__all__ = [
    "PhaseCache",
    "code_version",
    "differences",
    "load_phase_dir",
    "read_manifest",
    "remove_phase_dir",
]

MANIFEST = "manifest.json"
FORMAT = 2  # 2: arrays maps name -> dtype; trade counts stored as int32
_BLOCK_ARRAYS = ("block_ret_sum", "block_ret_sq")

_SOURCES = (
    "kernels/atr_d.py",
    "kernels/enums.py",
    "kernels/indicators.py",
    "kernels/metrics.py",
    "wfo/engine.py",
    "wfo/strategy.py",
)


def code_version() -> str:
    """Return the package version plus a hash of the sources that decide the numbers."""
    import tradelab

    root = Path(tradelab.__file__).resolve().parent
    h = hashlib.sha256()
    for rel in _SOURCES:
        h.update(rel.encode())
        h.update((root / rel).read_bytes())
    return f"{tradelab.__version__}+{h.hexdigest()[:12]}"


def _save_npy_atomic(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.save(handle, arr)


@dataclass
class PhaseCache:
    """The result folder of one phase; `arrays` are writable memory maps while filling."""

    directory: Path
    key: dict[str, Any]
    n_combos: int
    chunk_size: int
    metric_names: tuple[str, ...]
    n_blocks: int = 0
    settings: dict[str, Any] = field(default_factory=dict)
    dtypes: dict[str, Any] = field(default_factory=dict)  # name -> dtype; float64 if absent
    chunks_done: int = 0
    complete: bool = False
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_chunks(self) -> int:
        return max(1, -(-self.n_combos // self.chunk_size))

    def _names(self) -> tuple[str, ...]:
        return self.metric_names + (_BLOCK_ARRAYS if self.n_blocks else ())

    def _dtype(self, name: str) -> np.dtype:
        return np.dtype(self.dtypes.get(name, np.float64))

    def _arrays(self) -> dict[str, str]:
        return {name: self._dtype(name).str for name in self._names()}

    def _shape(self, name: str) -> tuple[int, ...]:
        return (self.n_combos, self.n_blocks) if name in _BLOCK_ARRAYS else (self.n_combos,)

    def _manifest(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "key": self.key,
            "settings": self.settings,
            "n_combos": self.n_combos,
            "chunk_size": self.chunk_size,
            "n_chunks": self.n_chunks,
            "chunks_done": self.chunks_done,
            "complete": self.complete,
            "arrays": self._arrays(),
        }

    def open(self) -> PhaseCache:
        """Reuse a matching cache (complete or partial) or start a fresh one."""
        self.directory.mkdir(parents=True, exist_ok=True)
        manifest = self._read_manifest()
        if (
            manifest is not None
            and manifest.get("key") == self.key
            and manifest.get("format") == FORMAT
            and manifest.get("arrays") == self._arrays()
        ):
            try:
                # combinations on disk (chunks of the size they were written with)
                written = int(manifest.get("chunk_size", self.chunk_size))
                done = min(int(manifest.get("chunks_done", 0)) * written, self.n_combos)
                if manifest.get("complete") or done >= self.n_combos:
                    # complete, or stopped between the last flush and the final manifest
                    self._finish_renames()
                    self.arrays = self._map_final("r")
                    self.complete, self.chunks_done = True, self.n_chunks
                    if not manifest.get("complete") or manifest.get("settings") != self.settings:
                        self._write_manifest()
                    return self
                self.arrays = self._map_partial("r+")
                self.chunks_done = done // self.chunk_size  # whole chunks of this run's size
                self._write_manifest()
                return self
            except (OSError, ValueError):
                pass  # unreadable or wrong shape: start over
        self._wipe()
        self.arrays = self._map_partial("w+")
        self.chunks_done, self.complete = 0, False
        self._write_manifest()
        return self

    def partial_files(self) -> dict[str, Path]:
        """The files of the maps being filled, by array name: other processes that see this
        folder may write their ranges into them (before the manifest claims the chunk)."""
        return {name: self.directory / f"{name}.npy.partial" for name in self._names()}

    def commit(self, chunks_done: int) -> None:
        """Flush the maps, then record `chunks_done` in the manifest."""
        for arr in self.arrays.values():
            if isinstance(arr, np.memmap):
                arr.flush()
        self.chunks_done = chunks_done
        self._write_manifest()

    def finish(self, block_n: np.ndarray | None = None) -> None:
        """Rename the partial maps to their final names, then mark the manifest complete."""
        self.commit(self.n_chunks)
        self.arrays = {}
        if self.n_blocks:
            _save_npy_atomic(self.directory / "block_n.npy", np.asarray(block_n, dtype=np.int64))
        self._finish_renames()
        self.complete = True
        self._write_manifest()
        self.arrays = self._map_final("r")

    # -- helpers ------------------------------------------------------------------------------

    def _write_manifest(self) -> None:
        write_json_atomic(self.directory / MANIFEST, self._manifest(), sort_keys=True)

    def _read_manifest(self) -> dict[str, Any] | None:
        return read_manifest(self.directory)

    def _map_partial(self, mode: str) -> dict[str, np.ndarray]:
        out = {}
        for name in self._names():
            path = self.directory / f"{name}.npy.partial"
            if mode == "w+":
                out[name] = np.lib.format.open_memmap(
                    path, mode="w+", dtype=self._dtype(name), shape=self._shape(name)
                )
            else:
                arr = np.lib.format.open_memmap(path, mode=mode)
                if arr.shape != self._shape(name) or arr.dtype != self._dtype(name):
                    raise ValueError(f"{path} has shape {arr.shape} and dtype {arr.dtype}")
                out[name] = arr
        return out

    def _map_final(self, mode: str) -> dict[str, np.ndarray]:
        out = {}
        for name in self._names():
            arr = np.load(self.directory / f"{name}.npy", mmap_mode=mode)
            if arr.shape != self._shape(name) or arr.dtype != self._dtype(name):
                raise ValueError(f"{name}.npy has shape {arr.shape} and dtype {arr.dtype}")
            out[name] = arr
        if self.n_blocks:
            out["block_n"] = np.load(self.directory / "block_n.npy")
        return out

    def _finish_renames(self) -> None:
        for name in self._names():
            partial = self.directory / f"{name}.npy.partial"
            if partial.exists():
                os.replace(partial, self.directory / f"{name}.npy")

    def _wipe(self) -> None:
        _remove_files(self.directory)


def _remove_files(directory: Path) -> None:
    for pattern in ("*.npy", "*.npy.partial", ".*.npy", MANIFEST):
        for path in directory.glob(pattern):
            path.unlink(missing_ok=True)


def remove_phase_dir(directory: str | Path) -> None:
    """Delete a phase folder's result files and manifest, then the folder if it is empty."""
    directory = Path(directory)
    _remove_files(directory)
    with contextlib.suppress(OSError):
        directory.rmdir()


def read_manifest(directory: str | Path) -> dict[str, Any] | None:
    """Return the manifest of a phase folder, or None when there is none or it is unreadable."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def _leaves(tree: Any, prefix: str) -> dict[str, Any]:
    if not isinstance(tree, dict) or not tree:
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def differences(cached: Any, wanted: Any) -> list[tuple[str, Any, Any]]:
    """Return `(dotted key, cached value, wanted value)` for every leaf that differs."""
    old, new = _leaves(cached, ""), _leaves(wanted, "")
    missing = object()
    out = []
    for key in [*old, *(k for k in new if k not in old)]:
        a, b = old.get(key, missing), new.get(key, missing)
        if a != b:
            out.append((key, None if a is missing else a, None if b is missing else b))
    return out


def load_phase_dir(directory: str | Path) -> dict[str, np.ndarray]:
    """Open a finished phase folder read-only (memory maps); raise if it is not complete."""
    directory = Path(directory)
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(f"{directory} holds no readable {MANIFEST}") from exc
    if not manifest.get("complete"):
        done, total = manifest.get("chunks_done"), manifest.get("n_chunks")
        raise ValueError(f"{directory} is incomplete ({done}/{total} chunks); rerun to resume")
    out = {name: np.load(directory / f"{name}.npy", mmap_mode="r") for name in manifest["arrays"]}
    if (directory / "block_n.npy").exists():
        out["block_n"] = np.load(directory / "block_n.npy")
    return out
