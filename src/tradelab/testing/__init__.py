"""Contract suites every implementation of an interface must pass, and the in-memory fakes.

- `tracker_contract.TRACKER_CHECKS`: a `Tracker` (write side and read side);
- `registry_contract.REGISTRY_CHECKS`: a promotion `ModelRegistry`;
- `family_contract.FAMILY_CHECKS`: a promotion `FamilySpec`, over `FamilyCase`s;
- `forecaster_contract.FORECASTER_CHECKS`: a forecast `Forecaster`, over `ForecasterCase`s.

`memory.run_sampled` runs a command and samples its peak memory (`bench/scale.py`, the memory
guard test).

Each check is a plain function that raises `AssertionError`; test modules parametrize them
over implementations. Nothing here imports pytest, Hydra or OmegaConf.
"""

from __future__ import annotations

from tradelab.promotion.memory_registry import MemoryRegistry
from tradelab.testing.family_contract import FAMILY_CHECKS, FamilyCase
from tradelab.testing.forecaster_contract import FORECASTER_CHECKS, ForecasterCase
from tradelab.testing.registry_contract import REGISTRY_CHECKS
from tradelab.testing.tracker_contract import TRACKER_CHECKS
from tradelab.tracking.memory_tracker import MemoryTracker

__all__ = [
    "FAMILY_CHECKS",
    "FORECASTER_CHECKS",
    "REGISTRY_CHECKS",
    "TRACKER_CHECKS",
    "FamilyCase",
    "ForecasterCase",
    "MemoryRegistry",
    "MemoryTracker",
]
