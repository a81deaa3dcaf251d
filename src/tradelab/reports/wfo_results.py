"""One call per WFO job (and per rescore): score, find plateaus, export, log.

Takes the engine's per-phase metric arrays (freshly computed or loaded from the phase cache,
which is what `rescore=true` does) and writes under `<results_root>/<SYMBOL>/`, with
`<sweep>` = `<grid>-<phases>` (see `tradelab.reports.files`):
`candidates_<strategy>_<sweep>.parquet|csv`, `plateaus_<strategy>_<sweep>.png|csv`,
`phase5_refine/<sweep>/phase5_refine_<TS-NAME>_rank<k>.csv` and `phase5_refine_config.csv`.
With a `Job`, the summary metrics and tags go on it, every file becomes an artifact and each
plateau a child run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab import faults
from tradelab.atomic import write_table
from tradelab.data.symbols import check_name
from tradelab.reports.files import sweep_name, symbol_dir
from tradelab.reports.plots import save_plateau_plot
from tradelab.reports.tradestation import write_refinement_exports
from tradelab.search.grid import Grid
from tradelab.tracking.base import TABLE_ROWS, Job
from tradelab.wfo.plateaus import Plateau, PlateauResult, detect_plateaus
from tradelab.wfo.scoring import ScoreResult, candidates_table, score_phases, write_candidates
from tradelab.wfo.settings import ScoringConfig

__all__ = ["WfoResultsReport", "log_plateaus", "process_wfo_results"]

CANDIDATES_WRITTEN = faults.declare(
    "wfo.exports.candidates", "WFO exports after the candidates file, before the plateau files"
)
PLATEAUS_WRITTEN = faults.declare(
    "wfo.exports.plateaus", "WFO exports after the plateau files, before the TradeStation CSVs"
)
EXPORTS_WRITTEN = faults.declare(
    "wfo.exports.artifacts", "WFO exports after every file, before they are logged as artifacts"
)


@dataclass(frozen=True)
class WfoResultsReport:
    """What one scoring pass produced and where it was written."""

    scores: ScoreResult
    candidates: pd.DataFrame
    plateaus: PlateauResult
    files: dict[str, Path] = field(default_factory=dict)
    refine_files: list[Path] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Return the parent-run metrics: scoring counts and the number of plateaus."""
        return {**self.scores.metrics(), "n_plateaus": float(len(self.plateaus.plateaus))}


def _plateau_params(plateau: Plateau) -> dict[str, Any]:
    params: dict[str, Any] = {"rank": plateau.rank, "regime": plateau.regime}
    for name, (lo, hi) in plateau.bounds.items():
        params[f"{name}_min"] = lo
        params[f"{name}_max"] = hi
        params[f"{name}_median"] = plateau.medians[name]
    return params


def log_plateaus(job: Job, result: PlateauResult, *, strategy: str) -> list[str]:
    """Log each plateau as a child run `plateau <k>` of `job`; return the child run ids."""
    ids = []
    for plateau in result.plateaus:
        tags = {
            "kind": "plateau",
            "plateau_rank": plateau.rank,
            "regime": plateau.regime,
            "strategy": strategy,
        }
        with job.child(f"plateau {plateau.rank}", tags=tags) as child:
            child.log_params(_plateau_params(plateau))
            metrics = {
                "n_combos": plateau.n_combos,
                "n_cells": plateau.n_cells,
                "n_top": len(plateau.top),
                "median_x": plateau.median_x,
                "stability_score": plateau.best_score,
                "median_stability_score": plateau.median_score,
            }
            metrics.update({f"median_{k}": v for k, v in plateau.medians_metrics.items()})
            metrics.pop("median_benchmark_return", None)  # the same in every row
            metrics.update(plateau.returns())
            child.log_metrics({k: v for k, v in metrics.items() if np.isfinite(v)})
            ids.append(child.run_id)
    return ids


def process_wfo_results(
    phases: Sequence[Mapping[str, np.ndarray]],
    grid: Grid,
    *,
    symbol: str,
    strategy: str,
    grid_name: str,
    phases_name: str,
    ts_name: str,
    parameters: Mapping[str, Any],
    results_root: str | Path = "results",
    config: ScoringConfig | Any | None = None,
    combos: np.ndarray | None = None,
    benchmarks: Sequence[float] | None = None,
    capital: float | None = None,
    job: Job | None = None,
) -> WfoResultsReport:
    """Score the phases, detect plateaus, write candidates/plot/TradeStation CSVs, log to job.

    `grid_name` and `phases_name` name the sweep in every file (`<grid>-<phases>`).
    `parameters`: the strategy's parameter mapping (name -> {tier, ts_input[, default]}).
    `combos`: grid combination index of each array position (default 0..n-1).
    `benchmarks`, `capital`: each phase's OOS buy-and-hold return and the initial capital; with
    both, the candidates and plateaus carry returns beside the benchmark (`candidates_table`).
    """
    cfg = config if config is not None else ScoringConfig()
    check_name(strategy, "strategy")
    sweep = sweep_name(grid_name, phases_name)
    out = symbol_dir(results_root, symbol)
    scores = score_phases(phases, combos=combos, config=cfg, scratch_dir=out)  # beside the results
    table = candidates_table(scores, phases, grid, benchmarks=benchmarks, capital=capital)
    files: dict[str, Path] = {
        "candidates": write_candidates(table, out, strategy, sweep, cfg.candidates_format)
    }
    faults.fault(CANDIDATES_WRITTEN)
    plateaus = detect_plateaus(table, config=cfg.plateaus, grid=grid)
    stem = f"plateaus_{strategy}_{sweep}"
    title = f"{symbol} {strategy} {grid_name} ({phases_name} phases): {plateaus.message}"
    files["plateau_plot"] = save_plateau_plot(plateaus, out / f"{stem}.png", title=title)
    files["plateau_table"] = write_table(plateaus.table(), out / f"{stem}.csv")
    faults.fault(PLATEAUS_WRITTEN)
    refine = write_refinement_exports(
        plateaus.plateaus,
        parameters,
        out_dir=out,
        symbol=symbol,
        strategy=strategy,
        ts_name=ts_name,
        grid_name=grid_name,
        phases_name=phases_name,
        grid=grid,
    )
    report = WfoResultsReport(scores, table, plateaus, files, refine)
    faults.fault(EXPORTS_WRITTEN)
    if job is not None:
        job.set_tags({**scores.tags(), "plateaus": str(len(plateaus.plateaus))})
        if scores.message:
            job.set_tags({"scoring_message": scores.message})
        job.set_tags({"plateau_message": plateaus.message})
        job.log_metrics(report.metrics())
        job.log_artifact(files["candidates"], "candidates")
        job.log_table(table.head(TABLE_ROWS), "candidates/best.json")  # the UI's preview
        job.log_artifact(files["plateau_plot"], "plots")
        job.log_artifact(files["plateau_table"], "plateaus")
        for path in refine:
            job.log_artifact(path, "tradestation")
        log_plateaus(job, plateaus, strategy=strategy)
    return report
