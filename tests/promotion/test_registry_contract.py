"""The registry contract of `tradelab.testing`, run over `MemoryRegistry` and `MlflowRegistry`."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tracking.test_contract import server_tracker
from tradelab.promotion import MemoryRegistry, MlflowRegistry, ModelRegistry
from tradelab.testing.registry_contract import REGISTRY_CHECKS, RegistryCheck, check_id
from tradelab.tracking import MemoryTracker, Tracker
from tradelab.tracking.mlflow_tracker import MlflowTracker


@pytest.fixture(params=["memory", "mlflow", pytest.param("server", marks=pytest.mark.slow)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Tracker, ModelRegistry]:
    if request.param == "memory":
        return MemoryTracker(), MemoryRegistry()
    if request.param == "server":  # a namespace of its own: no other test's models
        tracker = server_tracker(request.getfixturevalue("mlflow_server"))
    else:
        tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    return tracker, MlflowRegistry.for_tracker(tracker)


@pytest.mark.parametrize("check", REGISTRY_CHECKS, ids=check_id)
def test_registry_contract(backend: tuple[Tracker, ModelRegistry], check: RegistryCheck) -> None:
    check(*backend)
