"""Plateau detection: robust regions of (atr_multiplier, atr_buy_multiplier) among candidates.

Notation:
    candidates  frame of stable combinations, best score first: parameter columns, `score`,
                `combo` (see `tradelab.wfo.scoring.candidates_table`)
    x, y        the two cell axes (default atr_multiplier, atr_buy_multiplier)
    cell        one (x, y) pair; its count is the number of candidates with those values
    coords      (n_cells, 2) float64, cell position in grid level units: the level index of x
                and y in the grid (1 = one grid step), or the dense rank of the observed values
                when no grid is given
    label       DBSCAN cluster of a kept cell, -1 noise; cells below min_cell_count are -2,
                dense cells left out by the `max_cell_share` cut on median score are -3

Steps (seed 003, "Plateau Detection"):
    1. aggregate candidates into cells; 2. keep cells with >= min_cell_count candidates
       ("dense"); when more than `max_cell_share` of the plane's cells (the grid's x levels x
       y levels) are dense, keep that many, those with the highest median score (tradelab: at
       the seed's scale every cell is dense and the seed's filter gives one plateau covering
       the whole grid; plateaus are then regions of high score that narrow where it does; the
       cut keeps at least MIN_CUT_CELLS);
    3. DBSCAN over the kept cells for every (eps, min_samples) in the configured grids. A
       setting is admissible when it finds a cluster and leaves at most max_noise_fraction of
       the kept cells as noise. Its quality, for >= 2 clusters, is the silhouette of the
       clustered cells times the share of kept cells clustered (admissible only if the
       silhouette is >= min_silhouette); for one cluster it is 0, so a split must be well
       separated to beat "one plateau". The factor stops the silhouette from preferring
       settings that drop a plateau's edge cells as noise. The best quality wins; ties go to
       less noise, then smaller eps, then smaller min_samples;
    4. regime by the median x of the plateau's combinations: TIGHT < 5, MEDIUM 5-12, WIDE > 12;
    5. the top 10% of each plateau's combinations by score are its refinement set; the
       plateau's bounds and medians are taken over that set.
    Plateaus are ranked by the median score of their combinations (ties: more combinations).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import DataError
from tradelab.kernels.enums import PARAM_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.settings import PlateauConfig

__all__ = [
    "Plateau",
    "PlateauResult",
    "detect_plateaus",
    "regime_of",
]


# candidates columns shown in the plateau table (median over the plateau's combinations)
_RETURN_MEDIANS = (
    ("oos_return_mean", "median_oos_return"),
    ("benchmark_return", "benchmark_return"),
    ("excess_return_mean", "median_excess_return"),
)


@dataclass(frozen=True)
class Plateau:
    """One plateau: its cells, its combinations and the refinement set drawn from them."""

    rank: int
    label: int  # DBSCAN label of its cells in PlateauResult.cells
    regime: str
    cells: pd.DataFrame  # x, y, count, median_score of the plateau's cells
    n_combos: int
    median_x: float
    median_score: float
    best_score: float
    top: pd.DataFrame  # refinement set: best `top_fraction` of the combinations, best first
    bounds: dict[str, tuple[float, float]]  # per parameter over `top`
    medians: dict[str, float]  # per parameter over `top`, snapped to a value present in `top`
    best: dict[str, float]  # parameter values of the best combination
    medians_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return len(self.cells)

    def returns(self) -> dict[str, float]:
        """The plateau's median OOS return, the benchmark and the median excess return (mean
        over the phases), where the candidates carried them."""
        return {
            key: self.medians_metrics[column]
            for column, key in _RETURN_MEDIANS
            if column in self.medians_metrics
        }

    def summary(self) -> dict[str, Any]:
        """Return a flat record (for the plateau table and the child run)."""
        out: dict[str, Any] = {
            "rank": self.rank,
            "regime": self.regime,
            "n_cells": self.n_cells,
            "n_combos": self.n_combos,
            "n_top": len(self.top),
            "median_x": self.median_x,
            "median_score": self.median_score,
            "best_score": self.best_score,
        }
        out.update(self.returns())
        for name, (lo, hi) in self.bounds.items():
            out[f"{name}_min"] = lo
            out[f"{name}_max"] = hi
            out[f"{name}_median"] = self.medians[name]
        return out


@dataclass(frozen=True)
class PlateauResult:
    """Plateaus found (strongest first), the cell table and how DBSCAN was tuned."""

    plateaus: list[Plateau]
    cells: pd.DataFrame  # x, y, count, median_score, gx, gy, label
    search: pd.DataFrame  # eps, min_samples, n_clusters, noise_fraction, silhouette, admissible
    eps: float | None
    min_samples: int | None
    x: str
    y: str
    message: str

    def table(self) -> pd.DataFrame:
        """Return one row per plateau (rank, regime, sizes, bounds, medians)."""
        return pd.DataFrame([p.summary() for p in self.plateaus])


def regime_of(atr_multiplier: float, tight_below: float = 5.0, wide_above: float = 12.0) -> str:
    """Return TIGHT (< tight_below), WIDE (> wide_above) or MEDIUM for a stop multiplier."""
    if atr_multiplier < tight_below:
        return "TIGHT"
    if atr_multiplier > wide_above:
        return "WIDE"
    return "MEDIUM"


def _level_coords(values: np.ndarray, levels: Sequence[float] | None) -> np.ndarray:
    """Map values to grid level indices (sorted levels) or, without levels, to dense ranks."""
    base = np.unique(values) if levels is None else np.unique(np.asarray(levels, dtype=float))
    pos = np.searchsorted(base, values)
    pos = np.clip(pos, 0, base.size - 1)
    left = np.clip(pos - 1, 0, base.size - 1)
    nearer_left = np.abs(values - base[left]) < np.abs(values - base[pos])
    return np.where(nearer_left, left, pos).astype(np.float64)


def _snap_median(values: np.ndarray) -> float:
    """Return the median of `values` moved to the nearest value present (ties: the lower)."""
    med = float(np.median(values))
    uniq = np.unique(values)
    return float(uniq[np.argmin(np.abs(uniq - med))])


def _parameter_columns(
    candidates: pd.DataFrame, grid: Grid | None, params: Sequence[str] | None
) -> list[str]:
    if params is not None:
        names = list(params)
    elif grid is not None:
        names = list(grid.names)
    else:
        names = [c for c in PARAM_NAMES if c in candidates.columns]
    missing = [c for c in names if c not in candidates.columns]
    if missing:
        raise DataError(f"candidates lack parameter columns {missing}", field=missing[0])
    return names


MIN_CUT_CELLS = 9
"""The score cut keeps at least this many cells (a 3 x 3 block): on a small plane (the smoke
grid's 2 x 2) the dense cells are all there is."""


def _highest_cells(
    medians: np.ndarray, dense: np.ndarray, limit: float
) -> tuple[np.ndarray, float | None]:
    """`dense` when at most `limit` (and `MIN_CUT_CELLS`) cells are dense; else that many dense
    cells of highest median (ties at the cut all kept) and the cut."""
    n_keep = max(MIN_CUT_CELLS, math.floor(limit))
    if dense.sum() <= n_keep:
        return dense, None
    cut = float(np.sort(medians[dense])[::-1][n_keep - 1])
    return dense & (medians >= cut), cut


def _search_dbscan(
    coords: np.ndarray, cfg: PlateauConfig
) -> tuple[pd.DataFrame, np.ndarray | None, tuple[float, int]]:
    """Try every (eps, min_samples); return the search table, chosen labels and setting."""
    from sklearn.cluster import DBSCAN
    from sklearn.metrics import silhouette_score

    rows = []
    best_key: tuple[float, ...] | None = None
    best_labels = None
    best_setting = (float("nan"), 0)
    for eps in cfg.eps_grid:
        for min_samples in cfg.min_samples_grid:
            labels = DBSCAN(eps=float(eps), min_samples=int(min_samples)).fit_predict(coords)
            n_clusters = int(labels.max()) + 1
            noise = float(np.mean(labels < 0))
            sil = float("nan")
            clustered = labels >= 0
            if n_clusters >= 2 and clustered.sum() > n_clusters:
                sil = float(silhouette_score(coords[clustered], labels[clustered]))
            admissible = n_clusters >= 1 and noise <= cfg.max_noise_fraction
            quality = 0.0
            if n_clusters >= 2:
                admissible = admissible and math.isfinite(sil) and sil >= cfg.min_silhouette
                quality = sil * (1.0 - noise)
            rows.append(
                {
                    "eps": float(eps),
                    "min_samples": int(min_samples),
                    "n_clusters": n_clusters,
                    "noise_fraction": noise,
                    "silhouette": sil,
                    "admissible": admissible,
                }
            )
            if not admissible:
                continue
            key = (quality, -noise, -float(eps), -float(min_samples))
            if best_key is None or key > best_key:
                best_key, best_labels = key, labels
                best_setting = (float(eps), int(min_samples))
    return pd.DataFrame(rows), best_labels, best_setting


def detect_plateaus(
    candidates: pd.DataFrame,
    *,
    config: PlateauConfig | None = None,
    grid: Grid | None = None,
    params: Sequence[str] | None = None,
) -> PlateauResult:
    """Find plateaus among stable candidates; an empty result carries a clear message.

    `params`: parameter columns to bound (default: the grid's names, else the known engine
    parameter names present). `grid`: gives cell coordinates in grid steps.
    """
    cfg = config if config is not None else PlateauConfig()
    if cfg.min_cell_count < 1 or not 0 < cfg.top_fraction <= 1:
        raise ValueError("need min_cell_count >= 1 and 0 < top_fraction <= 1")
    if not 0 < cfg.max_cell_share <= 1:
        raise ValueError("need 0 < max_cell_share <= 1")
    empty_search = pd.DataFrame(
        columns=["eps", "min_samples", "n_clusters", "noise_fraction", "silhouette", "admissible"]
    )
    no_cells = pd.DataFrame(columns=["x", "y", "count", "median_score", "gx", "gy", "label"])

    def _empty(cells: pd.DataFrame, search: pd.DataFrame, message: str) -> PlateauResult:
        return PlateauResult([], cells, search, None, None, cfg.x, cfg.y, message)

    unsearched = [a for a in (cfg.x, cfg.y) if grid is not None and a not in grid.names]
    if unsearched:  # e.g. a one-combination re-run of atr_multiplier alone
        plane = f"the ({cfg.x}, {cfg.y}) plane"
        message = f"no plateau: the grid does not search {unsearched[0]} (plateaus lie in {plane})"
        return _empty(no_cells, empty_search, message)
    for name in (cfg.x, cfg.y, "score"):
        if name not in candidates.columns:
            raise DataError("candidates have no such column", field=name)
    param_cols = _parameter_columns(candidates, grid, params)
    xv = candidates[cfg.x].to_numpy(dtype=np.float64)
    yv = candidates[cfg.y].to_numpy(dtype=np.float64)
    score = candidates["score"].to_numpy(dtype=np.float64)
    if xv.size == 0:
        return _empty(no_cells, empty_search, "no plateau: there are no stable candidates")
    cell_frame = pd.DataFrame({"x": xv, "y": yv, "score": score})
    grouped = cell_frame.groupby(["x", "y"], sort=True)["score"]
    cells = grouped.agg(count="size", median_score="median").reset_index()
    cell_of_row = grouped.ngroup().to_numpy()
    levels_x = grid.levels[grid.index_of(cfg.x)] if grid is not None else None
    levels_y = grid.levels[grid.index_of(cfg.y)] if grid is not None else None
    cells["gx"] = _level_coords(cells["x"].to_numpy(), levels_x)
    cells["gy"] = _level_coords(cells["y"].to_numpy(), levels_y)
    cells["label"] = -2
    kept = cells["count"].to_numpy() >= cfg.min_cell_count
    if not kept.any():
        return _empty(
            cells,
            empty_search,
            f"no plateau: no ({cfg.x}, {cfg.y}) cell holds >= {cfg.min_cell_count} stable "
            f"combinations (largest cell: {int(cells['count'].max())})",
        )
    dense = kept
    n_x = len(levels_x) if levels_x is not None else np.unique(xv).size
    n_y = len(levels_y) if levels_y is not None else np.unique(yv).size
    plane = n_x * n_y
    kept, cut = _highest_cells(cells["median_score"].to_numpy(), dense, cfg.max_cell_share * plane)
    cells.loc[dense & ~kept, "label"] = -3
    selected = f"{int(dense.sum())} cells with >= {cfg.min_cell_count} stable combinations"
    if cut is not None:
        selected = (
            f"the {int(kept.sum())} of {selected} with the highest median score (>= {cut:.4g}; "
            f"at most {cfg.max_cell_share:.0%} of the {plane} cells)"
        )
    coords = cells.loc[kept, ["gx", "gy"]].to_numpy()
    search, labels, (eps, min_samples) = _search_dbscan(coords, cfg)
    if labels is None:
        cells.loc[kept, "label"] = -1
        return _empty(
            cells,
            search,
            f"no plateau: the {selected} form no cluster under any eps/min_samples tried "
            f"(noise cap {cfg.max_noise_fraction:.0%})",
        )
    all_labels = cells["label"].to_numpy(dtype=np.int64).copy()  # -2 sparse, -3 low score
    all_labels[kept] = labels
    cells["label"] = all_labels
    row_label = all_labels[cell_of_row]

    plateaus = []
    for label in range(int(labels.max()) + 1):
        members = np.flatnonzero(row_label == label)
        if members.size == 0:
            continue
        plateaus.append(
            _build_plateau(candidates, members, label, cells[all_labels == label], cfg, param_cols)
        )
    plateaus.sort(key=lambda p: (-p.median_score, -p.n_combos))
    plateaus = [_renumber(p, rank) for rank, p in enumerate(plateaus[: cfg.max_plateaus], start=1)]
    dbscan = f"DBSCAN eps={eps:g}, min_samples={min_samples}"
    message = f"{len(plateaus)} plateau(s) from {selected} ({dbscan})"
    return PlateauResult(plateaus, cells, search, eps, min_samples, cfg.x, cfg.y, message)


def _build_plateau(
    candidates: pd.DataFrame,
    members: np.ndarray,
    label: int,
    cells: pd.DataFrame,
    cfg: PlateauConfig,
    param_cols: list[str],
) -> Plateau:
    part = candidates.iloc[members]
    part = part.iloc[np.lexsort((np.arange(len(part)), -part["score"].to_numpy()))]
    n_top = max(1, math.ceil(cfg.top_fraction * len(part)))
    top = part.iloc[:n_top].reset_index(drop=True)
    bounds = {c: (float(top[c].min()), float(top[c].max())) for c in param_cols}
    medians = {c: _snap_median(top[c].to_numpy(dtype=np.float64)) for c in param_cols}
    best = {c: float(top[c].iloc[0]) for c in param_cols}
    median_x = float(np.median(part[cfg.x].to_numpy(dtype=np.float64)))
    metric_cols = [
        c
        for c in part.columns
        if c.endswith("_mean") or c in ("oos_pnl_total", "avg_rank", "benchmark_return")
    ]
    return Plateau(
        rank=0,
        label=label,
        regime=regime_of(median_x, cfg.tight_below, cfg.wide_above),
        cells=cells[["x", "y", "count", "median_score"]].reset_index(drop=True),
        n_combos=len(part),
        median_x=median_x,
        median_score=float(part["score"].median()),
        best_score=float(part["score"].iloc[0]),
        top=top,
        bounds=bounds,
        medians=medians,
        best=best,
        medians_metrics={c: float(part[c].median()) for c in metric_cols},
    )


def _renumber(plateau: Plateau, rank: int) -> Plateau:
    return replace(plateau, rank=rank)
