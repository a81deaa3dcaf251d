"""Walk-forward phases: overlapping IS/OOS windows placed relative to the end of the data.

A phase spec says how long its IS and OOS windows are (years) and how far before the last bar
its OOS window ends. Resolved against the timestamps it becomes bar indices: the warmup bars
just before IS (indicators only, no trading), IS, then OOS, simulated as one continuous run.
Years are calendar years of 365.25 days; each window holds the bars after its start time up to
and including its end time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelab.errors import ConfigError, DataError
from tradelab.wfo.settings import PhaseConfig, PhasesConfig

__all__ = ["Phase", "phases_from_config", "resolve_phases"]

_NS_PER_YEAR = int(365.25 * 86400 * 1e9)


@dataclass(frozen=True)
class Phase:
    """One resolved phase, as inclusive bar indices into the data.

    Bars `warmup_start .. is_start - 1` only feed indicators; IS is `is_start .. oos_start - 1`,
    OOS is `oos_start .. oos_end`.
    """

    name: str
    warmup_start: int
    is_start: int
    oos_start: int
    oos_end: int

    def __post_init__(self) -> None:
        if not 0 <= self.warmup_start < self.is_start < self.oos_start <= self.oos_end:
            raise ConfigError(
                f"phases.{self.name}",
                "need 0 <= warmup_start < is_start < oos_start <= oos_end, got "
                f"{self.warmup_start}, {self.is_start}, {self.oos_start}, {self.oos_end}",
            )

    @property
    def n_warmup(self) -> int:
        return self.is_start - self.warmup_start

    @property
    def n_is(self) -> int:
        return self.oos_start - self.is_start

    @property
    def n_oos(self) -> int:
        return self.oos_end - self.oos_start + 1

    @property
    def n_bars(self) -> int:
        """Bars simulated, warmup included."""
        return self.oos_end - self.warmup_start + 1

    @property
    def n_traded(self) -> int:
        return self.n_is + self.n_oos

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "warmup_start": self.warmup_start,
            "is_start": self.is_start,
            "oos_start": self.oos_start,
            "oos_end": self.oos_end,
        }


def resolve_phases(
    timestamps: np.ndarray, specs: Sequence[PhaseConfig], warmup_bars: int
) -> list[Phase]:
    """Place each spec relative to the last timestamp; raise DataError if history is short."""
    ts = np.asarray(timestamps).astype("datetime64[ns]").view(np.int64)
    n = ts.shape[0]
    out = []
    for spec in specs:
        end_t = ts[-1] - int(spec.end_offset_years * _NS_PER_YEAR)
        oos_t = end_t - int(spec.oos_years * _NS_PER_YEAR)
        is_t = oos_t - int(spec.is_years * _NS_PER_YEAR)
        oos_end = int(np.searchsorted(ts, end_t, side="right")) - 1
        oos_start = int(np.searchsorted(ts, oos_t, side="right"))
        is_start = int(np.searchsorted(ts, is_t, side="right"))
        if is_t < ts[0] or is_start - warmup_bars < 0:
            years = (ts[-1] - ts[0]) / _NS_PER_YEAR
            raise DataError(
                f"{spec.name} needs {spec.is_years + spec.oos_years + spec.end_offset_years:g} "
                f"years plus {warmup_bars} warmup bars before its IS start; the data covers "
                f"{years:.2f} years ({n} bars): use a shorter layout (phases=compact needs "
                "7.5 years) or more history",
                field="timestamps",
            )
        if not is_start < oos_start <= oos_end:
            raise DataError(f"{spec.name}: IS or OOS window holds no bar", field="timestamps")
        out.append(Phase(spec.name, is_start - warmup_bars, is_start, oos_start, oos_end))
    return out


def phases_from_config(config: PhasesConfig, timestamps: np.ndarray) -> list[Phase]:
    """Resolve a phase layout against `timestamps`."""
    if not config.phases:
        raise ConfigError("phases.phases", "give at least one phase")
    return resolve_phases(timestamps, config.phases, config.warmup_bars)
