"""Read a tradelab MLflow store with MLflow's own client, as a user's script or notebook would:
one experiment per family, each run tagged with its target (tests check what MLflow holds, not
what tradelab's read side says it holds)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["store_client", "store_runs"]


def store_client(root: str | Path) -> Any:
    """An `MlflowClient` on the SQLite store a tradelab app writes under `root`."""
    from mlflow import MlflowClient

    return MlflowClient(f"sqlite:///{Path(root)}/mlruns/mlflow.db")


def store_runs(client: Any, address: str, filter_string: str = "", **kwargs: Any) -> list[Any]:
    """The runs of `address` (`wfo/SMH`): experiment `wfo`, tag `target = 'SMH'`, and
    `filter_string` if given; `kwargs` go to `search_runs` (`max_results` defaults to 5000).
    An absent experiment is an `AssertionError` naming it."""
    family, target = address.split("/", 1)
    exp = client.get_experiment_by_name(family)
    assert exp is not None, f"no experiment {family!r} in the store (looking for {address})"
    query = f"tags.target = '{target}'" + (f" and {filter_string}" if filter_string else "")
    kwargs.setdefault("max_results", 5000)
    return list(client.search_runs([exp.experiment_id], query, **kwargs))
