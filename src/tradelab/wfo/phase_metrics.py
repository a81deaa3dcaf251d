"""Per-combination metrics of one phase: stored in the cache, or re-simulated for some rows.

A sweep's grid-wide steps (quality gates, percentile ranks, stability score) read only the
scoring metrics (`SCORING_METRICS`: IS and OOS PnL and max drawdown in $). The other kernel
metrics (Sharpe, Sortino, win rate, profit factor, CAGR, drawdown %, trades) are read for a few
rows: the candidates table and the promoted combinations. So a large sweep's cache keeps only
the scoring metrics, 32 bytes per combination per phase instead of 136, and `PhaseMetrics`
gives the other metrics of the rows asked for by running the same kernel on just those rows.
The kernels simulate each combination on its own, deterministically, so those numbers are the
ones a cache of every metric would hold, bit for bit.

    metrics = PhaseMetrics(stored, phase_index, resimulator)
    metrics["oos_pnl"]                 # the stored array (a memory map of the cache)
    metrics["oos_sharpe"][rows]        # re-simulated for `rows` only
    np.asarray(metrics["oos_sharpe"])  # ValueError: the column is not stored, index it by rows

`Resimulator` keeps one prepared phase and the last rows it evaluated, shared by the phases of
one sweep, so memory stays that of the rows asked for. Callers that read several metrics
should read them phase by phase, for the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from tradelab.kernels.enums import METRIC_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import PreparedPhase, prepare_phase, run_prepared
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategySpec

__all__ = [
    "SCORING_METRICS",
    "STORAGE_DTYPES",
    "PhaseMetrics",
    "Resimulator",
    "storage_dtypes",
]

SCORING_METRICS: tuple[str, ...] = ("is_pnl", "oos_pnl", "is_max_dd", "oos_max_dd")
"""What the grid-wide scoring reads: stored exactly (float64, money) at every grid size."""

STORAGE_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(np.int32 if name.endswith("_trades") else np.float64) for name in METRIC_NAMES
}
"""The narrowest exact type of each metric: trade counts are integers, the rest float64."""

_INDEX = {name: i for i, name in enumerate(METRIC_NAMES)}


def storage_dtypes(names: Sequence[str]) -> dict[str, np.dtype]:
    """The storage type of each of `names` (unknown names are rejected)."""
    unknown = [n for n in names if n not in STORAGE_DTYPES]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {list(METRIC_NAMES)}")
    return {name: STORAGE_DTYPES[name] for name in names}


class Resimulator:
    """Evaluate rows of one sweep's phases on demand (the sweep's own kernel).

    Holds one prepared phase and the last `(phase, rows)` result: asking the same rows of the
    same phase again costs nothing, other rows or another phase are evaluated anew.
    """

    def __init__(
        self, bars: WfoData, strategy: StrategySpec, grid: Grid, phases: Sequence[Phase]
    ) -> None:
        self._inputs = (bars, strategy, grid)
        self._phases = list(phases)
        self._prepared: tuple[int, PreparedPhase] | None = None
        self._last: tuple[int, np.ndarray, np.ndarray] | None = None

    def values(self, k: int, rows: np.ndarray) -> np.ndarray:
        """Return every metric of `rows` (grid combination indices) in phase `k` (0-based):
        `(N_METRICS, len(rows))` float64."""
        if self._last is not None:
            last_k, last_rows, out = self._last
            if last_k == k and np.array_equal(last_rows, rows):
                return out
        if self._prepared is None or self._prepared[0] != k:
            self._prepared = None  # free the previous phase's tables first
            bars, strategy, grid = self._inputs
            self._prepared = (k, prepare_phase(bars, strategy, grid, self._phases[k]))
        self._last = None
        out, _, _ = run_prepared(self._prepared[1], rows)
        self._last = (k, rows.copy(), out)
        return out


class _ResimulatedColumn:
    """A metric the cache does not store: index it by rows (an int, a slice or an array)."""

    def __init__(self, owner: PhaseMetrics, name: str) -> None:
        self._owner, self._name = owner, name

    @property
    def dtype(self) -> np.dtype:
        return STORAGE_DTYPES[self._name]

    def __len__(self) -> int:
        return self._owner.n_combos

    def __getitem__(self, index: Any) -> Any:
        scalar = np.ndim(index) == 0 and not isinstance(index, slice)
        if isinstance(index, slice):
            rows = np.arange(self._owner.n_combos, dtype=np.int64)[index]
        elif np.asarray(index).dtype == bool:  # a mask over every combination
            mask = np.asarray(index)
            if mask.shape != (self._owner.n_combos,):
                raise IndexError(f"a mask of {mask.shape} for {self._owner.n_combos} combinations")
            rows, scalar = np.flatnonzero(mask), False
        else:
            rows = np.atleast_1d(np.asarray(index, dtype=np.int64))
        if rows.size and (rows.min() < 0 or rows.max() >= self._owner.n_combos):
            raise IndexError(f"rows outside 0..{self._owner.n_combos - 1}")
        values = self._owner.source.values(self._owner.phase_index, rows)[_INDEX[self._name]]
        values = values.astype(self.dtype)
        return values[0] if scalar else values

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise ValueError(
            f"{self._name} is not stored for every combination of this sweep (its "
            f"{self._owner.n_combos:,} combinations are above phase_table_max_rows, so its "
            f"cache keeps {', '.join(sorted(self._owner.stored))}): use one of those, or "
            f"sweep again with phase_table_max_rows={self._owner.n_combos} to store every "
            f"metric (code can index the rows it needs: metrics[{self._name!r}][rows])"
        )


class PhaseMetrics(Mapping[str, Any]):
    """`metric -> (n_combos,)` of one phase: the stored arrays, and every other kernel metric
    re-simulated for the rows indexed (when a `source` is given)."""

    def __init__(
        self,
        stored: Mapping[str, np.ndarray],
        n_combos: int,
        phase_index: int = 0,
        source: Resimulator | None = None,
    ) -> None:
        self._stored = dict(stored)
        self.n_combos = int(n_combos)
        self.phase_index = phase_index
        self.source = source

    @property
    def stored(self) -> tuple[str, ...]:
        """The names held as whole arrays."""
        return tuple(self._stored)

    def __getitem__(self, name: str) -> Any:
        if name in self._stored:
            return self._stored[name]
        if self.source is not None and name in _INDEX:
            return _ResimulatedColumn(self, name)
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        if self.source is None:
            return iter(self._stored)
        return iter(METRIC_NAMES)

    def __len__(self) -> int:
        return len(METRIC_NAMES) if self.source is not None else len(self._stored)
