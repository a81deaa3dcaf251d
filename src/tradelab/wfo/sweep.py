"""One WFO job, start to finish: sweep (or rescore from the cache), v4 scoring, plateaus,
exports, research statistics, candidates for promotion — logged through a `Job`.

Research statistics: the full history (the first phase's IS start to the last bar) is one
more simulation. Every combination's Sharpe there gives the cross-trial variance V[SR] of
the deflated Sharpe (a seeded sample of `max_full_eval` combinations for bigger grids); the
top-K candidates by stability score (K = `robustness.max_configs`) are re-run with per-block
return sums for PBO and effective trials; the selected configuration is the best candidate.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.errors import ConfigError
from tradelab.kernels import METRIC_NAMES
from tradelab.robustness import sweep_statistics
from tradelab.tracking import Job
from tradelab.wfo.cache import MANIFEST, load_phase_dir
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import evaluate_combos
from tradelab.wfo.grid import Grid
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.runner import run_wfo, summarize_phase, wfo_cache_dir
from tradelab.wfo.strategy import StrategySpec

__all__ = ["SweepOutcome", "candidate_records", "full_history_phase", "run_sweep"]

log = logging.getLogger(__name__)


@dataclass
class SweepOutcome:
    strategy: str
    grid_size: int
    phase_metrics: list[dict[str, np.ndarray]]
    report: Any  # WfoResultsReport
    statistics: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    bar_evals_per_s: float = 0.0

    def headline(self) -> dict[str, float]:
        """Numbers for the DVC metrics file and the report."""
        scores = self.report.scores
        out = {"combinations": float(self.grid_size), "stable": float(scores.n_stable),
               "best_stability_score": float(scores.score[0]) if scores.score.size else float("nan"),
               "plateaus": float(len(self.report.plateaus.plateaus)), "wall_s": self.wall_s,
               "bar_evals_per_s": self.bar_evals_per_s}  # fmt: skip
        for key in ("pbo", "deflated_sharpe", "n_trials", "effective_trials"):
            if key in self.statistics:
                out[key] = float(self.statistics[key])
        return out


def full_history_phase(phases: list[Phase], n_bars: int) -> Phase:
    """One simulation over all phases' history: IS from the first IS start to the last bar."""
    first = phases[0]
    return Phase("full", first.warmup_start, first.is_start, n_bars - 1, n_bars - 1)


def _cached_phases(
    cache_dir: Path, grid: Grid, data: WfoData, n_phases: int
) -> list[dict[str, np.ndarray]]:
    """Per-phase arrays of a finished sweep, after checking they belong to this grid and data."""
    out = []
    for k in range(1, n_phases + 1):
        folder = cache_dir / f"phase{k}"
        try:
            key = json.loads((folder / MANIFEST).read_text()).get("key", {})
        except (OSError, ValueError) as exc:
            raise ConfigError(
                "rescore", f"no cached results in {folder}: run the sweep first"
            ) from exc
        if key.get("grid") != grid.fingerprint() or key.get("data") != data.data_hash():
            raise ConfigError(
                "rescore",
                f"the cache in {folder} was built for another grid or data: run the sweep",
            )
        out.append(load_phase_dir(folder))
    return out


def _log_phase_table(job: Job, k: int, metrics: Mapping[str, np.ndarray], grid: Grid) -> None:
    combos = np.arange(grid.size, dtype=np.int64)
    frame = pd.DataFrame(
        {"combo": combos, **{name: np.asarray(metrics[name]) for name in METRIC_NAMES}}
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"phase{k}.parquet"
        frame.to_parquet(path, index=False, compression="zstd")
        job.log_artifact(path, "phases")


def candidate_records(report: Any, phase_metrics: list[dict[str, np.ndarray]], grid: Grid,
                      max_candidates: int) -> list[dict[str, Any]]:  # fmt: skip
    """The best combination overall and each plateau's best: parameters and promotion metrics."""
    table = report.candidates
    if table.empty:
        return []
    picks = [int(table["combo"].iloc[0])]
    for plateau in report.plateaus.plateaus:
        try:
            combo = int(grid.encode_values({k: [plateau.best[k]] for k in grid.names})[0])
        except (KeyError, ValueError):
            continue
        if combo not in picks:
            picks.append(combo)
    records = []
    by_combo = table.set_index("combo")
    for combo in picks[:max_candidates]:
        if combo not in by_combo.index:
            continue
        row = by_combo.loc[combo]
        params = {name: float(row[name]) for name in grid.names}
        metrics: dict[str, float] = {"stability_score": float(row["score"]), "phases_valid": float(row["phases_valid"]),
                                     "oos_pnl_total": float(row["oos_pnl_total"])}  # fmt: skip
        oos_trades, oos_dd, oos_sharpe = 0.0, 0.0, []
        for k, m in enumerate(phase_metrics, start=1):
            for name in ("is_pnl", "oos_pnl", "oos_sharpe", "oos_max_dd_pct", "oos_trades"):
                metrics[f"{name}_phase{k}"] = float(m[name][combo])
            oos_trades += float(m["oos_trades"][combo])
            oos_dd = max(oos_dd, float(m["oos_max_dd_pct"][combo]))
            oos_sharpe.append(float(m["oos_sharpe"][combo]))
        metrics.update(
            {"num_trades": oos_trades, "max_drawdown": oos_dd, "sharpe": float(np.mean(oos_sharpe))}
        )
        records.append({"combo": combo, "params": params, "metrics": metrics})
    return records


def _statistics(data: WfoData, spec: StrategySpec, grid: Grid, phases: list[Phase], report: Any,
                robustness: Any, max_full_eval: int, seed: int) -> dict[str, float]:  # fmt: skip
    """PBO / DSR / effective trials of the sweep, always (also with 0 or 1 stable candidate).

    The compared configurations: the stable candidates best first, padded with the best
    full-history Sharpes up to K, so a lone "winner" still faces its competition; the selected
    one is the best candidate (or, with none, the best full-history Sharpe).
    """
    if grid.size < 2:
        return {}
    full = full_history_phase(phases, data.n_bars)
    rng = np.random.default_rng(seed)
    every = np.arange(grid.size, dtype=np.int64)
    sample = (
        every
        if grid.size <= max_full_eval
        else np.sort(rng.choice(every, max_full_eval, replace=False))
    )
    sharpes = evaluate_combos(data, spec, grid, full, sample).metrics["is_sharpe"] / np.sqrt(252.0)
    finite = np.isfinite(sharpes)
    by_sharpe = sample[finite][np.argsort(-sharpes[finite], kind="stable")]
    k = max(2, int(getattr(robustness, "max_configs", 5000)))
    pool = [int(c) for c in report.scores.combos[:k]]
    seen = set(pool)
    for combo in by_sharpe:
        if len(pool) >= k:
            break
        if int(combo) not in seen:
            pool.append(int(combo))
            seen.add(int(combo))
    if len(pool) < 2:
        return {}
    top = np.asarray(pool, dtype=np.int64)
    blocks = evaluate_combos(
        data, spec, grid, full, top, n_blocks=int(getattr(robustness, "n_blocks", 16))
    )
    chosen = {name: float(values[0]) for name, values in grid.decode(top[:1]).items()}
    equity = np.asarray(simulate_reference(data, spec, chosen, full).equity, dtype=np.float64)
    returns = equity[1:] / equity[:-1] - 1.0
    return sweep_statistics(blocks.block_ret_sum, blocks.block_ret_sq, blocks.block_n, n_trials=grid.size, selected=0,
                            selected_returns=returns, trial_sharpes=sharpes[finite], config=robustness)  # fmt: skip


def run_sweep(
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    phases: list[Phase],
    *,
    grid_name: str,
    target: str,
    results_root: str | Path,
    chunk_size: int,
    scoring: Any,
    robustness: Any,
    job: Job | None = None,
    rescore: bool = False,
    log_phase_tables: bool = True,
    progress: bool = True,
    max_candidates: int = 5,
    max_full_eval: int = 2_000_000,
    seed: int = 0,
) -> SweepOutcome:
    """Sweep `grid` for `spec` over `phases` (or rescore the cache) and score it; log into `job`."""
    from tradelab.reports import process_wfo_results

    cache_dir = wfo_cache_dir(results_root, target, spec.name)
    wall, speed = 0.0, 0.0
    if rescore:
        phase_metrics = _cached_phases(cache_dir, grid, data, len(phases))
    else:

        def on_phase(k: int, pr: Any) -> None:
            if job is None:
                return
            with job.child(
                f"phase{k}", tags={"phase": pr.phase.name, "strategy": spec.name}
            ) as child:
                child.log_params({k2: v for k2, v in pr.phase.as_dict().items()})
                child.log_metrics({**summarize_phase(pr), "cached": float(pr.cached)})
                if log_phase_tables:
                    _log_phase_table(child, k, pr.metrics, grid)

        result = run_wfo(data, spec, grid, phases, cache_dir=cache_dir, chunk_size=chunk_size, progress=progress,
                         on_phase=on_phase)  # fmt: skip
        phase_metrics = [p.metrics for p in result.phases]
        wall, speed = result.wall_s, result.bar_evals_per_s
    parameters = {
        p.name: {"tier": p.tier, "ts_input": p.ts_input, "default": p.default} for p in spec.params
    }
    report = process_wfo_results(phase_metrics, grid, symbol=target, strategy=spec.name, grid_name=grid_name,
                                 ts_name=spec.ts_name, parameters=parameters, results_root=results_root,
                                 config=scoring, job=job)  # fmt: skip
    outcome = SweepOutcome(
        spec.name, grid.size, phase_metrics, report, wall_s=wall, bar_evals_per_s=speed
    )
    outcome.statistics = _statistics(
        data, spec, grid, phases, report, robustness, max_full_eval, seed
    )
    outcome.candidates = candidate_records(report, phase_metrics, grid, max_candidates)
    if job is not None:
        if outcome.statistics:
            job.log_metrics(outcome.statistics)
        job.log_metrics({"wall_s": wall, "bar_evals_per_s": speed, "grid_size": float(grid.size)})
        for rank, cand in enumerate(outcome.candidates):
            job.log_trial(cand["params"], cand["metrics"], name=f"candidate-{rank}",
                          tags={"candidate": "true", "strategy": spec.name, "grid": grid_name,
                                "combo": str(cand["combo"]), "rank": str(rank)})  # fmt: skip
    return outcome
