"""What every job shares: how it opens tracked runs without seeing the composed config."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from tradelab.data import ParquetStore
from tradelab.tracking import DatasetRef, Job

__all__ = ["OpenJob", "data_lineage", "store_inputs"]


class OpenJob(Protocol):
    """Start a parent run in `experiment` carrying the lineage tags (git state, config hash,
    overrides, `data_hash` of the inputs, seed). `config` is the plain config the run records
    and is hashed by (default: the app's whole config); a job running several variants passes
    each one's own. `inputs`: the datasets the run reads (MLflow dataset inputs). The app
    supplies it, so jobs never see the composed config."""

    def __call__(
        self,
        *,
        experiment: str,
        run_name: str,
        data_hash: str = "none",
        config: Mapping[str, Any] | None = None,
        inputs: Sequence[DatasetRef] = (),
    ) -> Job: ...


def store_inputs(store: ParquetStore, keys: Iterable[tuple[str, str]]) -> list[DatasetRef]:
    """Describe the store's datasets `keys` ((symbol, timeframe) pairs) as run inputs: name
    `SYMBOL/timeframe`, the content hash as digest, the file as source, rows and coverage."""
    refs = []
    for symbol, timeframe in keys:
        meta = store.meta(symbol, timeframe)
        if meta is None:
            continue
        profile = {
            "rows": meta.rows,
            "first": meta.first,
            "last": meta.last,
            "coverage": ",".join(f"{a}..{b}" for a, b in meta.ranges),
            "source": meta.source,
        }
        path = str(store.dataset_path(symbol, timeframe))
        refs.append(DatasetRef(f"{symbol}/{timeframe}", meta.content_hash, path, profile=profile))
    return refs


def data_lineage(store: ParquetStore, keys: Sequence[tuple[str, str]]) -> dict[str, Any]:
    """The `open_job` arguments that say what a run read: `data_hash` and `inputs`."""
    return {"data_hash": store.content_hash(keys), "inputs": store_inputs(store, keys)}
