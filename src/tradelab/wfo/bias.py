"""Look-ahead and warmup checks of the ATR-D kernels (the WFO adapter of
`tradelab.robustness.bias`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tradelab.robustness.bias import (
    BiasReport,
    Decisions,
    cut_points,
    lookahead_check,
    perturb_after,
    warmup_check,
)
from tradelab.search.grid import Grid
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import PreparedPhase, prepare_phase, trace_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.statistics import full_history_phase
from tradelab.wfo.strategy import StrategySpec

__all__ = ["wfo_bias_check"]


def _wfo_events(trades: Sequence[np.ndarray]) -> list[list[tuple[Any, ...]]]:
    out = []
    for rec in trades:
        events: list[tuple[Any, ...]] = []
        for tr in rec:
            events.append(
                (
                    int(tr["entry_bar"]),
                    "entry",
                    int(tr["direction"]),
                    float(tr["entry_price"]),
                    float(tr["shares"]),
                )
            )
            events.append(
                (
                    int(tr["exit_bar"]),
                    "exit",
                    float(tr["exit_price"]),
                    float(tr["pnl"]),
                    int(tr["reason"]),
                )
            )
        out.append(sorted(events, key=lambda e: (e[0], e[1])))
    return out


def _perturb_wfo(data: WfoData, t: int, rng: np.random.Generator) -> WfoData:
    close, open_, high, low = perturb_after(t, rng, data.close, data.open, data.high, data.low)
    close2 = None
    if data.close2 is not None:
        close2 = perturb_after(t, rng, data.close2)[0]
    return WfoData(
        data.timestamps,
        open_,
        high,
        low,
        close,
        close2=close2,
        symbol=data.symbol,
        symbol2=data.symbol2,
        bars_per_year=data.bars_per_year,
    )


def _wfo_series(prep: PreparedPhase) -> dict[str, np.ndarray]:
    atr, bbw, trd = prep.ind
    out = {"atr": atr, "bb_width": bbw}
    if prep.strategy.kind.value not in ("atr_d_l", "atr_d_duals_l"):
        out["trend"] = trd
    return out


def wfo_bias_check(
    data: WfoData,
    spec: StrategySpec,
    grid: Grid,
    phases: Sequence[Phase],
    *,
    target: str = "",
    n_combos: int = 16,
    n_cuts: int = 3,
    extra_bars: int = 500,
    tolerance: float = 0.05,
    seed: int = 0,
) -> BiasReport:
    """Run the look-ahead and warmup checks of an ATR-D variant on `data`.

    Look-ahead: `n_combos` combinations sampled from `grid` (seeded) over the full history (the
    first phase's IS start to the last bar), cut at `n_cuts` points. Warmup: for every phase,
    the indicators every combination reads (ATR, Bollinger width, trend) with the phase's
    warmup vs up to `extra_bars` more bars of history, on the traded bars.
    """
    if n_combos < 1:
        raise ValueError(f"n_combos must be >= 1, got {n_combos}")
    if extra_bars < 1:
        raise ValueError(f"extra_bars must be >= 1, got {extra_bars}")
    if not phases:
        raise ValueError("give at least one phase")
    rng = np.random.default_rng(seed)
    size = int(grid.size)
    combos = np.sort(rng.choice(size, min(n_combos, size), replace=False)).astype(np.int64)

    full = full_history_phase(phases, data.n_bars)

    def decide(d: Any) -> Decisions:
        trades, _ = trace_combos(d, spec, grid, full, combos, max_trades=max(2000, d.n_bars))
        return Decisions(_wfo_events(trades))

    cuts = cut_points(full.is_start, data.n_bars, n_cuts)
    lookahead = lookahead_check(decide, data, _perturb_wfo, cuts, name=spec.name, seed=seed)

    warmups = []
    for phase in phases:
        extra = min(extra_bars, phase.warmup_start)
        start = phase.is_start - 1  # the close whose orders the first traded bar fills

        def series_from(first_bar: int, phase: Any = phase) -> dict[str, np.ndarray]:
            p = Phase(phase.name, first_bar, phase.is_start, phase.oos_start, phase.oos_end)
            return _wfo_series(prepare_phase(data, spec, grid, p))

        def decisions_from(first_bar: int, phase: Any = phase) -> Decisions:
            p = Phase(phase.name, first_bar, phase.is_start, phase.oos_start, phase.oos_end)
            trades, _ = trace_combos(data, spec, grid, p, combos, max_trades=max(2000, data.n_bars))
            return Decisions(_wfo_events(trades))

        warmups.append(
            warmup_check(
                series_from,
                start,
                phase.n_warmup - 1,
                extra,
                tolerance=tolerance,
                name=f"{spec.name} {phase.name}",
                decisions_from=decisions_from,
            )
        )
    settings = {
        "n_combos": len(combos),
        "n_cuts": n_cuts,
        "extra_bars": extra_bars,
        "tolerance": tolerance,
        "seed": seed,
        "combos": [int(c) for c in combos],
    }
    return BiasReport(target or data.symbol, spec.name, (lookahead,), tuple(warmups), settings)
