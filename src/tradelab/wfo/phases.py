"""Walk-forward phases: overlapping IS/OOS windows placed relative to the end of the data.

A phase spec says how long its IS and OOS windows are (years) and how far before the last bar
its OOS window ends. Resolved against the timestamps it becomes bar indices: the warmup bars
just before IS (indicators only, no trading), IS, then OOS, simulated as one continuous run.
Years are calendar years of 365.25 days; each window holds the bars after its start time up to
and including its end time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradelab.errors import ConfigError, DataError

__all__ = [
    "DEFAULT_WARMUP_BARS",
    "Phase",
    "PhaseSpec",
    "phase_specs_from_config",
    "phases_from_config",
    "resolve_phases",
]

DEFAULT_WARMUP_BARS = 100
_NS_PER_YEAR = int(365.25 * 86400 * 1e9)


@dataclass(frozen=True)
class PhaseSpec:
    """IS/OOS lengths in years; `end_offset_years` between the OOS end and the last bar."""

    name: str
    is_years: float
    oos_years: float
    end_offset_years: float = 0.0

    def __post_init__(self) -> None:
        for field in ("is_years", "oos_years"):
            if not getattr(self, field) > 0:
                raise ConfigError(f"phases.{self.name}.{field}", "must be > 0")
        if not self.end_offset_years >= 0:
            raise ConfigError(f"phases.{self.name}.end_offset_years", "must be >= 0")


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


def phase_specs_from_config(spec: Mapping[str, Any]) -> tuple[list[PhaseSpec], int]:
    """Read `conf/phases/<name>.yaml` content: `(phase specs, warmup_bars)`."""
    warmup = int(spec.get("warmup_bars", DEFAULT_WARMUP_BARS))
    if warmup < 1:
        raise ConfigError("phases.warmup_bars", "must be >= 1")
    items = spec.get("phases")
    if not items:
        raise ConfigError("phases.phases", "give at least one phase")
    out = []
    for k, item in enumerate(items, start=1):
        name = str(item.get("name") or f"phase{k}")
        try:
            out.append(
                PhaseSpec(
                    name=name,
                    is_years=float(item["is_years"]),
                    oos_years=float(item["oos_years"]),
                    end_offset_years=float(item.get("end_offset_years", 0.0)),
                )
            )
        except KeyError as exc:
            raise ConfigError(f"phases.{name}.{exc.args[0]}", "is required") from None
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ConfigError("phases.phases", f"duplicate phase names {names}")
    return out, warmup


def resolve_phases(
    timestamps: np.ndarray, specs: Sequence[PhaseSpec], warmup_bars: int
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
                f"{years:.2f} years ({n} bars)",
                field="timestamps",
            )
        if not is_start < oos_start <= oos_end:
            raise DataError(f"{spec.name}: IS or OOS window holds no bar", field="timestamps")
        out.append(Phase(spec.name, is_start - warmup_bars, is_start, oos_start, oos_end))
    return out


def phases_from_config(spec: Mapping[str, Any], timestamps: np.ndarray) -> list[Phase]:
    """Parse a phases mapping and resolve it against `timestamps`."""
    specs, warmup = phase_specs_from_config(spec)
    return resolve_phases(timestamps, specs, warmup)
