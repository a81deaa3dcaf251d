"""Bias checks of strategy kernels: look-ahead and warmup (recursion) sensitivity.

The checks take callables over the caller's data; each engine brings its adapter
(`tradelab.wfo.bias`, `tradelab.strategies.bias`).

Look-ahead: a decision taken at bar b may use bars up to b only. The check runs a strategy on
the data and on a copy whose bars from a cut t on are replaced by an unrelated path; every
decision stamped before t (entries, exits, fills) and every path value before t (equity,
portfolio value) must be identical, bit for bit.

Warmup: indicators after the warmup must not depend on how much history precedes it. The check
computes the series a kernel reads (ATR, Bollinger width, trend, residual z, hedge ratio,
spread z) once with the configured warmup and once with `extra` more bars of history, and
measures their difference on the traded bars. Windowed indicators (simple averages, rolling
z-scores) agree exactly once their window is full; recursions (EMA, Kalman filters) forget
their starting state geometrically, so they agree only within a tolerance: the largest
relative difference is reported and compared with it.

Notation:
    n_bars        bars of the checked data
    cuts          (n_cuts,) bars t: bars >= t are replaced in the perturbed copy
    events        per combination, tuples `(bar, kind, *values)` stamped with the bar they happen on
    paths         (n_combos, n_bars) per-bar values (equity); NaN where not defined
    series        {name: (n_bars,) or (n_bars, k)} indicator values a kernel reads
    start         first bar whose indicator values are compared (the first traded bar's signal)
    warmup        bars of history before `start` in the configured run
    extra         bars of history added before those in the reference run
    rel diff      max |a - b| / scale over the compared bars, scale = mean |b| of that column
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "BiasReport",
    "Decisions",
    "LookaheadReport",
    "SeriesDiff",
    "WarmupReport",
    "cut_points",
    "lookahead_check",
    "perturb_after",
    "series_diffs",
    "warmup_check",
]

_TINY = 1e-12
_MAX_EXAMPLES = 5


@dataclass(frozen=True)
class Decisions:
    """What a strategy did: `events` per combination and optional per-bar `paths`."""

    events: list[list[tuple[Any, ...]]]
    paths: np.ndarray | None = None


@dataclass(frozen=True)
class LookaheadReport:
    """Outcome of one look-ahead check: violations are (combination, cut) pairs that changed."""

    name: str
    cuts: tuple[int, ...]
    n_combos: int
    n_events: int  # events before the cuts that were compared, over all cuts
    violations: int
    examples: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.violations == 0

    @property
    def vacuous(self) -> bool:
        """True when nothing happened before any cut, so nothing was really compared."""
        return self.n_events == 0


@dataclass(frozen=True)
class SeriesDiff:
    """Largest difference of one indicator between the configured and the longer history."""

    name: str
    max_abs_diff: float
    max_rel_diff: float
    scale: float
    worst_bar: int  # bar (index into the data) of the largest relative difference; -1 if none
    n_bars: int  # bars compared


@dataclass(frozen=True)
class WarmupReport:
    """Outcome of one warmup check (`extra` = 0: no longer history was available)."""

    name: str
    start: int
    warmup: int
    extra: int
    tolerance: float
    series: tuple[SeriesDiff, ...]
    n_combos: int = 0
    decision_changes: int = 0  # combinations whose decisions differ (informational)

    @property
    def max_rel_diff(self) -> float:
        return max((s.max_rel_diff for s in self.series), default=0.0)

    @property
    def skipped(self) -> bool:
        return self.extra == 0 or not self.series

    @property
    def passed(self) -> bool:
        return self.skipped or self.max_rel_diff <= self.tolerance

    @property
    def worst(self) -> SeriesDiff | None:
        return max(self.series, key=lambda s: s.max_rel_diff, default=None)


@dataclass(frozen=True)
class BiasReport:
    """Every check run for one strategy on one data set, with metrics and a JSON form."""

    target: str
    strategy: str
    lookahead: tuple[LookaheadReport, ...] = ()
    warmup: tuple[WarmupReport, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.lookahead) and all(r.passed for r in self.warmup)

    @property
    def n_failed(self) -> int:
        return sum(not r.passed for r in (*self.lookahead, *self.warmup))

    def metrics(self) -> dict[str, float]:
        """Return the numbers under stable metric names (`lookahead_violations`, ...)."""
        ran = [w for w in self.warmup if not w.skipped]
        return {
            "lookahead_violations": float(sum(r.violations for r in self.lookahead)),
            "lookahead_checks": float(sum(r.n_combos * len(r.cuts) for r in self.lookahead)),
            "lookahead_events": float(sum(r.n_events for r in self.lookahead)),
            "warmup_max_rel_diff": max((w.max_rel_diff for w in ran), default=math.nan),
            "warmup_tolerance": max((w.tolerance for w in self.warmup), default=math.nan),
            "warmup_checks": float(len(ran)),
            "warmup_decision_changes": float(sum(w.decision_changes for w in ran)),
            "bias_checks_failed": float(self.n_failed),
            "bias_passed": float(self.passed),
        }

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form (NaN and infinities become None)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and not math.isfinite(value):
                return None
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [clean(v) for v in value]
            return value

        return clean(
            {
                "target": self.target,
                "strategy": self.strategy,
                "passed": self.passed,
                "settings": dict(self.settings),
                "metrics": self.metrics(),
                "lookahead": [
                    {**asdict(r), "passed": r.passed, "vacuous": r.vacuous} for r in self.lookahead
                ],
                "warmup": [
                    {
                        **asdict(w),
                        "max_rel_diff": w.max_rel_diff,
                        "passed": w.passed,
                        "skipped": w.skipped,
                    }
                    for w in self.warmup
                ],
            }
        )

    def rows(self) -> list[tuple[str, str, str, str]]:
        """Return (check, subject, result, detail) rows for a pass/fail table."""
        out = []
        for r in self.lookahead:
            verdict = "FAIL" if not r.passed else "PASS (vacuous)" if r.vacuous else "PASS"
            detail = (
                f"{r.violations} of {r.n_combos * len(r.cuts)} (combination, cut) pairs changed "
                f"earlier decisions; {r.n_events} events compared at cuts {list(r.cuts)}"
            )
            if r.examples:
                detail += f"; e.g. {r.examples[0]}"
            out.append(("look-ahead", r.name, verdict, detail))
        for w in self.warmup:
            if w.skipped:
                out.append(("warmup", w.name, "SKIP", "no history before the warmup to compare"))
                continue
            worst = w.worst
            assert worst is not None
            detail = (
                f"max rel diff {w.max_rel_diff:.3g} (tolerance {w.tolerance:g}) in {worst.name} "
                f"at bar {worst.worst_bar}; {w.warmup} vs {w.warmup + w.extra} bars of history "
                f"before bar {w.start}"
            )
            if w.n_combos:
                detail += f"; {w.decision_changes} of {w.n_combos} combinations decide differently"
            out.append(("warmup", w.name, "PASS" if w.passed else "FAIL", detail))
        return out


# -- generic checks ------------------------------------------------------------------------


def cut_points(first: int, n_bars: int, n_cuts: int) -> list[int]:
    """Return `n_cuts` distinct cuts spread evenly over (first, n_bars - 1]."""
    if n_cuts < 1:
        raise ValueError(f"n_cuts must be >= 1, got {n_cuts}")
    if not 0 <= first < n_bars - 1:
        raise ValueError(f"need 0 <= first < n_bars - 1, got first={first}, n_bars={n_bars}")
    cuts = np.linspace(first, n_bars - 1, n_cuts + 2)[1:-1]
    return sorted({round(float(c)) for c in cuts if first < round(float(c)) < n_bars})


def perturb_after(
    t: int,
    rng: np.random.Generator,
    close: np.ndarray,
    open_: np.ndarray | None = None,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
) -> tuple[np.ndarray, ...]:
    """Replace bars >= t by an unrelated random path continuing from close[t - 1].

    Returns new `(close, open, high, low)` (the last three None when not given); the new path's
    volatility is twice the data's, so it certainly differs, and high/low bracket open/close.
    """
    close = np.asarray(close, dtype=np.float64)
    n = close.shape[0]
    if not 1 <= t < n:
        raise ValueError(f"cut t must be in [1, {n}), got {t}")
    logret = np.diff(np.log(close))
    vol = 2.0 * max(float(np.std(logret)) if logret.size > 1 else 0.0, 1e-3)
    steps = rng.normal(0.0, vol, n - t)
    new_close = close.copy()
    new_close[t:] = close[t - 1] * np.exp(np.cumsum(steps))
    out: list[np.ndarray | None] = [new_close, None, None, None]
    if open_ is not None:
        prev = np.concatenate([[close[t - 1]], new_close[t:-1]])
        new_open = np.asarray(open_, dtype=np.float64).copy()
        new_open[t:] = prev * np.exp(rng.normal(0.0, vol / 4, n - t))
        out[1] = new_open
        if high is not None and low is not None:
            body_hi = np.maximum(new_open[t:], new_close[t:])
            body_lo = np.minimum(new_open[t:], new_close[t:])
            new_high = np.asarray(high, dtype=np.float64).copy()
            new_low = np.asarray(low, dtype=np.float64).copy()
            new_high[t:] = body_hi * np.exp(np.abs(rng.normal(0.0, vol / 2, n - t)))
            new_low[t:] = body_lo * np.exp(-np.abs(rng.normal(0.0, vol / 2, n - t)))
            out[2], out[3] = new_high, new_low
    return tuple(out)  # type: ignore[return-value]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.array_equal(a, b, equal_nan=True))


def lookahead_check(
    decide: Callable[[Any], Decisions],
    data: Any,
    perturb: Callable[[Any, int, np.random.Generator], Any],
    cuts: Sequence[int],
    *,
    name: str = "",
    seed: int = 0,
) -> LookaheadReport:
    """Check that `decide(data)` takes the same decisions before each cut on perturbed data.

    `perturb(data, t, rng)` returns a copy whose bars >= t differ; `decide` returns one event
    list per combination (and optional per-bar paths), in the same combination order each call.
    """
    if not cuts:
        raise ValueError("give at least one cut")
    base = decide(data)
    rng = np.random.default_rng(seed)
    violations, n_events = 0, 0
    examples: list[str] = []
    for t in cuts:
        other = decide(perturb(data, int(t), rng))
        if len(other.events) != len(base.events):
            raise ValueError("decide returned a different number of combinations")
        for i, (ev_a, ev_b) in enumerate(zip(base.events, other.events)):
            before_a = [e for e in ev_a if e[0] < t]
            before_b = [e for e in ev_b if e[0] < t]
            n_events += len(before_a)
            changed = before_a != before_b
            if not changed and base.paths is not None and other.paths is not None:
                changed = not _same(base.paths[i, :t], other.paths[i, :t])
            if changed:
                violations += 1
                if len(examples) < _MAX_EXAMPLES:
                    examples.append(_describe(i, int(t), before_a, before_b))
    return LookaheadReport(
        name, tuple(int(c) for c in cuts), len(base.events), n_events, violations, tuple(examples)
    )


def _describe(i: int, t: int, a: list[tuple[Any, ...]], b: list[tuple[Any, ...]]) -> str:
    for ea, eb in zip(a, b):
        if ea != eb:
            return f"combination {i}, cut {t}: {ea} became {eb}"
    if len(a) != len(b):
        return f"combination {i}, cut {t}: {len(a)} events before the cut became {len(b)}"
    return f"combination {i}, cut {t}: the per-bar path before the cut changed"


def series_diffs(
    reference: Mapping[str, np.ndarray], candidate: Mapping[str, np.ndarray], *, offset: int = 0
) -> tuple[SeriesDiff, ...]:
    """Compare aligned series (rows are bars; `offset` = data bar of row 0), column by column.

    The relative difference divides by the column's mean |reference| over the compared bars;
    a NaN on one side only counts as an infinite difference.
    """
    out = []
    for key, ref in reference.items():
        a = np.asarray(candidate[key], dtype=np.float64)
        b = np.asarray(ref, dtype=np.float64)
        if a.shape != b.shape:
            raise ValueError(f"series {key!r}: shapes differ ({a.shape} vs {b.shape})")
        a2 = a.reshape(a.shape[0], -1)
        b2 = b.reshape(b.shape[0], -1)
        for col in range(b2.shape[1]):
            label = key if b2.shape[1] == 1 else f"{key}[{col}]"
            out.append(_diff(label, a2[:, col], b2[:, col], offset))
    return tuple(out)


def _diff(name: str, a: np.ndarray, b: np.ndarray, offset: int) -> SeriesDiff:
    n = a.shape[0]
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    one_sided = nan_a != nan_b
    both = ~nan_a & ~nan_b
    if not both.any() and not one_sided.any():
        return SeriesDiff(name, 0.0, 0.0, math.nan, -1, n)
    scale = float(np.mean(np.abs(b[both]))) if both.any() else math.nan
    denom = max(scale, _TINY) if math.isfinite(scale) else 1.0
    diff = np.zeros(n)
    diff[both] = np.abs(a[both] - b[both])
    diff[one_sided] = np.inf
    k = int(np.argmax(diff))
    return SeriesDiff(name, float(diff[k]), float(diff[k] / denom), scale, offset + k, n)


def warmup_check(
    series_from: Callable[[int], Mapping[str, np.ndarray]],
    start: int,
    warmup: int,
    extra: int,
    *,
    tolerance: float,
    name: str = "",
    decisions_from: Callable[[int], Decisions] | None = None,
) -> WarmupReport:
    """Compare indicator series computed from bar `start - warmup` and `start - warmup - extra`.

    `series_from(first)` returns the series computed on the data from bar `first` on, one row
    per bar from `first`; rows from `start` on are compared. `decisions_from(first)`, when
    given, counts combinations whose events from `start` on differ (informational).
    """
    if warmup < 0 or extra < 0 or start - warmup - extra < 0:
        raise ValueError(
            f"need 0 <= start - warmup - extra; got start={start}, warmup={warmup}, extra={extra}"
        )
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    if extra == 0:
        return WarmupReport(name, start, warmup, 0, tolerance, ())
    short_first, long_first = start - warmup, start - warmup - extra
    short = series_from(short_first)
    long = series_from(long_first)
    reference = {k: np.asarray(v)[start - long_first :] for k, v in long.items()}
    candidate = {k: np.asarray(short[k])[start - short_first :] for k in long}
    diffs = series_diffs(reference, candidate, offset=start)
    changes, n_combos = 0, 0
    if decisions_from is not None:
        a, b = decisions_from(short_first), decisions_from(long_first)
        n_combos = len(a.events)
        for ev_a, ev_b in zip(a.events, b.events):
            changes += [e for e in ev_a if e[0] >= start] != [e for e in ev_b if e[0] >= start]
    return WarmupReport(name, start, warmup, extra, tolerance, diffs, n_combos, changes)
