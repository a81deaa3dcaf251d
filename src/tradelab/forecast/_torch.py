"""Torch helpers shared by the model adapters (torch is imported lazily)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

__all__ = ["file_identity", "seeded_torch"]


@contextlib.contextmanager
def seeded_torch(seed: int, device: str) -> Iterator[None]:
    """Seed torch's global generators for the block, then restore their previous state."""
    import torch

    devices: list[int] = []
    if device.startswith("cuda") and torch.cuda.is_available():
        index = torch.device(device).index
        devices = [torch.cuda.current_device() if index is None else index]
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(int(seed))
        yield


def file_identity(path: Path) -> str:
    """Cheap identity of a weights file: resolved path, size and modification time."""
    stat = path.stat()
    return f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
