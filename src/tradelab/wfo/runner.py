"""The WFO entry point: every combination of a grid over every phase, chunked and cached.

Memory is bounded whatever the grid size: indicators of one phase, one batch of results
(`batch_size x (18 + 2 S) x 8` bytes, 38 MB by default), and the per-metric result files, which
are memory maps when `cache_dir` is given (pages the OS writes back); without `cache_dir` the
results live in memory (`n_combos x 18 x 8` bytes per phase).
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradelab import faults
from tradelab.data.symbols import check_name, validate_symbol
from tradelab.errors import ConfigError
from tradelab.kernels.enums import METRIC_NAMES, N_METRICS
from tradelab.progress import ProgressDisplay
from tradelab.search.grid import Grid
from tradelab.wfo.cache import (
    FORMAT,
    MANIFEST,
    PhaseCache,
    code_version,
    differences,
    load_phase_dir,
    read_manifest,
    remove_phase_dir,
)
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import PreparedPhase, prepare_phase, run_prepared
from tradelab.wfo.executor import CHUNK_DONE, DaskExecutor
from tradelab.wfo.phase_metrics import PhaseMetrics, Resimulator, storage_dtypes
from tradelab.wfo.phases import Phase
from tradelab.wfo.strategy import StrategySpec

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "PhaseResult",
    "WfoResult",
    "adopt_phase_dirs",
    "load_cached_phases",
    "run_wfo",
    "summarize_phase",
    "wfo_cache_dir",
]

DEFAULT_CHUNK_SIZE = 10_000_000
DEFAULT_BATCH_SIZE = 262_144

PHASE_DONE = faults.declare(
    "wfo.phase", "a WFO sweep after its k-th phase is cached and logged, before the next (@k)"
)


def wfo_cache_dir(results_root: str | Path, symbol: str, strategy: str, sweep: str) -> Path:
    """Return `<results_root>/<SYMBOL>/wfo/<strategy>/<sweep>` (each name checked).

    `sweep` names the grid and the phase layout (`<grid>-<phases>`), so sweeps of other grids
    or layouts on the same symbol keep their own folders.
    """
    validate_symbol(symbol)
    if not re.match(r"^[a-z0-9_]+$", strategy):
        raise ConfigError("strategy.name", f"{strategy!r} cannot name a folder (use a-z, 0-9, _)")
    try:
        check_name(sweep, "sweep")
    except ValueError as exc:
        raise ConfigError("grid.name", str(exc)) from None
    return Path(results_root) / symbol / "wfo" / strategy / sweep


@dataclass(eq=False)
class PhaseResult:
    """Per-combination metrics of one phase (`metric -> (n_combos,)`: a `PhaseMetrics`, whose
    metrics not stored are re-simulated for the rows indexed) and how fast they came."""

    phase: Phase
    metrics: PhaseMetrics
    block_ret_sum: np.ndarray | None = None
    block_ret_sq: np.ndarray | None = None
    block_n: np.ndarray | None = None
    n_evaluated: int = 0  # combinations simulated in this run (0 when fully cached)
    wall_s: float = 0.0
    cached: bool = False
    directory: Path | None = None

    @property
    def combos_per_s(self) -> float:
        return self.n_evaluated / self.wall_s if self.n_evaluated and self.wall_s > 0 else 0.0

    @property
    def bar_evals_per_s(self) -> float:
        return self.combos_per_s * self.phase.n_traded


@dataclass(eq=False)
class WfoResult:
    """All phases of one (data, strategy, grid) sweep plus throughput."""

    strategy: StrategySpec
    grid: Grid
    phases: list[PhaseResult] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def n_evaluated(self) -> int:
        return sum(p.n_evaluated for p in self.phases)

    @property
    def combos_per_s(self) -> float:
        busy = sum(p.wall_s for p in self.phases if p.n_evaluated)
        return self.n_evaluated / busy if busy > 0 else 0.0

    @property
    def bar_evals_per_s(self) -> float:
        busy = sum(p.wall_s for p in self.phases if p.n_evaluated)
        bars = sum(p.n_evaluated * p.phase.n_traded for p in self.phases)
        return bars / busy if busy > 0 else 0.0

    def metrics(self, phase: int | str) -> Mapping[str, Any]:
        """Return `metric -> array` of a phase, by position or by name."""
        if isinstance(phase, str):
            for p in self.phases:
                if p.phase.name == phase:
                    return p.metrics
            raise KeyError(f"no phase named {phase!r}")
        return self.phases[phase].metrics

    def frame(self, phase: int | str, combos: np.ndarray | None = None) -> Any:
        """Return a pandas DataFrame: combo, decoded parameters, metrics (rows `combos`)."""
        import pandas as pd

        metrics = self.metrics(phase)
        idx = (
            np.arange(self.grid.size, dtype=np.int64)
            if combos is None
            else np.asarray(combos, np.int64)
        )
        cols: dict[str, Any] = {"combo": idx}
        cols.update(self.grid.decode(idx))
        cols.update({name: np.asarray(metrics[name][idx]) for name in METRIC_NAMES})
        return pd.DataFrame(cols)


SUMMARY_CHUNK = 1 << 22
TIMINGS = ("combos_per_s", "bar_evals_per_s", "wall_s")
"""The keys of `summarize_phase` that time the run rather than describe its results."""


def summarize_phase(result: PhaseResult) -> dict[str, float]:
    """Return the few numbers worth logging per phase (for a tracker child run)."""
    m = result.metrics
    n = len(m["is_pnl"])
    counts, best = np.zeros(3, dtype=np.int64), -np.inf
    for s0 in range(0, n, SUMMARY_CHUNK):  # chunk by chunk: memory does not grow with n
        is_up = np.asarray(m["is_pnl"][s0 : s0 + SUMMARY_CHUNK]) > 0
        oos = np.asarray(m["oos_pnl"][s0 : s0 + SUMMARY_CHUNK])
        oos_up = oos > 0
        counts += (int(is_up.sum()), int(oos_up.sum()), int((is_up & oos_up).sum()))
        best = float(np.maximum(best, oos.max()))  # NaN propagates, as a whole-array max
    share = counts / n if n else np.zeros(3)
    return {
        "combinations": float(n),
        "share_profitable_is": float(share[0]),
        "share_profitable_oos": float(share[1]),
        "share_profitable_both": float(share[2]),
        "best_oos_pnl": best if n else float("nan"),
        "combos_per_s": result.combos_per_s,
        "bar_evals_per_s": result.bar_evals_per_s,
        "wall_s": result.wall_s,
    }


def run_wfo(
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phases: Sequence[Phase],
    *,
    cache_dir: str | Path | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    n_blocks: int = 0,
    progress: bool = True,
    on_phase: Callable[[int, PhaseResult], Any] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    display: ProgressDisplay | None = None,
    on_advance: Callable[[int], Any] | None = None,
    executor: DaskExecutor | None = None,
    stored_metrics: Sequence[str] = METRIC_NAMES,
) -> WfoResult:
    """Evaluate every combination of `grid` in every phase; return per-phase metric arrays.

    `cache_dir` (e.g. `wfo_cache_dir(results_root, symbol, strategy.name, "phase1_slim-default")`)
    keeps each phase in `phase<k>/` and resumes at the first chunk not done; a changed grid,
    data, strategy, phase or code version starts that phase over, and phase folders beyond
    `len(phases)` (an earlier layout of the folder) are removed. `n_blocks` > 0 also emits
    per-combination block sums of per-bar returns over the traded bars (IS and OOS) cut into
    `n_blocks` equal blocks.
    `on_phase(k, result)` is called after each phase (k from 1). A caller with several sweeps
    passes its own `display` (one bar per phase is added to it) and `on_advance(combinations)`
    to move its overall bar (cached combinations count as done). `executor` (an open
    `DaskExecutor`) runs the chunks on a Dask cluster instead of this process: same cache,
    same numbers (`tradelab.wfo.executor`). `stored_metrics`: the metrics the cache (or memory)
    keeps for every combination; the others are re-simulated for the rows a caller indexes
    (`tradelab.wfo.phase_metrics`), e.g. `SCORING_METRICS` for grids too large to keep all.
    """
    if chunk_size < 1:
        raise ConfigError("chunk_size", "must be >= 1")
    if batch_size < 1:
        raise ConfigError("batch_size", "must be >= 1")
    if not phases:
        raise ConfigError("phases", "give at least one phase")
    t_start = time.perf_counter()
    result = WfoResult(strategy=strategy, grid=grid)
    version = code_version() if cache_dir is not None else ""
    stored = tuple(name for name in METRIC_NAMES if name in set(stored_metrics))
    dtypes = storage_dtypes(stored)
    source = Resimulator(bars, strategy, grid, phases)
    shown = ProgressDisplay(progress, unit="combos") if display is None else None
    advance = on_advance or (lambda m: None)
    with shown or contextlib.nullcontext(display) as bar:
        for k, phase in enumerate(phases, start=1):
            t0 = time.perf_counter()
            prep = prepare_phase(bars, strategy, grid, phase, n_blocks=n_blocks)
            if cache_dir is None:
                dest: PhaseCache | _InMemory = _InMemory(
                    grid.size, int(chunk_size), n_blocks, dtypes
                )
            else:
                key = _cache_key(bars, strategy, grid, phase, version, n_blocks)
                about = _cache_settings(bars, strategy, grid, phase, version, n_blocks)
                folder = Path(cache_dir) / f"phase{k}"
                dest = PhaseCache(
                    folder,
                    key,
                    grid.size,
                    int(chunk_size),
                    stored,
                    int(n_blocks),
                    settings=about,
                    dtypes=dict(dtypes),
                ).open()
            cached = min(dest.chunks_done * dest.chunk_size, grid.size)
            task = bar.task(f"{strategy.name} {phase.name} ({k}/{len(phases)})", grid.size, cached)
            advance(cached)

            def moved(m: int, rate: str, t: Any = task) -> None:
                bar.update(t, advance=m, note=rate)
                advance(m)

            if executor is None:
                n_eval = _evaluate_chunks(prep, dest, batch_size, moved)
            else:
                n_eval = executor.evaluate_chunks(prep, dest, batch_size, moved)
            stored_k = _finish(prep, dest)
            pr = PhaseResult(
                phase=phase,
                metrics=PhaseMetrics(stored_k, grid.size, k - 1, source),
                block_ret_sum=dest.arrays.get("block_ret_sum"),
                block_ret_sq=dest.arrays.get("block_ret_sq"),
                block_n=prep.block_n if prep.n_blocks else None,
                n_evaluated=n_eval,
                wall_s=time.perf_counter() - t0,
                cached=n_eval == 0,
                directory=getattr(dest, "directory", None),
            )
            result.phases.append(pr)
            if on_phase is not None:
                on_phase(k, pr)
            faults.fault(PHASE_DONE)
    if cache_dir is not None:
        k = len(phases) + 1
        while (Path(cache_dir) / f"phase{k}").is_dir():
            remove_phase_dir(Path(cache_dir) / f"phase{k}")
            k += 1
    result.wall_s = time.perf_counter() - t_start
    return result


def _finish(prep: PreparedPhase, dest: PhaseCache | _InMemory) -> dict[str, np.ndarray]:
    """Finish `dest` (when its last chunk was just done); return its metric arrays."""
    if not dest.complete:
        dest.finish(prep.block_n if prep.n_blocks else None)
    return {name: dest.arrays[name] for name in METRIC_NAMES if name in dest.arrays}


def _cache_key(
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phase: Phase,
    version: str,
    n_blocks: int,
) -> dict[str, Any]:
    """What a phase's cached results depend on: a change to any of it starts the phase over."""
    return {
        "grid": grid.fingerprint(),
        "data": bars.data_hash(),
        "strategy": strategy.fingerprint(),
        "phase": phase.as_dict(),
        "code": version,
        "n_blocks": int(n_blocks),
    }


def _day(timestamps: np.ndarray, i: int) -> str:
    return str(np.datetime_as_string(timestamps[i].astype("datetime64[ns]"), unit="D"))


def _cache_settings(
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phase: Phase,
    version: str,
    n_blocks: int,
) -> dict[str, Any]:
    """The inputs of `_cache_key` in readable form, keyed like the config (for messages)."""
    ts = bars.timestamps
    about = {
        "phase": {
            "name": phase.name,
            "warmup_bars": phase.n_warmup,
            "is": f"{_day(ts, phase.is_start)}..{_day(ts, phase.oos_start - 1)}",
            "oos": f"{_day(ts, phase.oos_start)}..{_day(ts, phase.oos_end)}",
        },
        "grid": {"params": dict(zip(grid.names, grid.levels))},
        "strategy": {
            "kind": strategy.kind.value,
            "commission": strategy.commission,
            "slippage": strategy.slippage,
            "commission_bps": strategy.commission_bps,
            "slippage_bps": strategy.slippage_bps,
            "position_fraction": strategy.position_fraction,
            "initial_capital": strategy.initial_capital,
            "params": {p.name: {"default": p.default} for p in strategy.params},
        },
        "data": {
            "symbol": bars.symbol,
            "symbol2": bars.symbol2,
            "bars": bars.n_bars,
            "first": _day(ts, 0),
            "last": _day(ts, bars.n_bars - 1),
            "hash": bars.data_hash(),
        },
        "code": version,
        "n_blocks": int(n_blocks),
    }
    return json.loads(json.dumps(about))  # the types a manifest reads back


class _InMemory:
    """Result arrays of a phase kept in memory (no cache): the part of `PhaseCache` the
    runner uses."""

    def __init__(
        self, n: int, chunk_size: int, n_blocks: int, dtypes: Mapping[str, np.dtype]
    ) -> None:
        self.arrays: dict[str, np.ndarray] = {
            name: np.empty(n, dtype=dtype) for name, dtype in dtypes.items()
        }
        if n_blocks:
            self.arrays["block_ret_sum"] = np.empty((n, n_blocks))
            self.arrays["block_ret_sq"] = np.empty((n, n_blocks))
        self.n_combos = n
        self.chunk_size = chunk_size
        self.n_chunks = max(1, -(-n // chunk_size))
        self.chunks_done = 0
        self.complete = False

    def commit(self, chunks_done: int) -> None:
        self.chunks_done = chunks_done

    def finish(self, block_n: np.ndarray | None) -> None:
        self.complete = True


def _evaluate_chunks(
    prep: PreparedPhase,
    dest: PhaseCache | _InMemory,
    batch_size: int,
    advance: Callable[[int, str], Any],
) -> int:
    """Run the chunks `dest` has not done, in kernel batches; commit each chunk; return the
    number of combinations evaluated."""
    n, chunk = dest.n_combos, dest.chunk_size
    start = min(dest.chunks_done * chunk, n)
    if start >= n:
        return 0
    n_blocks = prep.n_blocks
    b = min(int(batch_size), n)
    out_buf = np.empty(N_METRICS * b)
    bsum = np.empty((b, n_blocks))
    bsq = np.empty((b, n_blocks))
    arrays = dest.arrays
    kept = [(i, name) for i, name in enumerate(METRIC_NAMES) if name in arrays]
    n_eval = 0
    t_busy = time.perf_counter()
    for c in range(dest.chunks_done, dest.n_chunks):
        c0, c1 = c * chunk, min((c + 1) * chunk, n)
        for s0 in range(c0, c1, b):
            s1 = min(s0 + b, c1)
            m = s1 - s0
            out = out_buf[: N_METRICS * m].reshape(N_METRICS, m)  # C-contiguous
            run_prepared(prep, np.arange(s0, s1, dtype=np.int64), out, bsum[:m], bsq[:m])
            for i, name in kept:
                arrays[name][s0:s1] = out[i]
            if n_blocks:
                arrays["block_ret_sum"][s0:s1] = bsum[:m]
                arrays["block_ret_sq"][s0:s1] = bsq[:m]
            n_eval += m
            rate = n_eval / max(time.perf_counter() - t_busy, 1e-9)
            advance(m, f"{rate:,.0f}/s")
        dest.commit(c + 1)
        faults.fault(CHUNK_DONE)
    return n_eval


def adopt_phase_dirs(
    source: str | Path,
    cache_dir: str | Path,
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phases: Sequence[Phase],
    *,
    n_blocks: int = 0,
) -> int:
    """Move `source/phase<k>` folders built from exactly this sweep's inputs into `cache_dir`.

    For caches written before each sweep had its own folder (`<strategy>/phase<k>`): a folder
    whose manifest key matches moves when `cache_dir` has no such phase yet; others stay.
    Return the number of folders moved.
    """
    version = code_version()
    moved = 0
    for k, phase in enumerate(phases, start=1):
        old, new = Path(source) / f"phase{k}", Path(cache_dir) / f"phase{k}"
        manifest = read_manifest(old)
        if manifest is None or new.exists():
            continue
        if manifest.get("key") == _cache_key(bars, strategy, grid, phase, version, n_blocks):
            new.parent.mkdir(parents=True, exist_ok=True)
            old.replace(new)
            moved += 1
    return moved


def load_cached_phases(
    cache_dir: str | Path,
    bars: WfoData,
    strategy: StrategySpec,
    grid: Grid,
    phases: Sequence[Phase],
    *,
    n_blocks: int = 0,
) -> list[PhaseMetrics]:
    """Per-phase arrays of a finished sweep built from exactly these inputs (the metrics the
    cache does not store are re-simulated for the rows indexed, see `PhaseMetrics`).

    Grid, data, strategy parameters and costs, phases, code version and block count must be
    those of the cache; otherwise raise ConfigError naming each difference, so scores are
    never computed from results of other settings.
    """
    cache_dir = Path(cache_dir)
    cached = _cached_manifests(cache_dir)
    if not cached:
        raise ConfigError("rescore", _no_cache_message(cache_dir))
    version = code_version()
    keys = [_cache_key(bars, strategy, grid, p, version, n_blocks) for p in phases]
    wanted = [_cache_settings(bars, strategy, grid, p, version, n_blocks) for p in phases]
    found = _identity_differences(cached, keys, wanted)
    if found:
        raise ConfigError(found[0][0], _refusal(cache_dir, found))
    for k in range(1, len(phases) + 1):
        manifest = cached[k - 1] if k <= len(cached) else {}
        if not manifest.get("complete"):
            done, total = manifest.get("chunks_done", 0), manifest.get("n_chunks", "?")
            raise ConfigError(
                "rescore",
                f"the cache in {cache_dir} is incomplete (phase{k}: {done}/{total} chunks): "
                "run without rescore=true to finish the sweep",
            )
    source = Resimulator(bars, strategy, grid, phases)
    return [
        PhaseMetrics(load_phase_dir(cache_dir / f"phase{k}"), grid.size, k - 1, source)
        for k in range(1, len(phases) + 1)
    ]


def _cached_manifests(cache_dir: Path) -> list[dict[str, Any]]:
    """Manifests of `phase1`, `phase2`, ... up to the first folder without one."""
    out = []
    while (manifest := read_manifest(cache_dir / f"phase{len(out) + 1}")) is not None:
        out.append(manifest)
    return out


def _no_cache_message(cache_dir: Path) -> str:
    others = sorted(
        p.parent.parent.name
        for p in cache_dir.parent.glob(f"*/phase1/{MANIFEST}")
        if p.parent.parent != cache_dir
    )
    beside = f" (cached beside it: {', '.join(others)})" if others else ""
    return (
        f"no cached results in {cache_dir}{beside}: run without rescore=true first, or choose "
        "the grid and phases the cache was built with"
    )


def _describe_phase(manifest: Mapping[str, Any]) -> str:
    about = manifest.get("settings", {}).get("phase")
    if about:
        warmup = f"{about['warmup_bars']} warmup bars"
        return f"{about['name']} IS {about['is']} OOS {about['oos']} ({warmup})"
    p = manifest.get("key", {}).get("phase", {})
    bars = "/".join(str(p.get(k)) for k in ("warmup_start", "is_start", "oos_start", "oos_end"))
    return f"{p.get('name')} bars {bars}"


def _identity_differences(
    cached: list[dict[str, Any]], keys: list[dict[str, Any]], wanted: list[dict[str, Any]]
) -> list[tuple[str, Any, Any]]:
    """What differs between the cache and this run: one `phases` item for the layout, then
    each other differing setting once (dotted config keys)."""
    found: dict[str, tuple[Any, Any]] = {}
    # fewer phases than asked: a sweep of a shorter layout when all are finished, else unfinished
    finished = all(m.get("complete") for m in cached)
    layout = len(cached) > len(keys) or (len(cached) < len(keys) and finished)
    for manifest, key, want in zip(cached, keys, wanted):
        if manifest.get("key") == key and manifest.get("format") == FORMAT:
            continue
        if manifest.get("format") != FORMAT:
            found.setdefault("cache format", (manifest.get("format"), FORMAT))
        have = manifest.get("settings")
        diffs = differences(have, want) if have else differences(manifest.get("key"), key)
        for name, a, b in diffs or differences(manifest.get("key"), key):
            if name.split(".")[0] == "phase":
                layout = True
            else:
                found.setdefault(name, (a, b))
    out = [(name, a, b) for name, (a, b) in found.items()]
    if layout:
        new = [{"settings": {"phase": w["phase"]}} for w in wanted]
        describe = [", ".join(_describe_phase(m) for m in ms) for ms in (cached, new)]
        out.insert(0, ("phases", f"[{describe[0]}]", f"[{describe[1]}]"))
    return out


def _refusal(cache_dir: Path, found: list[tuple[str, Any, Any]]) -> str:
    def show(items: list[tuple[str, Any]]) -> str:
        return " and ".join(f"{name} {value}" for name, value in items)

    built = show([(name, a) for name, a, _ in found])
    asked = show([(name, b) for name, _, b in found])
    return (
        f"the cache in {cache_dir} was built with {built}; this run asks for {asked}: run "
        "without rescore=true to sweep again (a rescore may change only scoring.*, "
        "robustness.* and max_candidates)"
    )
