"""Look-ahead and warmup checks of the Kalman strategies (the adapters of
`tradelab.robustness.bias`): residual mean reversion and pairs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradelab.kalman import hedge_ratio_filter, local_level_filter, rolling_zscore
from tradelab.robustness.bias import (
    BiasReport,
    Decisions,
    cut_points,
    lookahead_check,
    perturb_after,
    warmup_check,
)
from tradelab.strategies.pairs import DEFAULTS as PAIR_DEFAULTS
from tradelab.strategies.pairs import PairData, backtest_pair
from tradelab.strategies.residual import DEFAULTS as RESIDUAL_DEFAULTS
from tradelab.strategies.residual import ResidualSettings, backtest_residual

__all__ = ["pairs_bias_check", "residual_bias_check"]


def _sample_sets(columns: Mapping[str, Any], n_sets: int, rng: np.random.Generator) -> list[dict]:
    arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in columns.items()}
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) > 1:
        raise ValueError(f"parameter columns differ in length: {sorted(sizes)}")
    total = sizes.pop() if sizes else 1
    rows = np.sort(rng.choice(total, min(n_sets, total), replace=False))
    return [{k: float(a[r]) for k, a in arrays.items()} for r in rows]


def residual_bias_check(
    close: np.ndarray,
    columns: Mapping[str, Any] | None = None,
    *,
    settings: Any = None,
    target: str = "",
    n_sets: int = 8,
    n_cuts: int = 3,
    start: int | None = None,
    extra_bars: int = 500,
    tolerance: float = 0.05,
    seed: int = 0,
) -> BiasReport:
    """Run the look-ahead and warmup checks of the residual strategy on one symbol's closes.

    `columns`: searched parameters ({name: values}, as `evaluate_residual` takes them; sets are
    sampled). Warmup: residual z-scores from bar `start` (default: the middle bar) with the
    strategy's `warmup_bars` of history vs `extra_bars` more.
    """
    settings = settings or ResidualSettings()
    prices = np.ascontiguousarray(close, dtype=np.float64)
    n = prices.shape[0]
    rng = np.random.default_rng(seed)
    sets = _sample_sets(columns or {}, n_sets, rng)

    def decide(series: np.ndarray) -> Decisions:
        events, paths = [], np.empty((len(sets), series.shape[0]))
        for i, params in enumerate(sets):
            run = backtest_residual(series, params, settings)
            ev: list[tuple[Any, ...]] = []
            for tr in run.trades.itertuples(index=False):
                ev.append((int(tr.entry_bar), "entry", int(tr.side), float(tr.entry_price)))
                ev.append((int(tr.exit_bar), "exit", float(tr.exit_price), str(tr.reason)))
            events.append(sorted(ev, key=lambda e: (e[0], e[1])))
            paths[i] = run.equity
        return Decisions(events, paths)

    def perturb(series: np.ndarray, t: int, r: np.random.Generator) -> np.ndarray:
        return perturb_after(t, r, series)[0]

    warm = int(settings.warmup_bars)
    cuts = cut_points(min(warm, n - 2), n, n_cuts)
    lookahead = lookahead_check(decide, prices, perturb, cuts, name="residual", seed=seed)

    start = n // 2 if start is None else int(start)
    extra = min(extra_bars, max(start - warm, 0))
    qr = sorted(
        {
            (
                p.get("process_noise_q", RESIDUAL_DEFAULTS["process_noise_q"]),
                p.get("observation_noise_r", RESIDUAL_DEFAULTS["observation_noise_r"]),
            )
            for p in sets
        }
    )

    def series_from(first: int) -> dict[str, np.ndarray]:
        res = local_level_filter(
            prices[first:],
            [q for q, _ in qr],
            [r for _, r in qr],
            lookback=settings.z_lookback,
            backend=settings.backend,
        )
        return {"residual_z": np.ascontiguousarray(res.residual_z.T)}

    warmup = warmup_check(series_from, start, warm, extra, tolerance=tolerance, name="residual")
    used = {
        "n_sets": len(sets),
        "n_cuts": n_cuts,
        "start": start,
        "extra_bars": extra_bars,
        "tolerance": tolerance,
        "seed": seed,
        "warmup_bars": warm,
        "filters": [list(x) for x in qr],
    }
    return BiasReport(target, "kalman_residual", (lookahead,), (warmup,), used)


def pairs_bias_check(
    data: PairData,
    columns: Mapping[str, Any] | None = None,
    *,
    defaults: Mapping[str, Any] | None = None,
    beta0: float = 1.0,
    backend: str = "auto",
    target: str = "",
    n_sets: int = 8,
    n_cuts: int = 3,
    start: int | None = None,
    warmup: int | None = None,
    extra_bars: int = 500,
    tolerance: float = 0.05,
    seed: int = 0,
) -> BiasReport:
    """Run the look-ahead and warmup checks of the pairs strategy on a `PairData`.

    Warmup: hedge ratios and spread z-scores from bar `start` (default: the middle bar) with
    `warmup` bars of history (default: the largest z-score window of the sampled sets) vs
    `extra_bars` more.
    """
    n = data.n_bars
    rng = np.random.default_rng(seed)
    base = {**PAIR_DEFAULTS, **(defaults or {})}
    sets = [{**base, **s} for s in _sample_sets(columns or {}, n_sets, rng)]

    def decide(d: Any) -> Decisions:
        events, paths = [], np.empty((len(sets), d.n_bars))
        for i, params in enumerate(sets):
            run = backtest_pair(d, params, beta0=beta0, backend=backend)
            ev = [
                (int(f.bar), "fill", int(f.leg), float(f.size), float(f.price))
                for f in run.fills.itertuples(index=False)
            ]
            events.append(ev)
            paths[i] = run.values.to_numpy()
        return Decisions(events, paths)

    def perturb(d: Any, t: int, r: np.random.Generator) -> Any:
        close_a, open_a = perturb_after(t, r, d.close_a, d.open_a)[:2]
        close_b, open_b = perturb_after(t, r, d.close_b, d.open_b)[:2]
        return PairData(
            d.asset_1, d.asset_2, d.times, open_a, close_a, open_b, close_b, d.period_end
        )

    windows = [int(s["window"]) for s in sets]
    warm = max(windows) if warmup is None else int(warmup)
    cuts = cut_points(min(warm, n - 2), n, n_cuts)
    lookahead = lookahead_check(decide, data, perturb, cuts, name="pairs", seed=seed)

    start = n // 2 if start is None else int(start)
    extra = min(extra_bars, max(start - warm, 0))
    filters = sorted({(float(s["delta"]), float(s["R"]), int(s["window"])) for s in sets})

    def series_from(first: int) -> dict[str, np.ndarray]:
        a, b = data.close_a[first:], data.close_b[first:]
        out: dict[str, np.ndarray] = {}
        for k, (delta, obs_r, window) in enumerate(filters):
            hedge = hedge_ratio_filter(a, b, delta, obs_r, beta0=beta0, backend=backend)
            out[f"beta[{k}]"] = hedge.betas[0]
            out[f"spread_z[{k}]"] = rolling_zscore(hedge.spreads, window, backend=backend)[0]
        return out

    check = warmup_check(series_from, start, warm, extra, tolerance=tolerance, name="pairs")
    used = {
        "n_sets": len(sets),
        "n_cuts": n_cuts,
        "start": start,
        "warmup": warm,
        "extra_bars": extra_bars,
        "tolerance": tolerance,
        "seed": seed,
        "filters": [list(f) for f in filters],
    }
    name = target or f"{data.asset_1}-{data.asset_2}"
    return BiasReport(name, "kalman_pairs", (lookahead,), (check,), used)
