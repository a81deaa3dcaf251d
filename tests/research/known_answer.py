"""Known-answer harness: a synthetic market through the path the apps run, in process.

WFO: market (`null` or `planted`) -> `tradelab.jobs.wfo.run_sweep` (the sweep, v4 scoring,
the overfitting statistics, the promotion candidates) -> the WFO family's promotion rule with
the gates shipped in `conf/promote.yaml`. Kalman residual: 1-minute bars -> `tune_residual`
(the study of `tradelab-tune study=kalman_residual search=random`, logged into an in-memory
tracker) -> the residual family's rule. Candidates carry their job's statistics exactly as
`tradelab.promotion.service.find_candidates` merges them from the parent run.

    python -m tests.research.known_answer --mode null --seeds 1-40 --symbols SMH,QQQ

prints one line per (symbol, seed) and the promotion rate with the PBO / DSR distribution;
docs/research_validity.md quotes its output.
"""

from __future__ import annotations

import argparse
import math
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from tradelab.data.synthetic import MarketSpec, generate_market
from tradelab.jobs.wfo import WfoJobConfig, run_sweep
from tradelab.promotion.family_wfo import WFO
from tradelab.promotion.rules import Candidate, Decision, Gates, decide, pick_best
from tradelab.promotion.service import PARENT_METRICS
from tradelab.robustness.settings import RobustnessConfig
from tradelab.settings import from_plain
from tradelab.tracking import VALIDITY, grouped, validity
from tradelab.wfo import (
    WfoData,
    grid_for_strategy,
    grid_from_config,
    phases_from_config,
    strategy_from_config,
)
from tradelab.wfo.phases import Phase
from tradelab.wfo.plateaus import PlateauResult
from tradelab.wfo.reference import simulate_reference
from tradelab.wfo.settings import GridConfig, PhasesConfig, StrategyConfig
from tradelab.wfo.strategy import StrategySpec

CONF = Path(__file__).resolve().parents[2] / "conf"
YEARS = 8.5  # the compact phases need 7.5 years plus 100 warmup bars
WARMUP_YEARS = 1.0  # room for the phases' warmup bars before the first phase


def load_conf(group: str, name: str) -> dict[str, Any]:
    """Return `conf/<group>/<name>.yaml` (or `conf/<name>.yaml`) as a plain dict."""
    path = CONF / group / f"{name}.yaml" if group else CONF / f"{name}.yaml"
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert isinstance(data, dict)
    data.pop("defaults", None)
    return data


def shipped_costs() -> str:
    """The `costs` option `tradelab-wfo` composes by default (`conf/wfo.yaml`)."""
    defaults = OmegaConf.to_container(OmegaConf.load(CONF / "wfo.yaml"))["defaults"]  # type: ignore[index]
    return next(d["costs"] for d in defaults if isinstance(d, dict) and "costs" in d)


def shipped_gates(**overrides: Any) -> Gates:
    """The promotion gates of `conf/promote.yaml` (what `tradelab-promote` uses by default)."""
    return replace(Gates(**load_conf("", "promote")["gates"]), **overrides)


def market_data(
    mode: str, seed: int, symbol: str, years: float = YEARS
) -> tuple[WfoData, dict[str, Any]]:
    """`years` of daily bars of `symbol` in the synthetic market, and the planted record."""
    spec = MarketSpec(seed=seed, mode=mode, daily_years=years, minute_days=0, symbols=(symbol,))
    market = generate_market(spec)
    daily = market.bars.daily
    rows = daily[daily["ticker"] == symbol]
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(rows["window_start"], unit="ns", utc=True),
            **{c: rows[c].to_numpy(dtype=np.float64) for c in ("open", "high", "low", "close")},
        }
    )
    return WfoData.from_frames(frame, symbol=symbol), market.planted


@dataclass(frozen=True)
class KnownAnswer:
    """One (market, seed, symbol) through sweep, scoring and the gate."""

    mode: str
    seed: int
    symbol: str
    n_stable: int
    statistics: dict[str, float]
    best: Candidate | None
    decision: Decision
    region: tuple[float, float] | None = None
    candidates: list[Candidate] = field(default_factory=list)
    family: str = "wfo"  # kalman_residual: `n_stable` counts the trials
    # the best combination's median trailing-stop distance in ATRs over its long positions in
    # every phase (`median_stop`)
    best_stop: float = math.nan
    plateaus: PlateauResult | None = None  # WFO: the sweep's plateaus
    spec: StrategySpec | None = None  # WFO: the strategy swept
    data: WfoData | None = None
    phases: list[Phase] = field(default_factory=list)

    def median_stop(self, params: Mapping[str, float]) -> float:
        """Median trailing-stop distance in ATRs of `params` over its long positions in every
        phase (the planted edge is long; reference simulation: squeeze tightening and the
        max_stop_atr cap included)."""
        assert self.spec is not None and self.data is not None
        runs = [simulate_reference(self.data, self.spec, params, p) for p in self.phases]
        stops = np.concatenate([r.stop_atr[r.stop_side > 0] for r in runs])
        return float(np.nanmedian(stops)) if stops.size else math.nan

    @property
    def promoted(self) -> bool:
        return self.decision.promote

    @property
    def best_multiplier(self) -> float:
        if self.best is None or "atr_multiplier" not in self.best.params:
            return math.nan
        return float(self.best.params["atr_multiplier"])

    @property
    def in_region(self) -> bool:
        if self.region is None or self.best is None:
            return False
        lo, hi = self.region
        return lo <= self.best_stop <= hi

    def line(self) -> str:
        st = self.statistics
        pbo, dsr = st.get("pbo", math.nan), st.get("deflated_sharpe", math.nan)
        best = "-" if self.best is None else f"stop={self.best_stop:.1f} ATR"
        if self.best is not None and math.isnan(self.best_multiplier):
            best = f"sharpe={self.best.metrics.get('sharpe', math.nan):.2f}"
        return (
            f"{self.mode:7s} {self.symbol:4s} seed {self.seed:3d}  "
            f"{'stable' if self.family == 'wfo' else 'trials'} {self.n_stable:3d}  "
            f"pbo {pbo:6.3f}  dsr {dsr:6.3f}  best {best:22s} {self.decision.verdict.value:7s} "
            f"{self.decision.reason[:110]}"
        )


def run_known_answer(
    mode: str,
    seed: int,
    symbol: str = "SMH",
    *,
    grid: str = "known_answer",
    strategy: str = "atr_d_l",
    phases: str = "compact",
    gates: Gates | None = None,
    costs: str | None = None,
) -> KnownAnswer:
    """Sweep `grid` for `strategy` at `costs` (default: the shipped option) on the market and
    apply the promotion rule.

    The market is as long as `phases` needs (the seed's `default` phases: 15 years) plus a year.
    """
    phases_cfg = from_plain(PhasesConfig, load_conf("phases", phases))
    span = max(p.is_years + p.oos_years + p.end_offset_years for p in phases_cfg.phases)
    data, planted = market_data(mode, seed, symbol, max(YEARS, span + WARMUP_YEARS))
    strategy_conf = {
        **load_conf("strategy", strategy),
        **load_conf("costs", costs or shipped_costs()),
    }
    spec = strategy_from_config(from_plain(StrategyConfig, strategy_conf))
    grid_cfg = from_plain(GridConfig, load_conf("grid", grid))
    grid_obj = grid_for_strategy(grid_from_config(grid_cfg), spec)
    phase_list = phases_from_config(phases_cfg, data.timestamps)
    with tempfile.TemporaryDirectory() as tmp:
        settings = WfoJobConfig(grid_name=grid, results_dir=tmp, chunk_size=1 << 16, progress=False)
        outcome = run_sweep(data, spec, grid_obj, phase_list, settings, target=symbol)
    # what the job logs and promotion reads: the statistics under validity/, is/ and oos/ grouped
    logged = validity(outcome.statistics)
    parent = {k: v for k, v in logged.items() if k in PARENT_METRICS}
    candidates = [
        Candidate(
            f"{mode}-{symbol}-{seed}-{rank}",
            symbol,
            {**parent, **grouped(cand["metrics"])},
            {k: str(v) for k, v in cand["params"].items()},
            {"strategy": spec.name, "candidate": "true"},
        )
        for rank, cand in enumerate(outcome.candidates)
    ]
    best = pick_best(candidates, WFO.objective)
    decision = decide(
        best, None, WFO.objective, gates or shipped_gates(), metric_names=WFO.metric_names
    )
    region = planted.get("wfo", {}).get("atr_multiplier_region")
    result = KnownAnswer(
        mode,
        seed,
        symbol,
        int(outcome.report.scores.n_stable),
        dict(outcome.statistics),
        best,
        decision,
        tuple(region) if region else None,
        candidates,
        plateaus=outcome.report.plateaus,
        spec=spec,
        data=data,
        phases=phase_list,
    )
    if best is None:
        return result
    params = {k: float(best.params[k]) for k in spec.param_names if k in best.params}
    return replace(result, best_stop=result.median_stop(params))


def minute_bars(mode: str, seed: int, symbol: str, days: int = 30) -> pd.DataFrame:
    """The last `days` sessions of 1-minute bars of `symbol` in the synthetic market."""
    spec = MarketSpec(seed=seed, mode=mode, daily_years=1.0, minute_days=days, symbols=(symbol,))
    minute = generate_market(spec).bars.minute
    rows = minute[minute["ticker"] == symbol]
    return pd.DataFrame(
        {
            "timestamp": pd.to_datetime(rows["window_start"], unit="ns", utc=True),
            **{
                c: rows[c].to_numpy(dtype=np.float64)
                for c in ("open", "high", "low", "close", "volume")
            },
        }
    )


def run_residual_known_answer(
    mode: str,
    seed: int,
    symbol: str = "PLUG",
    *,
    gates: Gates | None = None,
    search: str = "random",
    days: int = 30,
) -> KnownAnswer:
    """Tune the residual strategy (the shipped study, `conf/search/<search>`) and apply the rule.

    `search="grid"` runs all 150,000 combinations of the study's space, on the last `days`
    sessions of 1-minute bars."""
    from tradelab.promotion.families import family
    from tradelab.search.settings import GridSearchConfig, RandomSearchConfig
    from tradelab.settings import from_plain
    from tradelab.strategies import tune_residual
    from tradelab.strategies.settings import KalmanResidualStudyConfig
    from tradelab.tracking import MemoryTracker

    spec = family("kalman_residual")
    shipped = {**load_conf("study", "kalman_residual"), "max_last_price": None}
    study = from_plain(KalmanResidualStudyConfig, shipped, "study")
    search_type = GridSearchConfig if search == "grid" else RandomSearchConfig
    search_cfg = from_plain(search_type, load_conf("search", search), "search")
    tracker = MemoryTracker()
    with tracker.start_job(f"kalman_residual/{symbol}", "known-answer") as job:
        bars = {symbol: minute_bars(mode, seed, symbol, days)}
        tune_residual(bars, study, search_cfg, job, robustness=RobustnessConfig())
    parent = tracker.get(job.run_id)
    candidates = []
    for run in tracker.runs():
        if run.tags.get("candidate") != "true":
            continue
        merged = {k: parent.metrics[k] for k in PARENT_METRICS if k in parent.metrics}
        metrics = {**merged, **run.metrics}
        candidates.append(Candidate(run.run_id, symbol, metrics, run.params, run.tags))
    best = pick_best(candidates, spec.objective)
    decision = decide(
        best, None, spec.objective, gates or shipped_gates(), metric_names=spec.metric_names
    )
    statistics = {
        k.removeprefix(VALIDITY): v for k, v in parent.metrics.items() if k in PARENT_METRICS
    }
    n_trials = int(statistics.get("n_trials", 0))
    return KnownAnswer(
        mode,
        seed,
        symbol,
        n_trials,
        statistics,
        best,
        decision,
        None,
        candidates,
        "kalman_residual",
    )


def summarize(results: list[KnownAnswer]) -> str:
    """Promotion rate and the PBO / DSR distribution of `results`, in words."""
    promoted = sum(r.promoted for r in results)
    pbo = np.array([r.statistics.get("pbo", np.nan) for r in results])
    dsr = np.array([r.statistics.get("deflated_sharpe", np.nan) for r in results])
    with_stats = np.isfinite(dsr)
    lines = [f"promoted {promoted} of {len(results)} ({promoted / max(len(results), 1):.1%})"]
    if with_stats.any():
        q = lambda a: np.percentile(a[with_stats], [0, 25, 50, 75, 100])  # noqa: E731
        lines.append(f"statistics logged in {int(with_stats.sum())} of {len(results)} sweeps")
        lines.append("PBO quartiles " + " ".join(f"{v:.3f}" for v in q(pbo)))
        lines.append("DSR quartiles " + " ".join(f"{v:.3f}" for v in q(dsr)))
        lines.append(
            f"PBO <= 0.5 in {int((pbo[with_stats] <= 0.5).sum())}, "
            f"DSR >= 0.95 in {int((dsr[with_stats] >= 0.95).sum())}"
        )
    return "\n".join(lines)


GATE_VARIANTS: dict[str, dict[str, Any]] = {
    "shipped": {},
    "require-stats": {"require_overfitting_stats": True},
    "no-overfitting": {"max_pbo": None, "min_deflated_sharpe": None},
}


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def main(argv: list[str] | None = None) -> None:
    """Print known-answer outcomes for many seeds (the numbers the docs quote)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", default="null", choices=["null", "planted"])
    parser.add_argument("--family", default="wfo", choices=["wfo", "kalman_residual"])
    parser.add_argument("--seeds", default="1-20")
    parser.add_argument("--symbols", default="SMH")
    parser.add_argument("--grid", default="known_answer", help="WFO: conf/grid/<name>.yaml")
    parser.add_argument("--strategy", default="atr_d_l", help="WFO: conf/strategy/<name>.yaml")
    parser.add_argument("--phases", default="compact", help="WFO: conf/phases/<name>.yaml")
    parser.add_argument(
        "--search", default="random", choices=["random", "grid"], help="kalman_residual search"
    )
    parser.add_argument("--days", type=int, default=30, help="kalman_residual: minute sessions")
    parser.add_argument(
        "--gates",
        default="shipped",
        choices=sorted(GATE_VARIANTS),
        help="shipped: conf/promote.yaml; require-stats: also refuse a sweep "
        "without PBO / DSR; no-overfitting: without the PBO and DSR gates",
    )
    args = parser.parse_args(argv)
    gates = shipped_gates(**GATE_VARIANTS[args.gates])
    results = []
    for symbol in args.symbols.split(","):
        for seed in _seeds(args.seeds):
            if args.family == "wfo":
                result = run_known_answer(
                    args.mode,
                    seed,
                    symbol,
                    grid=args.grid,
                    strategy=args.strategy,
                    phases=args.phases,
                    gates=gates,
                )
            else:
                result = run_residual_known_answer(
                    args.mode, seed, symbol, gates=gates, search=args.search, days=args.days
                )
            print(result.line(), flush=True)
            results.append(result)
    print(summarize(results))
    if args.mode == "planted" and args.family == "wfo":
        print(
            f"best combination's median stop distance inside the planted region in "
            f"{sum(r.in_region for r in results)} of {len(results)}"
        )


if __name__ == "__main__":
    main()
