"""Distinct out-of-sample round trips of one combination across overlapping phases.

The seed's four phases overlap: their OOS windows share years, so the same trade (same entry
bar, same direction) is an OOS trade of up to four phases. Summing the phases' `oos_trades`
counts it up to four times; a gate on the number of trades must count it once. A trade is
identified by its direction and entry bar (data bar index), so a trade still open at the end
of one phase and closed in a later one is the same trade. Counted like the kernels' `oos_trades`:
a trade is out-of-sample when it exits after the IS window (a trade straddling the boundary and
one still open at the phase's end included).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from tradelab.wfo.data import WfoData
from tradelab.wfo.phases import Phase
from tradelab.wfo.reference import ReferenceRun, simulate_reference
from tradelab.wfo.strategy import StrategySpec

__all__ = ["distinct_oos_trades", "oos_trade_keys"]


def oos_trade_keys(run: ReferenceRun, phase: Phase) -> set[tuple[int, int]]:
    """The (direction, entry bar) of every OOS trade of `run`, a simulation of `phase`."""
    closed = run.trades[run.trades["exit_bar"] >= phase.oos_start]
    keys = {(int(d), int(e)) for d, e in zip(closed["direction"], closed["entry_bar"])}
    if run.open_entry_bar is not None:
        keys.add((int(np.sign(run.position[-1])), int(run.open_entry_bar)))
    return keys


def distinct_oos_trades(
    data: WfoData, spec: StrategySpec, params: Mapping[str, float], phases: Iterable[Phase]
) -> int:
    """The number of distinct round trips `params` makes in the OOS windows of `phases`."""
    keys: set[tuple[int, int]] = set()
    for phase in phases:
        keys |= oos_trade_keys(simulate_reference(data, spec, params, phase), phase)
    return len(keys)
