"""A WFO job, start to finish: sweep (or rescore from the cache), v4 scoring, plateaus and
exports, research statistics, candidates for promotion, all logged through a `Job`.

One job sweeps a strategy and its expansion on one symbol (or dual pair): each variant is one
parent run in `wfo/<TARGET>` with a child run per phase, per plateau and per promotion
candidate; the config recorded on a variant's run holds that variant's own strategy config.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab import faults
from tradelab.data import ParquetStore, validate_symbol
from tradelab.errors import DataError
from tradelab.jobs.base import OpenJob
from tradelab.kernels import METRIC_NAMES
from tradelab.progress import ProgressDisplay
from tradelab.reports import WfoResultsReport, process_wfo_results
from tradelab.reports.files import sweep_name
from tradelab.robustness.bias import BiasReport
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.grid import VERIFICATION_BELOW, Grid
from tradelab.settings import to_plain
from tradelab.tracking import (
    DIAGNOSTICS,
    VALIDITY,
    Job,
    RunRecord,
    RunStatus,
    Tracker,
    grouped,
    validity,
)
from tradelab.wfo.benchmark import buy_and_hold, oos_benchmark
from tradelab.wfo.bias import wfo_bias_check
from tradelab.wfo.data import WfoData
from tradelab.wfo.executor import DaskExecutor
from tradelab.wfo.phase_metrics import SCORING_METRICS
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.runner import (
    TIMINGS,
    PhaseResult,
    adopt_phase_dirs,
    load_cached_phases,
    run_wfo,
    summarize_phase,
    wfo_cache_dir,
)
from tradelab.wfo.settings import BiasCheckConfig, ScoringConfig, StrategyConfig
from tradelab.wfo.statistics import full_history_phase, wfo_statistics
from tradelab.wfo.strategy import StrategySpec, grid_for_strategy
from tradelab.wfo.trades import oos_trade_keys

__all__ = [
    "SweepOutcome",
    "Variant",
    "WfoJobConfig",
    "candidate_records",
    "load_wfo_data",
    "run_bias_job",
    "run_sweep",
    "run_wfo_job",
]

GRID_SIZE_METRIC = "grid_size"  # a sweep's combinations, on its parent run
PHASE_TABLE_ROW_GROUP = 500_000
"""Rows per Parquet row group of a logged phase table (bounds the memory of writing it)."""
log = logging.getLogger("tradelab.wfo")
STATISTICS = faults.declare(
    "wfo.statistics", "a WFO job after the exports, before the research statistics (PBO, DSR)"
)


@dataclass(frozen=True)
class Variant:
    """One strategy variant of a job: its spec and the config it was built from."""

    spec: StrategySpec
    config: StrategyConfig


@dataclass(frozen=True)
class WfoJobConfig:
    """What a WFO job runs besides its data and strategies.

    `grid_name` names the grid in run names, tags and files, `phases_name` the phase layout;
    together (`<grid>-<phases>`) they key the sweep's files and phase cache, so sweeps of other
    grids or layouts on the target keep theirs. `results_dir` holds `<TARGET>/`;
    `max_candidates` child runs are tagged for promotion; `log_phase_tables` logs the full
    per-phase tables as Parquet artifacts, up to `phase_table_max_rows` combinations; a larger
    sweep's phase cache keeps only the scoring metrics (`stored_metrics`: 32 bytes per
    combination per phase, the others re-simulated for the candidates) and the run logs a
    manifest of it instead: MLflow does not duplicate it. `rescore`
    scores the cache of exactly this sweep (grid, phases, data, strategy parameters and costs,
    code) and refuses any other.
    """

    grid_name: str
    results_dir: str
    phases_name: str = "phases"
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    chunk_size: int = 10_000_000
    rescore: bool = False
    log_phase_tables: bool = True
    phase_table_max_rows: int = 2_000_000
    max_candidates: int = 5
    progress: bool = True
    seed: int = 0


@dataclass
class SweepOutcome:
    """What one variant's sweep produced."""

    strategy: str
    grid_size: int
    phase_metrics: list[Mapping[str, Any]]
    report: WfoResultsReport
    statistics: dict[str, float] = field(default_factory=dict)
    candidates: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    bar_evals_per_s: float = 0.0
    benchmark_return: float = math.nan  # buy-and-hold over each phase's OOS window, mean

    def headline(self) -> dict[str, float]:
        """Numbers for the DVC metrics file and the report: research results only (the
        timings, `diagnostics/wall_s` and `diagnostics/bar_evals_per_s`, are MLflow metrics of
        the run: in a metrics file every re-run would show them changed)."""
        scores = self.report.scores
        best = float(scores.score[0]) if scores.score.size else float("nan")
        out = {
            "combinations": float(self.grid_size),
            "stable": float(scores.n_stable),
            "best_stability_score": best,
            "plateaus": float(len(self.report.plateaus.plateaus)),
            "benchmark_return": self.benchmark_return,
        }
        for key in ("pbo", "deflated_sharpe", "n_trials", "effective_trials"):
            if key in self.statistics:
                out[VALIDITY + key] = float(self.statistics[key])
        if self.candidates:  # the best combination's mean OOS return over the benchmarks
            best_metrics = self.candidates[0]["metrics"]
            for key in ("excess_return", "matched_excess_return"):
                if key in best_metrics:
                    out[key] = float(best_metrics[key])
        return out


def load_wfo_data(
    store: ParquetStore, symbol: str, symbol2: str | None = None
) -> tuple[WfoData, str, str]:
    """Daily bars of `symbol` (and `symbol2`) from the store; return data, target, data hash."""
    symbol = validate_symbol(symbol)
    symbol2 = validate_symbol(symbol2) if symbol2 else None
    try:
        frame = store.get(symbol, "1day")
        frame2 = store.get(symbol2, "1day") if symbol2 else None
    except DataError as exc:
        raise DataError(f"{exc} (run tradelab-ingest first, or check the symbol)") from exc
    data = WfoData.from_frames(frame, frame2, symbol=symbol, symbol2=symbol2)
    keys = [(symbol, "1day")] + ([(symbol2, "1day")] if symbol2 else [])
    target = f"{symbol}-{symbol2}" if symbol2 else symbol
    return data, target, store.content_hash(keys)


def stored_metrics(n_combos: int, max_rows: int, rank_metric: str) -> tuple[str, ...]:
    """What a sweep's phase cache keeps for every combination: every kernel metric up to
    `max_rows` combinations (`phase_table_max_rows`: the whole table is logged), above it what
    scoring reads of every combination, the gate metrics and `rank_metric`
    (`tradelab.wfo.phase_metrics`)."""
    if n_combos <= max_rows:
        return METRIC_NAMES
    return tuple(dict.fromkeys((*SCORING_METRICS, rank_metric)))


def _log_phase_table(job: Job, k: int, pr: PhaseResult, grid: Grid, max_rows: int) -> None:
    """Log phase `k`'s table: the whole table as Parquet (streamed from the cache in row
    groups, so memory stays bounded) up to `max_rows` combinations, else a manifest of the
    cache folder (`_cache_manifest`) instead of a second copy of it."""
    if grid.size > max_rows and pr.directory is not None:
        job.log_dict(_cache_manifest(pr, grid), f"phases/phase{k}.manifest.json")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"phase{k}.parquet"
        stored = {name: pr.metrics[name] for name in pr.metrics.stored}
        _write_phase_table(path, stored, grid.size)
        job.log_artifact(path, "phases")


def _write_phase_table(path: Path, metrics: Mapping[str, np.ndarray], rows: int) -> None:
    """Write `combo` plus every stored metric to Parquet, `PHASE_TABLE_ROW_GROUP` rows at a
    time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = [name for name in METRIC_NAMES if name in metrics]
    fields = [pa.field("combo", pa.int64())]
    fields += [pa.field(name, pa.from_numpy_dtype(metrics[name].dtype)) for name in names]
    schema = pa.schema(fields)
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, rows, PHASE_TABLE_ROW_GROUP):
            stop = min(start + PHASE_TABLE_ROW_GROUP, rows)
            columns = [pa.array(np.arange(start, stop, dtype=np.int64))]
            columns += [pa.array(np.asarray(metrics[name][start:stop])) for name in names]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))


def _cache_manifest(pr: PhaseResult, grid: Grid) -> dict[str, Any]:
    """Where phase results too large to copy into MLflow live, and what they are: the cache
    folder, its files and sizes, its key (data hash, grid, strategy, phase, code version) and
    `content_id`, a hash of that key, which determines the numbers (the kernels are
    deterministic), so it identifies the content without reading gigabytes."""
    folder = Path(pr.directory).resolve()
    on_disk = json.loads((folder / "manifest.json").read_text())
    files = [{"name": f.name, "bytes": f.stat().st_size} for f in sorted(folder.glob("*.npy"))]
    key = json.dumps(on_disk["key"], sort_keys=True, default=str)
    return {
        "cache_dir": str(folder),
        "rows": grid.size,
        "complete": bool(on_disk.get("complete")),
        "bytes": sum(f["bytes"] for f in files),
        "files": files,
        "key": on_disk["key"],
        "content_id": hashlib.sha256(key.encode()).hexdigest(),
    }


def candidate_records(
    report: WfoResultsReport,
    phase_metrics: list[Mapping[str, Any]],
    grid: Grid,
    max_candidates: int,
) -> list[dict[str, Any]]:
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
    by_combo = table.set_index("combo")
    chosen = np.array([c for c in picks[:max_candidates] if c in by_combo.index], dtype=np.int64)
    # phase by phase, all chosen rows at once: one re-simulation per phase where not stored
    per_phase = [
        {name: np.asarray(m[name][chosen], dtype=np.float64) for name in _CANDIDATE_METRICS}
        for m in phase_metrics
    ]
    records = []
    for i, combo in enumerate(chosen.tolist()):
        row = by_combo.loc[combo]
        params = {name: float(row[name]) for name in grid.names}
        metrics = _candidate_metrics(row, [{k: v[i] for k, v in m.items()} for m in per_phase])
        records.append({"combo": combo, "params": params, "metrics": metrics})
    return records


_CANDIDATE_METRICS = ("is_pnl", "oos_pnl", "oos_sharpe", "oos_max_dd_pct", "oos_trades")


def _candidate_metrics(row: pd.Series, per_phase: list[dict[str, float]]) -> dict[str, float]:
    metrics: dict[str, float] = {
        "stability_score": float(row["score"]),
        "phases_valid": float(row["phases_valid"]),
        "oos_pnl_total": float(row["oos_pnl_total"]),
    }
    oos_trades, oos_dd, oos_sharpe = 0.0, 0.0, []
    for k, m in enumerate(per_phase, start=1):
        for name in _CANDIDATE_METRICS:
            metrics[f"{name}_phase{k}"] = float(m[name])
        oos_trades += float(m["oos_trades"])
        oos_dd = max(oos_dd, float(m["oos_max_dd_pct"]))
        oos_sharpe.append(float(m["oos_sharpe"]))
    metrics.update(
        {"num_trades": oos_trades, "max_drawdown": oos_dd, "sharpe": float(np.mean(oos_sharpe))}
    )
    return metrics


def resimulated_metrics(
    data: WfoData, spec: StrategySpec, params: Mapping[str, float], phases: list[Phase]
) -> dict[str, float]:
    """What a candidate's per-phase kernel metrics cannot say, from reference simulations of
    each phase: `distinct_trades` (the overlapping OOS windows share round trips: each counts
    once); per phase and averaged over the phases, the OOS return beside buy-and-hold and the
    exposure-matched benchmark of the same window (`tradelab.wfo.benchmark`); and the cost
    sensitivity, the OOS Sharpe averaged over the phases at 0x, 1x and 2x the strategy's costs
    (`oos_sharpe_costs_<m>x`)."""
    keys: set[tuple[int, int]] = set()
    out: dict[str, float] = {}
    excess, matched_excess, held = [], [], []
    sharpes: dict[float, list[float]] = {m: [] for m in COST_MULTIPLIERS}
    for k, phase in enumerate(phases, start=1):
        run = simulate_reference(data, spec, params, phase)
        for m in COST_MULTIPLIERS:
            other = (
                run if m == 1.0 else simulate_reference(data, spec.scaled_costs(m), params, phase)
            )
            sharpes[m].append(other.metrics["oos_sharpe"])
        keys |= oos_trade_keys(run, phase)
        bench = oos_benchmark(data, run, phase)
        out.update(
            {
                f"oos_return_phase{k}": bench.strategy_return,
                f"oos_benchmark_return_phase{k}": bench.buy_and_hold,
                f"oos_excess_return_phase{k}": bench.excess,
                f"oos_exposure_phase{k}": bench.exposure,
                f"oos_matched_excess_return_phase{k}": bench.matched_excess,
            }
        )
        excess.append(bench.excess)
        matched_excess.append(bench.matched_excess)
        held.append(bench.buy_and_hold)
    out.update(
        {
            "distinct_trades": float(len(keys)),
            "benchmark_return": float(np.mean(held)),
            "excess_return": float(np.mean(excess)),
            "matched_excess_return": float(np.mean(matched_excess)),
            **{f"oos_sharpe_costs_{m:g}x": float(np.mean(v)) for m, v in sharpes.items()},
        }
    )
    return out


def warn_if_costs_vanish(data: WfoData, spec: StrategySpec, floor_bps: float = 0.5) -> float:
    """Warn when per-share costs alone come to less than `floor_bps` a side at the median
    close (an index at 5,000 pays 0.00003% on $0.015 a share); return the cost in bp."""
    price = float(np.median(data.close))
    bps = (spec.commission + spec.slippage) / price * 1e4 + spec.commission_bps + spec.slippage_bps
    if bps < floor_bps:
        log.warning(
            "%s: costs are %.3g bp a side at the median close %.2f (%s): "
            "set costs=both or costs=bps to charge basis points of the traded value",
            data.symbol,
            bps,
            price,
            spec.name,
        )
    return bps


COST_MULTIPLIERS = (0.0, 1.0, 2.0)
"""The cost levels a candidate is re-simulated at (x the strategy's costs)."""


def _phase_logger(
    job: Job | None,
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    log_tables: bool,
    max_rows: int,
) -> Callable[[int, PhaseResult], None]:
    def on_phase(k: int, pr: PhaseResult) -> None:
        if job is None:
            return
        tags = {"kind": "phase", "phase": pr.phase.name, "strategy": spec.name}
        p = pr.phase
        benchmarks = {
            "is_benchmark_return": buy_and_hold(data, p.is_start, p.oos_start - 1),
            "oos_benchmark_return": buy_and_hold(data, p.oos_start, p.oos_end),
        }
        with job.child(f"phase {k}", tags=tags) as child:
            child.log_params(pr.phase.as_dict())
            summary = {
                f"{DIAGNOSTICS}{k}" if k in TIMINGS else k: v
                for k, v in summarize_phase(pr).items()
            }
            child.log_metrics(grouped({**summary, **benchmarks, "cached": float(pr.cached)}))
            if log_tables:
                _log_phase_table(child, k, pr, grid, max_rows)

    return on_phase


def _sweep_cache(
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    phases: list[Phase],
    settings: WfoJobConfig,
    target: str,
) -> Path:
    """Return this sweep's cache folder, `<results>/<TARGET>/wfo/<strategy>/<grid>-<phases>`,
    after moving in a matching cache left in the older `<strategy>/phase<k>` layout."""
    sweep = sweep_name(settings.grid_name, settings.phases_name)
    cache_dir = wfo_cache_dir(settings.results_dir, target, spec.name, sweep)
    adopt_phase_dirs(cache_dir.parent, cache_dir, data, spec, grid, phases)
    return cache_dir


def run_sweep(
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    phases: list[Phase],
    settings: WfoJobConfig,
    *,
    target: str,
    job: Job | None = None,
    max_full_eval: int | None = None,
    prior_trials: int = 0,
    display: ProgressDisplay | None = None,
    on_advance: Callable[[int], Any] | None = None,
    executor: DaskExecutor | None = None,
) -> SweepOutcome:
    """Sweep `grid` for `spec` over `phases` (or rescore the cache) and score it; log into `job`.

    `prior_trials`: combinations other sweeps already tried on this target and data (see
    `trials_tried_before`); they count in the deflated Sharpe's number of trials. `executor`: an
    open `DaskExecutor` to run the kernels on (None: this process).
    """
    cache_dir = _sweep_cache(data, spec, grid, phases, settings, target)
    wall, speed = 0.0, 0.0
    if settings.rescore:
        phase_metrics = load_cached_phases(cache_dir, data, spec, grid, phases)
    else:
        result = run_wfo(
            data,
            spec,
            grid,
            phases,
            cache_dir=cache_dir,
            chunk_size=settings.chunk_size,
            progress=settings.progress,
            on_phase=_phase_logger(
                job, data, spec, grid, settings.log_phase_tables, settings.phase_table_max_rows
            ),
            display=display,
            on_advance=on_advance,
            executor=executor,
            stored_metrics=stored_metrics(
                grid.size, settings.phase_table_max_rows, settings.scoring.rank_metric
            ),
        )
        phase_metrics = [p.metrics for p in result.phases]
        wall, speed = result.wall_s, result.bar_evals_per_s
    parameters = {
        p.name: {"tier": p.tier, "ts_input": p.ts_input, "default": p.default} for p in spec.params
    }
    held = [buy_and_hold(data, p.oos_start, p.oos_end) for p in phases]
    report = process_wfo_results(
        phase_metrics,
        grid,
        symbol=target,
        strategy=spec.name,
        grid_name=settings.grid_name,
        phases_name=settings.phases_name,
        ts_name=spec.ts_name,
        parameters=parameters,
        results_root=settings.results_dir,
        config=settings.scoring,
        benchmarks=held,
        capital=spec.initial_capital,
        job=job,
    )
    outcome = SweepOutcome(
        spec.name,
        grid.size,
        phase_metrics,
        report,
        wall_s=wall,
        bar_evals_per_s=speed,
        benchmark_return=float(np.mean(held)),
    )
    faults.fault(STATISTICS)
    outcome.statistics = wfo_statistics(
        data,
        spec,
        grid,
        phases,
        report.scores.combos,
        settings.robustness,
        max_full_eval=max_full_eval,
        seed=settings.seed,
        prior_trials=prior_trials,
    )
    outcome.candidates = candidate_records(report, phase_metrics, grid, settings.max_candidates)
    for cand in outcome.candidates:
        cand["metrics"].update(resimulated_metrics(data, spec, cand["params"], phases))
    if job is not None:
        _log_outcome(job, outcome, spec, settings)
        if outcome.candidates:
            log_equity_curves(job, data, spec, outcome.candidates[0]["params"], phases)
    return outcome


def log_equity_curves(
    job: Job,
    data: WfoData,
    spec: StrategySpec,
    params: Mapping[str, float],
    phases: list[Phase],
) -> None:
    """Draw the best combination in the MLflow UI: its equity after each bar over the whole
    history the phases cover (`equity`, step = bar index) beside holding the symbol with the
    same capital (`buy_and_hold_equity`)."""
    full = full_history_phase(phases, data.n_bars)
    equity = np.asarray(simulate_reference(data, spec, params, full).equity, dtype=np.float64)
    steps = np.arange(full.is_start - 1, full.is_start - 1 + equity.size)
    closes = data.close[steps]
    job.log_curve("equity", equity, steps=steps)
    job.log_curve("buy_and_hold_equity", equity[0] * closes / closes[0], steps=steps)


def _log_outcome(
    job: Job, outcome: SweepOutcome, spec: StrategySpec, settings: WfoJobConfig
) -> None:
    if outcome.statistics:
        job.log_metrics(validity(outcome.statistics))
    job.log_metrics(
        {
            f"{DIAGNOSTICS}wall_s": outcome.wall_s,
            f"{DIAGNOSTICS}bar_evals_per_s": outcome.bar_evals_per_s,
            GRID_SIZE_METRIC: float(outcome.grid_size),
        }
    )
    for rank, cand in enumerate(outcome.candidates):
        tags = {
            "kind": "candidate",
            "candidate": "true",
            "strategy": spec.name,
            "grid": settings.grid_name,
            "phases": settings.phases_name,
            "combo": str(cand["combo"]),
            "rank": str(rank),
        }
        job.log_trial(cand["params"], grouped(cand["metrics"]), name=f"candidate {rank}", tags=tags)


Sweep = tuple[str, str, str]
"""A sweep's identity in the ledger: (strategy, grid, phases)."""
TrialsTried = Callable[[str, "WfoJobConfig", Mapping[Sweep, int]], int]
FoundBy = Callable[[StrategySpec, list[dict[str, float]]], "RunRecord | None"]

VERIFIED_METRICS = ("pbo", "deflated_sharpe", "n_trials")


def trials_tried_before(tracker: Tracker, experiment: str, data_hash: str) -> TrialsTried:
    """The ledger of what was tried: for a sweep (strategy, grid, phases), the combinations
    every other finished sweep in `experiment` tried on the same data, and the other sweeps
    of the same job (`alongside`: {sweep: combinations}), whichever of them runs first. The
    tracking store is the record, so a narrow re-sweep around a region a wide sweep found is
    judged against everything tried. A sweep repeated (a rerun, a rescore) counts once, so a
    job's numbers are the same on its first run and on a rerun; a one-combination re-run of a
    found configuration tries nothing new."""

    def count(strategy: str, settings: WfoJobConfig, alongside: Mapping[Sweep, int]) -> int:
        mine = (strategy, settings.grid_name, settings.phases_name)
        sweeps = {key: size for key, size in alongside.items() if size >= 2}
        runs = tracker.find_runs(
            experiment, tags={"data_hash": data_hash}, status=RunStatus.FINISHED, top_level=True
        )
        for run in runs:
            tags = run.tags
            key = (tags.get("strategy", ""), tags.get("grid", ""), tags.get("phases", ""))
            size = run.metrics.get(GRID_SIZE_METRIC, math.nan)
            if "" in key or not size >= 2:
                continue
            sweeps[key] = max(sweeps.get(key, 0), int(size))
        sweeps.pop(mine, None)
        return sum(sweeps.values())

    return count


def sweep_that_found(tracker: Tracker, experiment: str, data_hash: str) -> FoundBy:
    """For a verification run: the newest finished sweep of at least `VERIFICATION_BELOW`
    combinations on the same data among whose promotion candidates is one of these
    combinations (all of the strategy's parameters equal, defaults filled in), or None."""

    def find(spec: StrategySpec, combinations: list[dict[str, float]]) -> RunRecord | None:
        defaults = spec.defaults()
        wanted = [{**defaults, **combination} for combination in combinations]
        sweeps = tracker.find_runs(
            experiment,
            tags={"data_hash": data_hash, "strategy": spec.name},
            status=RunStatus.FINISHED,
            top_level=True,
        )
        for sweep in sweeps:
            if not sweep.metrics.get(GRID_SIZE_METRIC, 0.0) >= VERIFICATION_BELOW:
                continue
            for cand in tracker.find_runs(
                experiment, tags={"candidate": "true"}, parent=sweep.run_id
            ):
                proposed = {**defaults, **{k: float(v) for k, v in cand.params.items()}}
                if any(_same_combination(w, proposed) for w in wanted):
                    return sweep
        return None

    return find


def _same_combination(a: Mapping[str, float], b: Mapping[str, float]) -> bool:
    return set(a) == set(b) and all(math.isclose(a[k], b[k], rel_tol=1e-12) for k in a)


def _kind_tags(
    spec: StrategySpec, grid: Grid, found_by: FoundBy | None
) -> tuple[dict[str, str], dict[str, float]]:
    """`kind=sweep`, or for a verification run its link and the statistics of the sweep that
    found the combination (`validity/verified_pbo`, ...)."""
    if grid.size >= VERIFICATION_BELOW:
        return {"kind": "sweep"}, {}
    decoded = grid.decode(np.arange(grid.size, dtype=np.int64))
    combinations = [
        {name: float(values[i]) for name, values in decoded.items()} for i in range(grid.size)
    ]
    sweep = None if found_by is None else found_by(spec, combinations)
    if sweep is not None:
        found = {
            f"{VALIDITY}verified_{k}": sweep.metrics[VALIDITY + k]
            for k in VERIFIED_METRICS
            if VALIDITY + k in sweep.metrics
        }
        return {"kind": "verification", "verifies": sweep.run_id}, found
    log.warning(
        "%s: a verification run (%d combination(s), fewer than %d) that no finished sweep on this "
        "data proposed as a candidate: it is never promoted, and its statistics say nothing of "
        "how the combination was chosen",
        spec.name,
        grid.size,
        VERIFICATION_BELOW,
    )
    return {"kind": "verification", "verifies": "none"}, {}


def run_wfo_job(
    data: WfoData,
    variants: list[Variant],
    grid: Grid,
    phases: list[Phase],
    settings: WfoJobConfig,
    *,
    target: str,
    data_hash: str,
    open_job: OpenJob,
    base_config: Mapping[str, Any],
    trials_before: TrialsTried | None = None,
    found_by: FoundBy | None = None,
    executor: DaskExecutor | None = None,
) -> dict[str, dict[str, float]]:
    """Sweep every variant (one parent run each); return each variant's headline numbers.

    `found_by(spec, combinations)`: for a verification run (fewer than `VERIFICATION_BELOW`
    combinations), the sweep that found the combination (`sweep_that_found`).

    `trials_before(strategy, settings, alongside)`: the combinations earlier sweeps and the
    job's other variants tried on this target and data (`trials_tried_before`), counted in
    each sweep's number of trials.

    A rescore checks every variant's cache first, so a refused rescore opens no run.
    """
    headline: dict[str, dict[str, float]] = {}
    warn_if_costs_vanish(data, variants[0].spec)  # the variants share the primary's costs
    if settings.rescore:
        for variant in variants:
            spec, variant_grid = variant.spec, grid_for_strategy(grid, variant.spec)
            cache_dir = _sweep_cache(data, spec, variant_grid, phases, settings, target)
            load_cached_phases(cache_dir, data, spec, variant_grid, phases)
    grids = [grid_for_strategy(grid, v.spec) for v in variants]
    job_sweeps = {
        (v.spec.name, settings.grid_name, settings.phases_name): g.size
        for v, g in zip(variants, grids, strict=True)
    }
    display = ProgressDisplay(settings.progress and not settings.rescore, unit="combos")
    with display:
        total = sum(g.size for g in grids) * len(phases)
        names = ", ".join(v.spec.name for v in variants)
        overall = display.task(f"{target}: {names} x {len(phases)} phases", total)
        for k, (variant, variant_grid) in enumerate(zip(variants, grids, strict=True), start=1):
            spec = variant.spec
            label = f"{spec.name} ({k}/{len(variants)})"
            config = {**base_config, "strategy": to_plain(variant.config)}
            with open_job(
                experiment=f"wfo/{target}",
                run_name=f"{spec.name} {settings.grid_name}",
                data_hash=data_hash,
                config=config,
            ) as job:
                job.set_tags(
                    {
                        "family": "wfo",
                        "target": target,
                        "strategy": spec.name,
                        "grid": settings.grid_name,
                        "phases": settings.phases_name,
                        "rescore": str(settings.rescore).lower(),
                    }
                )
                kind, verified = _kind_tags(spec, variant_grid, found_by)
                job.set_tags(kind)
                if verified:
                    job.log_metrics(verified)
                job.log_params(
                    {
                        "strategy": spec.name,
                        "grid": settings.grid_name,
                        "grid_size": variant_grid.size,
                        "phases": [p.name for p in phases],
                        "symbol": data.symbol,
                        "symbol2": data.symbol2,
                    }
                )
                prior = (
                    0 if trials_before is None else trials_before(spec.name, settings, job_sweeps)
                )
                outcome = run_sweep(
                    data,
                    spec,
                    variant_grid,
                    phases,
                    settings,
                    target=target,
                    job=job,
                    prior_trials=prior,
                    display=display,
                    on_advance=functools.partial(_advance, display, overall, label),
                    executor=executor,
                )
            headline[spec.name] = outcome.headline()
            _log_summary(target, outcome)
    return headline


def _advance(display: ProgressDisplay, overall: Any, label: str, combinations: int) -> None:
    """Move the job's overall bar by `combinations`, showing which strategy runs."""
    display.update(overall, advance=combinations, note=label)


def _log_summary(target: str, outcome: SweepOutcome) -> None:
    pbo, dsr = (outcome.statistics.get(k) for k in ("pbo", "deflated_sharpe"))
    log.info(
        "%s %s: %d combinations, %d stable, %d plateaus, PBO %s, DSR %s",
        target,
        outcome.strategy,
        outcome.grid_size,
        outcome.report.scores.n_stable,
        len(outcome.report.plateaus.plateaus),
        "n/a" if pbo is None or math.isnan(pbo) else f"{pbo:.3f}",
        "n/a" if dsr is None or math.isnan(dsr) else f"{dsr:.3f}",
    )


def run_bias_job(
    data: WfoData,
    specs: list[StrategySpec],
    grid: Grid,
    phases: list[Phase],
    settings: BiasCheckConfig,
    *,
    target: str,
    grid_name: str,
    data_hash: str,
    open_job: OpenJob,
    base_config: Mapping[str, Any],
) -> tuple[list[BiasReport], dict[str, float]]:
    """Run the look-ahead and warmup checks of every strategy; log one `bias-check` run.

    `settings.seed` must be set (the app fills in the job's seed). Returns the per-strategy
    reports and the combined metrics.
    """
    seed = 0 if settings.seed is None else settings.seed
    reports = [
        wfo_bias_check(
            data,
            spec,
            grid_for_strategy(grid, spec),
            phases,
            target=target,
            n_combos=settings.n_combos,
            n_cuts=settings.n_cuts,
            extra_bars=settings.extra_bars,
            tolerance=settings.tolerance,
            seed=seed,
        )
        for spec in specs
    ]
    totals = combine_bias_metrics(reports)
    with open_job(
        experiment=f"wfo/{target}", run_name="bias-check", data_hash=data_hash, config=base_config
    ) as job:
        used = {**to_plain(settings), "seed": seed, "strategies": [s.name for s in specs]}
        _log_bias(job, data, phases, reports, totals, used, target=target, grid_name=grid_name)
    return reports, totals


def _log_bias(
    job: Job,
    data: WfoData,
    phases: list[Phase],
    reports: list[BiasReport],
    totals: dict[str, float],
    used: dict[str, Any],
    *,
    target: str,
    grid_name: str,
) -> None:
    passed = totals["bias_passed"] == 1.0
    job.set_tags(
        {
            "family": "wfo",
            "target": target,
            "check": "bias",
            "strategy": reports[0].strategy,
            "grid": grid_name,
            "bias_passed": str(passed).lower(),
        }
    )
    job.log_params(
        {
            **used,
            "grid": grid_name,
            "phases": [p.name for p in phases],
            "symbol": data.symbol,
            "symbol2": data.symbol2,
        }
    )
    job.log_metrics(totals)
    for report in reports:
        tags = {"strategy": report.strategy, "check": "bias"}
        with job.child(report.strategy, tags=tags) as child:
            child.log_metrics(report.metrics())
    summary = {
        "target": target,
        "grid": grid_name,
        "passed": passed,
        "metrics": totals,
        "strategies": [r.to_dict() for r in reports],
    }
    job.log_dict(summary, "bias_report.json")


def combine_bias_metrics(reports: list[BiasReport]) -> dict[str, float]:
    """Aggregate the per-strategy metrics: counts summed, the worst difference kept."""
    per = [r.metrics() for r in reports]
    out: dict[str, float] = {}
    for key in per[0]:
        values = [m[key] for m in per if m[key] == m[key]]
        if key in ("warmup_max_rel_diff", "warmup_tolerance"):
            out[key] = max(values, default=float("nan"))
        elif key == "bias_passed":
            out[key] = float(all(v == 1.0 for v in values))
        else:
            out[key] = float(sum(values))
    return out
