"""What the market paid over the same windows: buy-and-hold and an exposure-matched benchmark.

A long-biased strategy on a rising index makes money with no skill at all; its OOS return
means something only beside the return of holding the traded symbol over the same bars.

- **Buy-and-hold**: `close[end] / close[start - 1] - 1`, the same window the strategy's
  equity curve covers (it starts at the close before the window's first bar).
- **Exposure-matched**: holding `e` times the symbol, rebalanced every bar, where `e` is the
  strategy's mean signed exposure (position value / equity, entering each bar) over the window:
  `prod(1 + e * r_t) - 1`. A strategy long half of the time is compared with half the market; a
  long/short one that is net flat with a market that did nothing. For a strategy always fully
  long, `e` is the position fraction (1: buy-and-hold).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tradelab.wfo.data import WfoData
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import ReferenceRun

__all__ = ["PhaseBenchmark", "buy_and_hold", "oos_benchmark"]


def buy_and_hold(data: WfoData, start: int, end: int) -> float:
    """The return of holding the traded symbol over bars `start..end` (inclusive)."""
    if not 0 < start <= end < data.close.shape[0]:
        raise ValueError(f"need 0 < start <= end < {data.close.shape[0]}, got {start}, {end}")
    return float(data.close[end] / data.close[start - 1] - 1.0)


@dataclass(frozen=True)
class PhaseBenchmark:
    """A combination's OOS return beside the benchmarks of the same window."""

    strategy_return: float
    buy_and_hold: float
    exposure: float  # mean signed exposure over the OOS bars
    matched: float  # return of holding `exposure` x the symbol, rebalanced every bar

    @property
    def excess(self) -> float:
        return self.strategy_return - self.buy_and_hold

    @property
    def matched_excess(self) -> float:
        return self.strategy_return - self.matched


def oos_benchmark(data: WfoData, run: ReferenceRun, phase: Phase) -> PhaseBenchmark:
    """Benchmarks of `phase`'s OOS window for `run` (a simulation of that phase)."""
    n_is, n = phase.n_is, phase.n_traded
    equity, held = run.equity, run.position
    if equity.shape[0] != n + 1 or held.shape[0] != n + 1:
        raise ValueError(f"run has {equity.shape[0] - 1} traded bars, phase {phase.name} {n}")
    before = data.close[phase.is_start - 1 + n_is : phase.oos_end]  # close entering each bar
    exposure = held[n_is:n] * before / equity[n_is:n]
    returns = data.close[phase.oos_start : phase.oos_end + 1] / before - 1.0
    mean_exposure = float(exposure.mean())
    return PhaseBenchmark(
        strategy_return=float(equity[-1] / equity[n_is] - 1.0),
        buy_and_hold=buy_and_hold(data, phase.oos_start, phase.oos_end),
        exposure=mean_exposure,
        matched=float(np.prod(1.0 + mean_exposure * returns) - 1.0),
    )
