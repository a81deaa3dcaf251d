"""The promotion rule: pure functions from candidate and champion metrics to a decision.

A candidate is promoted when it passes every gate and beats the champion on the family's
objective by the margin (`relative`: by margin x |champion|; `absolute`: by margin). A gate
whose metric the candidate did not log is skipped unless `require_overfitting_stats` asks
for PBO and deflated Sharpe. Every decision carries the checks behind it, stated in words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradelab.tracking.base import VALIDITY

__all__ = [
    "DEFAULT_METRIC_NAMES",
    "GATE_KEYS",
    "Candidate",
    "Champion",
    "Check",
    "Decision",
    "Gates",
    "Objective",
    "Verdict",
    "decide",
    "pick_best",
]


class Verdict(StrEnum):
    promote = "promote"
    refuse = "refuse"
    keep = "keep"  # the candidate already is the champion


@dataclass(frozen=True)
class Objective:
    """What "better" means: `metric` up (`maximize`) or down, ties broken by `then`."""

    metric: str
    maximize: bool = True
    then: tuple[tuple[str, bool], ...] = ()  # (metric, maximize) tie-breakers

    def sort_key(self, metrics: Mapping[str, float]) -> tuple[float, ...]:
        """Return a key that sorts the best first (NaN or missing last)."""
        key = []
        for name, up in ((self.metric, self.maximize), *self.then):
            value = metrics.get(name, math.nan)
            key.append(math.inf if math.isnan(value) else (-value if up else value))
        return tuple(key)


@dataclass(frozen=True)
class Gates:
    """Thresholds a candidate must pass; None disables a gate."""

    min_trades: float | None = None
    max_drawdown: float | None = None
    min_phases_valid: float | None = None
    max_pbo: float | None = None
    min_deflated_sharpe: float | None = None
    max_dm_pvalue: float | None = None  # forecasts: Diebold-Mariano p-value vs the random walk
    min_excess_return: float | None = None  # mean OOS return over the benchmark of each window
    min_sharpe_2x_costs: float | None = None  # WFO: mean OOS Sharpe with every cost doubled
    require_overfitting_stats: bool = False


@dataclass(frozen=True)
class Candidate:
    """A tracked configuration: its run, metrics, params, tags, and `context` (the resolved
    config and params of the job that produced it)."""

    run_id: str
    target: str
    metrics: Mapping[str, float]
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    context: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Champion:
    version: str
    source_run: str
    metrics: Mapping[str, float]
    data_hash: str | None = None  # the data its metrics were measured on


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    reason: str
    checks: tuple[Check, ...] = ()

    @property
    def promote(self) -> bool:
        return self.verdict is Verdict.promote


def pick_best(candidates: Sequence[Candidate], objective: Objective) -> Candidate | None:
    """Return the best candidate by the objective (None when there is none)."""
    usable = [c for c in candidates if not math.isnan(c.metrics.get(objective.metric, math.nan))]
    if not usable:
        return None
    return min(usable, key=lambda c: (objective.sort_key(c.metrics), c.run_id))


GATE_KEYS = (
    "trades",
    "drawdown",
    "phases_valid",
    "pbo",
    "deflated_sharpe",
    "dm_pvalue",
    "excess_return",
    "sharpe_2x_costs",
)
"""The keys a family's `metric_names` maps to its metric names (see `decide`)."""

DEFAULT_METRIC_NAMES = {"pbo": f"{VALIDITY}pbo", "deflated_sharpe": f"{VALIDITY}deflated_sharpe"}
"""The metric a gate key names when a family's `metric_names` does not map it (else the key):
the overfitting statistics every family logs under `validity/`."""


def _gate_checks(
    metrics: Mapping[str, float], gates: Gates, names: Mapping[str, str]
) -> list[Check]:
    specs = (
        ("min_trades", gates.min_trades, ">=", "trades"),
        ("max_drawdown", gates.max_drawdown, "<=", "drawdown"),
        ("min_phases_valid", gates.min_phases_valid, ">=", "phases_valid"),
        ("max_pbo", gates.max_pbo, "<=", "pbo"),
        ("min_deflated_sharpe", gates.min_deflated_sharpe, ">=", "deflated_sharpe"),
        ("max_dm_pvalue", gates.max_dm_pvalue, "<=", "dm_pvalue"),
        ("min_excess_return", gates.min_excess_return, ">=", "excess_return"),
        ("min_sharpe_2x_costs", gates.min_sharpe_2x_costs, ">=", "sharpe_2x_costs"),
    )
    checks = []
    for gate, threshold, op, key in specs:
        if threshold is None:
            continue
        metric = names.get(key, DEFAULT_METRIC_NAMES.get(key, key))
        value = metrics.get(metric, math.nan)
        if math.isnan(value):
            required = gates.require_overfitting_stats and key in ("pbo", "deflated_sharpe")
            checks.append(
                Check(
                    gate,
                    not required,
                    f"{metric} not logged: gate {'fails' if required else 'skipped'}",
                )
            )
            continue
        passed = value >= threshold if op == ">=" else value <= threshold
        detail = f"{metric} = {value:.4g} {'meets' if passed else 'fails'} {op} {threshold:g}"
        if key == "dm_pvalue" and not passed:
            detail += " (does not beat the random walk)"
        checks.append(Check(gate, passed, detail))
    return checks


def decide(
    candidate: Candidate | None,
    champion: Champion | None,
    objective: Objective,
    gates: Gates,
    *,
    margin: float = 0.0,
    relative: bool = True,
    metric_names: Mapping[str, str] | None = None,
) -> Decision:
    """Decide whether `candidate` replaces `champion`.

    `metric_names` maps the gate keys (`GATE_KEYS`) to the family's metric names.
    """
    if candidate is None:
        return Decision(Verdict.refuse, "no candidate with the objective metric logged")
    if champion is not None and champion.source_run == candidate.run_id:
        return Decision(
            Verdict.keep,
            f"run {candidate.run_id} is already the champion (version {champion.version})",
        )
    checks = _gate_checks(candidate.metrics, gates, metric_names or {})
    failed = [c for c in checks if not c.passed]
    if failed:
        return Decision(
            Verdict.refuse, "gate failed: " + "; ".join(c.detail for c in failed), tuple(checks)
        )
    value = candidate.metrics[objective.metric]
    if champion is None:
        checks.append(Check("beats_champion", True, "no champion yet"))
        return Decision(
            Verdict.promote, f"first champion: {objective.metric} = {value:.6g}", tuple(checks)
        )
    best = champion.metrics.get(objective.metric, math.nan)
    if math.isnan(best):
        checks.append(Check("beats_champion", True, f"champion has no {objective.metric}"))
        return Decision(
            Verdict.promote,
            f"champion has no {objective.metric}; candidate {value:.6g}",
            tuple(checks),
        )
    step = margin * abs(best) if relative else margin
    if objective.maximize:
        wins = value > best + step
        needed = f"> {best + step:.6g}: champion + margin {step:.3g}"
    else:
        wins = value < best - step
        needed = f"< {best - step:.6g}: champion - margin {step:.3g}"
    if not wins and value == best and objective.then:
        wins = (
            objective.sort_key(candidate.metrics) < objective.sort_key(champion.metrics)
            and step == 0
        )
    detail = f"{objective.metric} = {value:.6g} vs champion {best:.6g} (needs {needed})"
    checks.append(Check("beats_champion", wins, detail))
    if wins:
        return Decision(
            Verdict.promote,
            f"better than champion version {champion.version}: {detail}",
            tuple(checks),
        )
    return Decision(
        Verdict.refuse,
        f"not better than champion version {champion.version}: {detail}",
        tuple(checks),
    )
