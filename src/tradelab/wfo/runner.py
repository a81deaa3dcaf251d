"""The WFO entry point: every combination of a grid over every phase, chunked and cached.

Memory is bounded whatever the grid size: indicators of one phase, one batch of results
(`batch_size x (18 + 2 S) x 8` bytes, 38 MB by default), and the per-metric result files, which
are memory maps when `cache_dir` is given (pages the OS writes back); without `cache_dir` the
results live in memory (`n_combos x 18 x 8` bytes per phase).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.data.symbols import validate_symbol
from tradelab.errors import ConfigError
from tradelab.kernels.enums import METRIC_NAMES, N_METRICS
from tradelab.progress import ProgressDisplay
from tradelab.wfo.cache import PhaseCache, code_version
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import prepare_phase, run_prepared
from tradelab.wfo.grid import Grid
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategySpec

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "PhaseResult",
    "WfoResult",
    "run_wfo",
    "summarize_phase",
    "wfo_cache_dir",
]

DEFAULT_CHUNK_SIZE = 10_000_000
DEFAULT_BATCH_SIZE = 262_144


def wfo_cache_dir(results_root: str | Path, symbol: str, strategy: str) -> Path:
    """Return `<results_root>/<SYMBOL>/wfo/<strategy>` (the symbol checked as a file name)."""
    validate_symbol(symbol)
    if not re.match(r"^[a-z0-9_]+$", strategy):
        raise ConfigError("strategy.name", f"{strategy!r} cannot name a folder (use a-z, 0-9, _)")
    return Path(results_root) / symbol / "wfo" / strategy


@dataclass(eq=False)
class PhaseResult:
    """Per-combination metrics of one phase (`metric -> (n_combos,)`) and how fast they came."""

    phase: Phase
    metrics: dict[str, np.ndarray]
    block_ret_sum: np.ndarray | None = None
    block_ret_sq: np.ndarray | None = None
    block_n: np.ndarray | None = None
    n_evaluated: int = 0  # combinations simulated in this run (0 when fully cached)
    wall_s: float = 0.0
    cached: bool = False
    directory: Path | None = None

    @property
    def combos_per_s(self) -> float:
        return self.n_evaluated / self.wall_s if self.n_evaluated and self.wall_s > 0 else 0.0

    @property
    def bar_evals_per_s(self) -> float:
        return self.combos_per_s * self.phase.n_traded


@dataclass(eq=False)
class WfoResult:
    """All phases of one (data, strategy, grid) sweep plus throughput."""

    strategy: StrategySpec
    grid: Grid
    phases: list[PhaseResult] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def n_evaluated(self) -> int:
        return sum(p.n_evaluated for p in self.phases)

    @property
    def combos_per_s(self) -> float:
        busy = sum(p.wall_s for p in self.phases if p.n_evaluated)
        return self.n_evaluated / busy if busy > 0 else 0.0

    @property
    def bar_evals_per_s(self) -> float:
        busy = sum(p.wall_s for p in self.phases if p.n_evaluated)
        bars = sum(p.n_evaluated * p.phase.n_traded for p in self.phases)
        return bars / busy if busy > 0 else 0.0

    def metrics(self, phase: int | str) -> dict[str, np.ndarray]:
        """Return `metric -> array` of a phase, by position or by name."""
        if isinstance(phase, str):
            for p in self.phases:
                if p.phase.name == phase:
                    return p.metrics
            raise KeyError(f"no phase named {phase!r}")
        return self.phases[phase].metrics

    def frame(self, phase: int | str, combos: np.ndarray | None = None) -> Any:
        """Return a pandas DataFrame: combo, decoded parameters, metrics (rows `combos`)."""
        import pandas as pd

        metrics = self.metrics(phase)
        idx = (
            np.arange(self.grid.size, dtype=np.int64)
            if combos is None
            else np.asarray(combos, np.int64)
        )
        cols: dict[str, Any] = {"combo": idx}
        cols.update(self.grid.decode(idx))
        cols.update({name: np.asarray(metrics[name][idx]) for name in METRIC_NAMES})
        return pd.DataFrame(cols)


def summarize_phase(result: PhaseResult) -> dict[str, float]:
    """Return the few numbers worth logging per phase (for a tracker child run)."""
    m = result.metrics
    is_pnl, oos_pnl = np.asarray(m["is_pnl"]), np.asarray(m["oos_pnl"])
    n = is_pnl.size
    return {
        "combinations": float(n),
        "share_profitable_is": float((is_pnl > 0).mean()) if n else 0.0,
        "share_profitable_oos": float((oos_pnl > 0).mean()) if n else 0.0,
        "share_profitable_both": float(((is_pnl > 0) & (oos_pnl > 0)).mean()) if n else 0.0,
        "best_oos_pnl": float(oos_pnl.max()) if n else float("nan"),
        "combos_per_s": result.combos_per_s,
        "bar_evals_per_s": result.bar_evals_per_s,
        "wall_s": result.wall_s,
    }


def run_wfo(
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phases: Sequence[Phase],
    *,
    cache_dir: str | Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    n_blocks: int = 0,
    progress: bool = True,
    on_phase: Callable[[int, PhaseResult], Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> WfoResult:
    """Evaluate every combination of `grid` in every phase; return per-phase metric arrays.

    `cache_dir` (e.g. `wfo_cache_dir(results_root, symbol, strategy.name)`) keeps each phase in
    `phase<k>/` and resumes at the first chunk not done; a changed grid, data, strategy, phase
    or code version starts that phase over. `n_blocks` > 0 also emits per-combination block sums
    of per-bar returns over the traded bars (IS and OOS) cut into `n_blocks` equal blocks.
    `on_phase(k, result)` is called after each phase (k from 1).
    """
    if chunk_size < 1:
        raise ConfigError("chunk_size", "must be >= 1")
    if batch_size < 1:
        raise ConfigError("batch_size", "must be >= 1")
    if not phases:
        raise ConfigError("phases", "give at least one phase")
    t_start = time.perf_counter()
    result = WfoResult(strategy=strategy, grid=grid)
    n = grid.size
    version = code_version() if cache_dir is not None else ""
    with ProgressDisplay(progress, unit="combos") as bar:
        for k, phase in enumerate(phases, start=1):
            t0 = time.perf_counter()
            prep = prepare_phase(bars, strategy, grid, phase, n_blocks=n_blocks)
            cache = None
            if cache_dir is not None:
                key = {
                    "grid": grid.fingerprint(),
                    "data": bars.data_hash(),
                    "strategy": strategy.fingerprint(),
                    "phase": phase.as_dict(),
                    "code": version,
                    "n_blocks": int(n_blocks),
                }
                cache = PhaseCache(
                    Path(cache_dir) / f"phase{k}",
                    key,
                    n,
                    int(chunk_size),
                    METRIC_NAMES,
                    int(n_blocks),
                ).open()
                dest = cache.arrays
                first_chunk, n_chunks = cache.chunks_done, cache.n_chunks
                chunk = cache.chunk_size
            else:
                dest = {name: np.empty(n) for name in METRIC_NAMES}
                if n_blocks:
                    dest["block_ret_sum"] = np.empty((n, n_blocks))
                    dest["block_ret_sq"] = np.empty((n, n_blocks))
                chunk = int(chunk_size)
                first_chunk, n_chunks = 0, max(1, -(-n // chunk))
            start = min(first_chunk * chunk, n)
            task = bar.task(f"{strategy.name} {phase.name}", n, start)
            n_eval = 0
            if start < n:
                b = min(int(batch_size), n)
                out_buf = np.empty(N_METRICS * b)
                bsum = np.empty((b, n_blocks))
                bsq = np.empty((b, n_blocks))
                t_busy = time.perf_counter()
                for c in range(first_chunk, n_chunks):
                    c0, c1 = c * chunk, min((c + 1) * chunk, n)
                    for s0 in range(c0, c1, b):
                        s1 = min(s0 + b, c1)
                        m = s1 - s0
                        out = out_buf[: N_METRICS * m].reshape(N_METRICS, m)  # C-contiguous
                        run_prepared(
                            prep, np.arange(s0, s1, dtype=np.int64), out, bsum[:m], bsq[:m]
                        )
                        for i, name in enumerate(METRIC_NAMES):
                            dest[name][s0:s1] = out[i]
                        if n_blocks:
                            dest["block_ret_sum"][s0:s1] = bsum[:m]
                            dest["block_ret_sq"][s0:s1] = bsq[:m]
                        n_eval += m
                        rate = n_eval / max(time.perf_counter() - t_busy, 1e-9)
                        bar.update(task, advance=m, note=f"{rate:,.0f}/s")
                    if cache is not None:
                        cache.commit(c + 1)
            if cache is not None:
                if not cache.complete:
                    cache.finish(prep.block_n if n_blocks else None)
                dest = cache.arrays
            block_n = prep.block_n if n_blocks else None
            pr = PhaseResult(
                phase=phase,
                metrics={name: dest[name] for name in METRIC_NAMES},
                block_ret_sum=dest.get("block_ret_sum"),
                block_ret_sq=dest.get("block_ret_sq"),
                block_n=block_n,
                n_evaluated=n_eval,
                wall_s=time.perf_counter() - t0,
                cached=n_eval == 0,
                directory=None if cache is None else cache.directory,
            )
            result.phases.append(pr)
            if on_phase is not None:
                on_phase(k, pr)
    result.wall_s = time.perf_counter() - t_start
    return result
