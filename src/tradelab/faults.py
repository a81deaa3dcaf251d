"""Named fault points: crash a job at a chosen place to test what survives it.

`TRADELAB_FAULT=<point>[@<n>][:<mode>]` makes the `n`-th call (default the first) of
`fault("<point>")` in this process crash: `exit` (the default) ends the process at once with
status 137, as `kill -9` would (no `finally`, no atexit, no flush: open runs stay RUNNING, files
half-written stay half-written); `raise` raises `InjectedFault` (an exception the job's normal
error handling sees). Unset, a fault point costs one environment lookup.

Every point is declared in `POINTS` with what it interrupts; `tests/faults/` crashes a real run
at each one, reruns it and checks that nothing was lost or duplicated.
"""

from __future__ import annotations

import os
import threading

__all__ = ["ENV", "EXIT_STATUS", "POINTS", "InjectedFault", "declare", "fault"]

ENV = "TRADELAB_FAULT"
EXIT_STATUS = 137

POINTS: dict[str, str] = {}
"""Fault point -> what a crash there interrupts (filled by `declare` next to each use)."""

_hits: dict[str, int] = {}
_lock = threading.Lock()


class InjectedFault(RuntimeError):
    """The failure `TRADELAB_FAULT=<point>:raise` injects."""


def declare(point: str, description: str) -> str:
    """Register a fault point (once, at import of the module that uses it); return its name."""
    if point in POINTS and POINTS[point] != description:
        raise ValueError(f"fault point {point!r} declared twice with different descriptions")
    POINTS[point] = description
    return point


def _parse(spec: str) -> tuple[str, int, str]:
    name, _, mode = spec.partition(":")
    name, _, nth = name.partition("@")
    mode = mode or "exit"
    if mode not in ("exit", "raise"):
        raise ValueError(f"{ENV}={spec!r}: mode must be exit or raise")
    return name.strip(), int(nth) if nth else 1, mode


def fault(point: str) -> None:
    """Crash here when `TRADELAB_FAULT` names this point (module doc); otherwise do nothing."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    name, nth, mode = _parse(spec)
    if name != point:
        return
    if point not in POINTS:
        raise ValueError(f"fault point {point!r} is not declared in tradelab.faults.POINTS")
    with _lock:
        _hits[point] = _hits.get(point, 0) + 1
        hit = _hits[point]
    if hit != nth:
        return
    if mode == "raise":
        raise InjectedFault(f"injected fault at {point} (call {hit})")
    os._exit(EXIT_STATUS)
