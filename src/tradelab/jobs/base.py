"""What every job shares: how it opens tracked runs without seeing the composed config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from tradelab.tracking import Job

__all__ = ["OpenJob"]


class OpenJob(Protocol):
    """Start a parent run in `experiment` carrying the lineage tags (git state, config hash,
    overrides, `data_hash` of the inputs, seed). `config` is the plain config the run records
    and is hashed by (default: the app's whole config); a job running several variants passes
    each one's own. The app supplies it, so jobs never see the composed config."""

    def __call__(
        self,
        *,
        experiment: str,
        run_name: str,
        data_hash: str = "none",
        config: Mapping[str, Any] | None = None,
    ) -> Job: ...
