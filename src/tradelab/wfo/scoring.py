"""v4 scoring of WFO phase results: quality gates, cross-phase stability, stability score.

Notation:
    P          number of phases (4 in the seed's layout)
    n          number of combinations in the phase arrays
    phase      mapping metric -> (n,) float64: is_pnl, oos_pnl, is_max_dd, oos_max_dd ($, > 0),
               and the other engine metrics (is_/oos_ sharpe, sortino, trades, ...)
    passes     (P, n) bool, the combination clears every quality gate in that phase
    k          (n,) phases_valid, number of phases passed
    rank_p     percentile rank (0-100] of oos_pnl among the combinations passing phase p:
               100 x average rank / n_p, ranks 1 (lowest) .. n_p (highest), ties averaged;
               the best combination of the phase gets 100, a lone valid combination 100
    avg_rank   mean of rank_p over the phases the combination passes
    rank_std   POPULATION standard deviation (ddof = 0) of those ranks: the passed phases are
               all of the combination's phases, not a sample of them; 0 for one phase
    score      avg_rank x (1 + (k - 1) x 0.1) x 1 / (1 + rank_std / 20)

Gates (seed 003, "Scoring System (v4)"), per phase; NaN fails every gate:
    profitability  is_pnl > 0 and oos_pnl > 0
    efficiency     oos_pnl / is_pnl > 0.35 (evaluated as oos_pnl > 0.35 x is_pnl, is_pnl > 0)
    drawdown       oos_max_dd < oos_pnl and oos_max_dd < 3 x is_max_dd
                   (a phase whose IS drawdown is 0 therefore fails unless the thresholds change)

A combination is stable when k >= 3; when no combination is, the rule relaxes to k >= 2 with a
warning and `relaxed = True` (the caller tags the run `scoring_relaxed=true`). Everything is
vectorized numpy; memory is O(P x n) booleans plus O(n) floats.
"""

from __future__ import annotations

import contextlib
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tradelab.atomic import write_table
from tradelab.data.symbols import check_name
from tradelab.errors import DataError
from tradelab.search.grid import Grid
from tradelab.wfo.settings import CandidatesFormat, GateConfig, ScoringConfig

__all__ = [
    "GATE_METRICS",
    "PHASE_METRICS",
    "ScoreResult",
    "candidates_table",
    "gate_masks",
    "percentile_ranks",
    "quality_gates",
    "score_phases",
    "stability_score",
    "write_candidates",
]

PHASE_METRICS = (
    "is_pnl",
    "oos_pnl",
    "is_max_dd",
    "oos_max_dd",
    "is_max_dd_pct",
    "oos_max_dd_pct",
    "is_trades",
    "oos_trades",
    "is_win_rate",
    "oos_win_rate",
    "is_profit_factor",
    "oos_profit_factor",
    "is_sharpe",
    "oos_sharpe",
    "is_sortino",
    "oos_sortino",
    "is_cagr",
    "oos_cagr",
)
GATE_METRICS = ("is_pnl", "oos_pnl", "is_max_dd", "oos_max_dd")
# engine metrics averaged over the phases in the candidates table
_MEAN_METRICS = (
    "oos_sharpe",
    "oos_sortino",
    "oos_profit_factor",
    "oos_win_rate",
    "oos_trades",
    "oos_max_dd_pct",
    "oos_cagr",
)


@dataclass(frozen=True)
class ScoreResult:
    """Scored stable combinations, best first (at most `top_n`)."""

    rows: np.ndarray  # (m,) int64 positions in the phase arrays, best score first
    combos: np.ndarray  # (m,) int64 grid combination indices
    score: np.ndarray  # (m,)
    avg_rank: np.ndarray  # (m,)
    rank_std: np.ndarray  # (m,)
    phases_valid: np.ndarray  # (m,) int8
    phase_ranks: np.ndarray  # (P, m) percentile rank, NaN where the phase is not passed
    phase_pass: np.ndarray  # (P, m) bool
    n_combos: int
    n_stable: int
    pass_counts: tuple[int, ...]  # combinations passing each phase
    min_phases: int  # the stability threshold finally used
    relaxed: bool
    message: str

    def metrics(self) -> dict[str, float]:
        """Return summary numbers for the parent run."""
        out = {
            "n_combos": float(self.n_combos),
            "n_stable": float(self.n_stable),
            "n_candidates": float(self.rows.size),
            "scoring_min_phases": float(self.min_phases),
            "scoring_relaxed": float(self.relaxed),
        }
        for p, count in enumerate(self.pass_counts, start=1):
            out[f"phase{p}_pass"] = float(count)
        if self.rows.size:
            out["stability_score"] = float(self.score[0])
        return out

    def tags(self) -> dict[str, str]:
        """Return the run tags the result calls for (`scoring_relaxed`)."""
        return {"scoring_relaxed": "true" if self.relaxed else "false"}


def _gates(config: GateConfig | None) -> GateConfig:
    gates = config if config is not None else GateConfig()
    if gates.min_is_pnl < 0 or gates.min_oos_pnl < 0:
        raise ValueError("gates.min_is_pnl and gates.min_oos_pnl must be >= 0")
    return gates


def gate_masks(
    phase: Mapping[str, np.ndarray], gates: GateConfig | None = None
) -> dict[str, np.ndarray]:
    """Return the three gate masks of one phase: profitability, efficiency, drawdown."""
    g = _gates(gates)
    is_pnl = np.asarray(phase["is_pnl"], dtype=np.float64)
    oos_pnl = np.asarray(phase["oos_pnl"], dtype=np.float64)
    is_dd = np.asarray(phase["is_max_dd"], dtype=np.float64)
    oos_dd = np.asarray(phase["oos_max_dd"], dtype=np.float64)
    profitable = (is_pnl > g.min_is_pnl) & (oos_pnl > g.min_oos_pnl)
    # with is_pnl > 0 this is oos/is > min_wfe, without a division by zero
    efficient = profitable & (oos_pnl > g.min_wfe * is_pnl)
    drawdown = (oos_dd < g.max_oos_dd_to_pnl * oos_pnl) & (oos_dd < g.max_oos_dd_to_is_dd * is_dd)
    return {"profitability": profitable, "efficiency": efficient, "drawdown": drawdown}


def quality_gates(phase: Mapping[str, np.ndarray], gates: GateConfig | None = None) -> np.ndarray:
    """Return (n,) bool: the combination clears every quality gate in this phase."""
    masks = gate_masks(phase, gates)
    return masks["profitability"] & masks["efficiency"] & masks["drawdown"]


def percentile_ranks(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Return percentile ranks (0-100] of `values` among the `valid` ones; NaN elsewhere."""
    values = np.asarray(values, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    out = np.full(values.shape, np.nan)
    chosen = values[valid]
    out[valid] = _average_ranks(np.sort(chosen), chosen)
    return out


def stability_score(
    avg_rank: np.ndarray,
    rank_std: np.ndarray,
    phases_valid: np.ndarray,
    *,
    phase_bonus_step: float = 0.1,
    consistency_scale: float = 20.0,
) -> np.ndarray:
    """Return avg_rank x phase_bonus x consistency_factor (the seed's v4 formula)."""
    k = np.asarray(phases_valid, dtype=np.float64)
    bonus = 1.0 + (k - 1.0) * phase_bonus_step
    consistency = 1.0 / (1.0 + np.asarray(rank_std, dtype=np.float64) / consistency_scale)
    return np.asarray(avg_rank, dtype=np.float64) * bonus * consistency


def _check_phases(phases: Sequence[Mapping[str, np.ndarray]], rank_metric: str) -> int:
    if len(phases) == 0:
        raise ValueError("no phases to score")
    n = None
    for p, phase in enumerate(phases, start=1):
        for name in (*GATE_METRICS, rank_metric):
            if name not in phase:
                raise DataError(f"phase {p} has no metric array", field=name)
            try:
                arr = np.asarray(phase[name])
            except ValueError as exc:  # a metric the phase cache does not store
                raise DataError(f"phase {p}: {exc}", field=name) from None
            if arr.ndim != 1:
                raise DataError(f"phase {p}: expected a 1-D array, got {arr.shape}", field=name)
            if n is None:
                n = arr.shape[0]
            elif arr.shape[0] != n:
                raise DataError(
                    f"phase {p}: {arr.shape[0]} combinations, phase 1 has {n}", field=name
                )
    assert n is not None
    return n


SCORE_CHUNK = 1 << 20
"""Combinations per chunk of `score_phases`'s passes over the grid."""


def _chunk_passes(
    phases: Sequence[Mapping[str, np.ndarray]], s0: int, s1: int, gates: GateConfig | None
) -> np.ndarray:
    """(P, s1 - s0) bool: the quality gates of combinations s0..s1-1 in each phase."""
    return np.stack(
        [quality_gates({m: ph[m][s0:s1] for m in GATE_METRICS}, gates) for ph in phases]
    )


def _buffer(n: int, scratch: Path | None, name: str) -> np.ndarray:
    """An (n,) float64 work array: in memory, or a file-backed memory map in `scratch`."""
    if scratch is None:
        return np.empty(n)
    return np.lib.format.open_memmap(scratch / f"{name}.npy", mode="w+", shape=(n,))


def _sorted_passing(
    phases: Sequence[Mapping[str, np.ndarray]],
    metric: str,
    gates: GateConfig | None,
    counts: np.ndarray,
    chunk: int,
    scratch: Path | None,
) -> list[np.ndarray]:
    """Per phase, the `metric` values of the combinations passing its gates, sorted."""
    n = len(phases[0][metric])
    out = [_buffer(int(c), scratch, f"sorted_p{p}") for p, c in enumerate(counts)]
    filled = np.zeros(len(phases), dtype=np.int64)
    for s0 in range(0, n, chunk):
        s1 = min(s0 + chunk, n)
        passes = _chunk_passes(phases, s0, s1, gates)
        for p, phase in enumerate(phases):
            values = np.asarray(phase[metric][s0:s1], dtype=np.float64)[passes[p]]
            out[p][filled[p] : filled[p] + values.size] = values
            filled[p] += values.size
    for buf in out:
        buf.sort()  # in place: a memory map sorts in its own pages
    return out


def _average_ranks(sorted_values: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Percentile ranks (0-100] of `values` among `sorted_values` (which hold them), ties
    averaged: scipy's `rankdata(method="average")` x 100 / n, which is
    (below + at or below + 1) / 2 x 100 / n."""
    if not values.size:
        return np.empty(0)
    order = np.argsort(values)  # sorted queries: a binary search walks nearby pages
    queries = values[order]
    below = np.searchsorted(sorted_values, queries, side="left")
    upto = np.searchsorted(sorted_values, queries, side="right")
    out = np.empty(values.size)
    out[order] = 0.5 * (upto + below + 1) * (100.0 / sorted_values.size)
    return out


def score_phases(
    phases: Sequence[Mapping[str, np.ndarray]],
    *,
    combos: np.ndarray | None = None,
    config: ScoringConfig | None = None,
    chunk_size: int = SCORE_CHUNK,
    scratch_dir: str | Path | None = None,
) -> ScoreResult:
    """Gate, rank and score every combination; return the stable ones best first.

    `phases`: one mapping metric -> (n,) array per phase (memory maps of a phase cache do).
    `combos`: the grid combination index of each position (default 0..n-1). `config`: None
    uses the seed's defaults.

    Memory does not grow with the grid: the combinations are read `chunk_size` at a time in
    three passes (gate counts; each phase's passing `rank_metric` values, sorted; ranks,
    score and the running best `top_n`). Above one chunk the sorted values live in memory
    maps of files in `scratch_dir` (default: a temporary folder), removed at the end.
    """
    cfg = config if config is not None else ScoringConfig()
    n = _check_phases(phases, cfg.rank_metric)
    n_phases = len(phases)
    if combos is not None:
        combos = np.asarray(combos, dtype=np.int64)
        if combos.shape != (n,):
            raise ValueError(f"combos must have shape ({n},); got {combos.shape}")
    if not 1 <= cfg.relaxed_min_phases <= cfg.min_phases <= n_phases:
        raise ValueError(
            f"need 1 <= relaxed_min_phases <= min_phases <= {n_phases} phases; got "
            f"{cfg.relaxed_min_phases} and {cfg.min_phases}"
        )
    if cfg.top_n < 1:
        raise ValueError("top_n must be positive")
    if chunk_size < 1:
        raise ValueError("chunk_size must be positive")

    # pass 1: how many pass each phase, how many pass k phases
    counts = np.zeros(n_phases, dtype=np.int64)
    by_k = np.zeros(n_phases + 1, dtype=np.int64)
    for s0 in range(0, n, chunk_size):
        passes = _chunk_passes(phases, s0, min(s0 + chunk_size, n), cfg.gates)
        counts += passes.sum(axis=1)
        by_k += np.bincount(passes.sum(axis=0), minlength=n_phases + 1)
    min_phases, relaxed = cfg.min_phases, False
    message = ""
    if not by_k[min_phases:].any() and cfg.relaxed_min_phases < cfg.min_phases:
        relaxed = True
        min_phases = cfg.relaxed_min_phases
        message = (
            f"no combination passes the quality gates in {cfg.min_phases}/{n_phases} phases; "
            f"relaxed to {min_phases}/{n_phases}"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    n_stable = int(by_k[min_phases:].sum())
    if n_stable == 0:
        message = (
            f"no stable combination: none of {n} passes the quality gates in "
            f"{min_phases}/{n_phases} phases (passing per phase: "
            f"{', '.join(str(int(c)) for c in counts)})"
        )

    with contextlib.ExitStack() as stack:
        scratch = None
        if n > chunk_size and n_stable:
            if scratch_dir is not None:
                Path(scratch_dir).mkdir(parents=True, exist_ok=True)
            folder = tempfile.TemporaryDirectory(prefix=".scoring-", dir=scratch_dir)
            scratch = Path(stack.enter_context(folder))
        ranked = (
            _sorted_passing(phases, cfg.rank_metric, cfg.gates, counts, chunk_size, scratch)
            if n_stable
            else []
        )
        best = _Best(cfg.top_n, n_phases)
        for s0 in range(0, n if n_stable else 0, chunk_size):
            s1 = min(s0 + chunk_size, n)
            passes = _chunk_passes(phases, s0, s1, cfg.gates)
            k = passes.sum(axis=0, dtype=np.int8)
            idx = np.flatnonzero(k >= min_phases)
            if not idx.size:
                continue
            ranks = np.full((n_phases, idx.size), np.nan)
            for p, phase in enumerate(phases):
                here = passes[p, idx]
                values = np.asarray(phase[cfg.rank_metric][s0:s1], dtype=np.float64)[idx[here]]
                ranks[p, here] = _average_ranks(ranked[p], values)
            kk = k[idx].astype(np.float64)
            filled = np.where(np.isnan(ranks), 0.0, ranks)
            with np.errstate(invalid="ignore", divide="ignore"):
                avg = filled.sum(axis=0) / kk
                dev = np.where(np.isnan(ranks), 0.0, ranks - avg[None, :])
                std = np.sqrt((dev * dev).sum(axis=0) / kk)
            score = stability_score(
                avg,
                std,
                kk,
                phase_bonus_step=cfg.phase_bonus_step,
                consistency_scale=cfg.consistency_scale,
            )
            rows = idx + s0
            at = rows if combos is None else combos[rows]  # None: position = combination
            best.add(rows, at, score, avg, std, k[idx], ranks, passes[:, idx])
        del ranked
    return ScoreResult(
        rows=best.rows,
        combos=best.combos,
        score=best.score,
        avg_rank=best.avg,
        rank_std=best.std,
        phases_valid=best.k,
        phase_ranks=best.ranks,
        phase_pass=best.passes,
        n_combos=n,
        n_stable=n_stable,
        pass_counts=tuple(int(c) for c in counts),
        min_phases=min_phases,
        relaxed=relaxed,
        message=message,
    )


class _Best:
    """The best `top_n` scored rows seen so far: best score first, ties broken by lower
    combination index (a total order, so chunk by chunk selects what one sort would)."""

    def __init__(self, top_n: int, n_phases: int) -> None:
        self.top_n = top_n
        self.rows = np.empty(0, dtype=np.int64)
        self.combos = np.empty(0, dtype=np.int64)
        self.score = np.empty(0)
        self.avg = np.empty(0)
        self.std = np.empty(0)
        self.k = np.empty(0, dtype=np.int8)
        self.ranks = np.empty((n_phases, 0))
        self.passes = np.empty((n_phases, 0), dtype=bool)

    def add(
        self,
        rows: np.ndarray,
        combos: np.ndarray,
        score: np.ndarray,
        avg: np.ndarray,
        std: np.ndarray,
        k: np.ndarray,
        ranks: np.ndarray,
        passes: np.ndarray,
    ) -> None:
        if self.rows.size >= self.top_n:  # full: only rows that beat the last kept one
            last_score, last_combo = self.score[-1], self.combos[-1]
            keep = (score > last_score) | ((score == last_score) & (combos < last_combo))
            if not keep.any():
                return
            rows, combos, score, avg, std, k = (a[keep] for a in (rows, combos, score, avg, std, k))
            ranks, passes = ranks[:, keep], passes[:, keep]
        merged_combos = np.concatenate([self.combos, combos])
        merged_score = np.concatenate([self.score, score])
        order = np.lexsort((merged_combos, -merged_score))[: self.top_n]
        self.rows = np.concatenate([self.rows, rows])[order]
        self.combos = merged_combos[order]
        self.score = merged_score[order]
        self.avg = np.concatenate([self.avg, avg])[order]
        self.std = np.concatenate([self.std, std])[order]
        self.k = np.concatenate([self.k, k])[order]
        self.ranks = np.concatenate([self.ranks, ranks], axis=1)[:, order]
        self.passes = np.concatenate([self.passes, passes], axis=1)[:, order]


def candidates_table(
    result: ScoreResult,
    phases: Sequence[Mapping[str, np.ndarray]],
    grid: Grid | None = None,
    *,
    benchmarks: Sequence[float] | None = None,
    capital: float | None = None,
) -> pd.DataFrame:
    """Return the candidates as a frame: combo, parameters, score parts, per-phase columns.

    With `benchmarks` (buy-and-hold of the symbol over each phase's OOS window, see
    `tradelab.wfo.benchmark`) and the strategy's initial `capital`, each row also has its OOS
    return per phase, `oos_pnl / (capital + is_pnl)` (the equity the OOS window starts from),
    beside the benchmark: `oos_return_p<k>`, `oos_excess_return_p<k>`, and over the phases
    `oos_return_mean`, `benchmark_return` and `excess_return_mean`.
    """
    cols: dict[str, np.ndarray] = {"combo": result.combos}
    if grid is not None:
        cols.update(grid.decode(result.combos))
    cols["score"] = result.score
    cols["avg_rank"] = result.avg_rank
    cols["rank_std"] = result.rank_std
    cols["phases_valid"] = result.phases_valid.astype(np.int64)
    rows = result.rows
    for p, phase in enumerate(phases, start=1):
        cols[f"pass_p{p}"] = result.phase_pass[p - 1]
        cols[f"rank_p{p}"] = result.phase_ranks[p - 1]
        cols[f"is_pnl_p{p}"] = _at(phase, "is_pnl", rows)
        cols[f"oos_pnl_p{p}"] = _at(phase, "oos_pnl", rows)
    cols["oos_pnl_total"] = sum(
        (_at(ph, "oos_pnl", rows) for ph in phases), start=np.zeros(rows.size)
    )
    means = [name for name in _MEAN_METRICS if all(name in ph for ph in phases)]
    sums = {name: np.zeros(rows.size) for name in means}
    for ph in phases:  # phase by phase: metrics a cache does not store are re-simulated once
        for name in means:
            sums[name] += _at(ph, name, rows)
    cols.update({f"{name}_mean": sums[name] / len(phases) for name in means})
    if benchmarks is not None and capital is not None:
        cols.update(_excess_columns(result, phases, benchmarks, capital))
    return pd.DataFrame(cols)


def _at(phase: Mapping[str, np.ndarray], name: str, rows: np.ndarray) -> np.ndarray:
    """`phase[name]` at `rows` as float64 (indexed first: a `PhaseMetrics` column may be
    re-simulated for those rows only)."""
    return np.asarray(phase[name][rows], dtype=np.float64)


def _excess_columns(
    result: ScoreResult,
    phases: Sequence[Mapping[str, np.ndarray]],
    benchmarks: Sequence[float],
    capital: float,
) -> dict[str, np.ndarray]:
    if len(benchmarks) != len(phases):
        raise ValueError(f"{len(benchmarks)} benchmarks for {len(phases)} phases")
    cols: dict[str, np.ndarray] = {}
    returns = np.zeros(result.rows.size)
    for p, (phase, held) in enumerate(zip(phases, benchmarks, strict=True), start=1):
        is_pnl = _at(phase, "is_pnl", result.rows)
        oos_pnl = _at(phase, "oos_pnl", result.rows)
        ret = oos_pnl / (capital + is_pnl)
        cols[f"oos_return_p{p}"] = ret
        cols[f"oos_excess_return_p{p}"] = ret - float(held)
        returns += ret
    returns /= len(phases)
    held_mean = float(np.mean(benchmarks))
    cols["oos_return_mean"] = returns
    cols["benchmark_return"] = np.full(result.rows.size, held_mean)
    cols["excess_return_mean"] = returns - held_mean
    return cols


def write_candidates(
    table: pd.DataFrame,
    out_dir: str | Path,
    strategy: str,
    grid_name: str,
    fmt: CandidatesFormat | str = CandidatesFormat.parquet,
) -> Path:
    """Write `candidates_<strategy>_<grid>.<fmt>` atomically into out_dir; return its path."""
    fmt = CandidatesFormat(fmt)
    name = f"candidates_{check_name(strategy, 'strategy')}_{check_name(grid_name, 'grid')}"
    return write_table(table, Path(out_dir) / f"{name}.{fmt.value}")
