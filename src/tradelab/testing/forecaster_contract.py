"""The `Forecaster` contract: what every forecaster, model adapter or baseline, must do.

A `ForecasterCase` is a loaded forecaster, a trial's parameters and a series to cut windows
from. Each check takes a case and fails with an `AssertionError`::

    @pytest.mark.parametrize("check", FORECASTER_CHECKS, ids=check_id)
    def test_forecaster_contract(check, case):
        check(case)

What the checks hold a forecaster to (see `tradelab.forecast.base`): float64, finite paths
of shape (n_samples, horizon), (n_windows, n_samples, horizon) for a batch, at every horizon
the case names; seeded sampling (the same call twice gives the same paths, another seed
other paths exactly when the model is stochastic, and `deterministic` says which); a batch
that matches the single calls; NumPy's, `random`'s and torch's global random state left
alone; inputs left alone, read-only ones accepted; the point forecast is the trial's
`aggregate` of the samples; parameters that keep the paths through `resolved_params` and a
JSON round trip, with aggregation parameters outside `sampling_params` (the sample cache
relies on both); only the last `context_length(params)` bars read; a context of a few bars
gives paths or a DataError/ValueError; timestamps and OHLCV needed only as declared; an
identity and paths that a fresh load shares.

Batch against single calls. A deterministic forecaster, and one on the base class's
`sample_batch`, matches bit for bit: window i of `sample_batch(contexts, h, p, seed)` is
`sample_paths(contexts[i], h, p, derive_seed(seed, i))`. Toto and Kronos override
`sample_batch` to put windows through one forward pass, drawn from one random stream per
pass (Toto: per `window_batch` group; Kronos: per `batch_size` chunk of sequences; their
`identity()` names those knobs, so the cache keeps such samples apart), so they promise
equality in distribution only: each window's batched paths and its single-call paths pass a
two-sample Kolmogorov-Smirnov test at level `KS_ALPHA`, step by step. The windows are cut at
different origins and scaled to distinct price levels, so a batch that mixes windows up
fails either way.
"""

from __future__ import annotations

import copy
import json
import math
import numbers
import random
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradelab.errors import DataError
from tradelab.forecast.aggregation import aggregate, parse_aggregation
from tradelab.forecast.base import Context, Forecaster, SeriesData, derive_seed

__all__ = [
    "FORECASTER_CHECKS",
    "KS_ALPHA",
    "ForecasterCase",
    "ForecasterCheck",
    "check_id",
    "ks_distance",
]

KS_ALPHA = 1e-3
"""Level of the Kolmogorov-Smirnov test a stochastic model's batch must pass per window."""

SEED = 1234
N_WINDOWS = 3
_SPACING = 7  # bars between the origins of consecutive windows


@dataclass(frozen=True)
class ForecasterCase:
    """A forecaster, a trial's parameters and a series (with timestamps and OHLCV).

    `n_samples`: paths per window that `params` asks for (a stochastic model's params should
    spread them: a low temperature can repeat one path). `stochastic`: another seed gives
    other paths (False: the seed is ignored). `exact_batch`: `sample_batch` must match the
    single calls bit for bit even though the model is stochastic (see the module docstring).
    `horizons`: 1 and a longer horizon the model supports. `context_bars`: the most bars a
    window gets (less when `context_length(params)` is shorter). `reload`: a fresh load from
    the same settings (None: not checked). The series needs `context_length(params)` plus
    a few dozen bars for the context-length check to bite.
    """

    forecaster: Forecaster
    series: SeriesData
    params: Mapping[str, Any]
    n_samples: int
    stochastic: bool = True
    exact_batch: bool = False
    horizons: tuple[int, ...] = (1, 3)
    context_bars: int = 32
    reload: Callable[[], Forecaster] | None = field(default=None, compare=False)
    label: str = ""

    def __str__(self) -> str:
        return self.label or self.forecaster.name


ForecasterCheck = Callable[[ForecasterCase], None]


def check_id(check: ForecasterCheck) -> str:
    """Return a short test id for a check."""
    return check.__name__.removeprefix("check_")


def ks_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Return the two-sample Kolmogorov-Smirnov statistic of 1-D samples `a` and `b`."""
    a, b = np.sort(np.asarray(a, dtype=np.float64)), np.sort(np.asarray(b, dtype=np.float64))
    grid = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, grid, side="right") / a.size
    cdf_b = np.searchsorted(b, grid, side="right") / b.size
    return float(np.max(np.abs(cdf_a - cdf_b)))


def _ks_critical(n: int, m: int, alpha: float = KS_ALPHA) -> float:
    """The asymptotic critical KS distance for samples of sizes `n` and `m` at `alpha`."""
    return math.sqrt(-math.log(alpha / 2.0) / 2.0) * math.sqrt((n + m) / (n * m))


# -- windows ---------------------------------------------------------------------------------
def _length(case: ForecasterCase) -> int:
    return max(1, min(int(case.forecaster.context_length(case.params)), case.context_bars))


def _window(case: ForecasterCase, horizon: int, back: int = 0, length: int = 0) -> Context:
    """The bars before the origin `back * _SPACING` bars before the last one forecastable."""
    origin = len(case.series) - horizon - _SPACING * back
    return case.series.context(origin, length or _length(case), horizon)


def _scaled(ctx: Context, factor: float) -> Context:
    """A copy of `ctx` with prices (not volume) multiplied by `factor`."""
    ohlcv = None
    if ctx.ohlcv is not None:
        ohlcv = ctx.ohlcv.copy()
        ohlcv[:, :4] *= factor
    return Context(ctx.close * factor, ohlcv, ctx.timestamps, ctx.future_timestamps)


def _windows(case: ForecasterCase, horizon: int) -> list[Context]:
    """`N_WINDOWS` windows of equal length, oldest first, window i at price level 1 + i / 2."""
    return [
        _scaled(_window(case, horizon, N_WINDOWS - 1 - i), 1.0 + 0.5 * i) for i in range(N_WINDOWS)
    ]


def _arrays(ctx: Context) -> tuple[np.ndarray | None, ...]:
    return (ctx.close, ctx.ohlcv, ctx.timestamps, ctx.future_timestamps)


def _copy(ctx: Context, *, writeable: bool = True) -> Context:
    """A deep copy of `ctx` (its arrays read-only unless `writeable`)."""
    arrays = [None if a is None else np.array(a, copy=True) for a in _arrays(ctx)]
    for arr in arrays:
        if arr is not None:
            arr.flags.writeable = writeable
    return Context(*arrays)


def _same(a: Context, b: Context) -> bool:
    return all(
        (x is None and y is None)
        or (x is not None and y is not None and np.array_equal(x, y, equal_nan=True))
        for x, y in zip(_arrays(a), _arrays(b))
    )


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=True))


def _paths(
    case: ForecasterCase,
    ctx: Context,
    horizon: int,
    params: Mapping[str, Any] | None = None,
    seed: int = SEED,
) -> np.ndarray:
    return case.forecaster.sample_paths(
        ctx, horizon, case.params if params is None else params, seed
    )


def _batch(
    case: ForecasterCase, contexts: list[Context], horizon: int, seed: int = SEED
) -> np.ndarray:
    return case.forecaster.sample_batch(contexts, horizon, case.params, seed)


def _assert_paths(out: Any, shape: tuple[int, ...], what: str) -> None:
    """Fail unless `out` is a finite float64 array of `shape`."""
    assert isinstance(out, np.ndarray), f"{what} returned a {type(out).__name__}, not an ndarray"
    assert out.shape == shape, f"{what} has shape {out.shape}; expected {shape}"
    assert out.dtype == np.float64, f"{what} has dtype {out.dtype}; expected float64"
    assert np.all(np.isfinite(out)), f"{what} has NaN or infinite values"


def _json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise AssertionError(f"{what} is not JSON data: {exc}") from exc


# -- the checks ------------------------------------------------------------------------------
def check_samples_have_the_documented_shape(case: ForecasterCase) -> None:
    """Paths are finite float64 (n_samples, horizon); a batch (n_windows, n_samples, horizon)."""
    for h in case.horizons:
        paths = _paths(case, _window(case, h), h)
        _assert_paths(paths, (case.n_samples, h), f"{case}: sample_paths(horizon={h})")
        batch = _batch(case, _windows(case, h), h)
        shape = (N_WINDOWS, case.n_samples, h)
        _assert_paths(batch, shape, f"{case}: sample_batch({N_WINDOWS} windows, horizon={h})")


def check_sampling_is_seeded(case: ForecasterCase) -> None:
    """The same call twice gives the same paths; another seed other paths iff stochastic."""
    model = case.forecaster
    assert model.deterministic is (not case.stochastic), (
        f"{case}: deterministic = {model.deterministic}, but the case says stochastic = "
        f"{case.stochastic}"
    )
    h = case.horizons[-1]
    ctx, contexts = _window(case, h), _windows(case, h)
    first, batch = _paths(case, ctx, h), _batch(case, contexts, h)
    assert _equal(first, _paths(case, ctx, h)), f"{case}: the same seed gave other paths"
    assert _equal(batch, _batch(case, contexts, h)), f"{case}: the same seed gave another batch"
    other = _paths(case, ctx, h, seed=SEED + 1)
    other_batch = _batch(case, contexts, h, seed=SEED + 1)
    if case.stochastic:
        assert not _equal(first, other), f"{case}: another seed gave the same paths"
        assert not _equal(batch, other_batch), f"{case}: another seed gave the same batch"
        if case.n_samples > 1:
            distinct = np.unique(np.asarray(first), axis=0).shape[0]
            assert distinct > 1, f"{case}: the {case.n_samples} paths are one path repeated"
    else:
        assert _equal(first, other), f"{case}: a deterministic model's paths depend on the seed"
        assert _equal(batch, other_batch), f"{case}: a deterministic batch depends on the seed"


def check_batch_matches_single_calls(case: ForecasterCase) -> None:
    """Window i of a batch is `sample_paths(window_i, seed=derive_seed(seed, i))`: bit for bit
    when deterministic or `exact_batch`, else in distribution (KS test at `KS_ALPHA`)."""
    h = case.horizons[-1]
    contexts = _windows(case, h)
    batch = np.asarray(_batch(case, contexts, h))
    singles = np.stack(
        [np.asarray(_paths(case, c, h, seed=derive_seed(SEED, i))) for i, c in enumerate(contexts)]
    )
    assert batch.shape == singles.shape, (
        f"{case}: batch shape {batch.shape}, stacked single calls {singles.shape}"
    )
    if _equal(batch, singles):
        return
    exact = case.exact_batch or not case.stochastic
    assert not exact, f"{case}: the batch differs from the stacked single calls"
    n = batch.shape[1]
    limit = _ks_critical(n, n)
    for i in range(batch.shape[0]):
        for step in range(h):
            d = ks_distance(batch[i, :, step], singles[i, :, step])
            assert d <= limit, (
                f"{case}: window {i}, step {step + 1}: batched and single-call paths differ in "
                f"distribution (KS distance {d:.3f} > {limit:.3f}, alpha {KS_ALPHA})"
            )


def _global_states() -> dict[str, Any]:
    """NumPy's, `random`'s and (when importable) torch's CPU and CUDA generator states."""
    legacy = np.random.get_state()
    states: dict[str, Any] = {
        "numpy.random": (legacy[0], legacy[1].tobytes(), *legacy[2:]),
        "random": random.getstate(),
    }
    try:
        import torch
    except ImportError:
        return states
    states["torch"] = torch.get_rng_state().numpy().tobytes()
    if torch.cuda.is_available():
        states["torch.cuda"] = [s.cpu().numpy().tobytes() for s in torch.cuda.get_rng_state_all()]
    return states


def check_global_random_state_is_untouched(case: ForecasterCase) -> None:
    """Sampling and aggregating leave NumPy's, `random`'s and torch's global RNGs as they were."""
    model, h = case.forecaster, case.horizons[-1]
    ctx, contexts = _window(case, h), _windows(case, h)
    before = _global_states()
    paths = _paths(case, ctx, h)
    batch = _batch(case, contexts, h)
    model.point_forecast(paths, case.params)
    model.point_forecast(batch, case.params)
    after = _global_states()
    changed = sorted(k for k in before if before[k] != after.get(k))
    assert not changed, f"{case}: sampling changed the global random state of {changed}"


def check_inputs_are_left_alone(case: ForecasterCase) -> None:
    """Contexts, params and samples are not modified; read-only inputs give the same paths."""
    model, h = case.forecaster, case.horizons[-1]
    ctx, contexts = _copy(_window(case, h)), [_copy(c) for c in _windows(case, h)]
    kept, kept_all = _copy(ctx), [_copy(c) for c in contexts]
    params = copy.deepcopy(dict(case.params))
    paths = model.sample_paths(ctx, h, params, SEED)
    batch = model.sample_batch(contexts, h, params, SEED)
    samples, batch_samples = np.array(paths, copy=True), np.array(batch, copy=True)
    model.point_forecast(samples, params)
    model.point_forecast(batch_samples, params)
    assert _same(ctx, kept), f"{case}: sample_paths modified the context"
    assert all(_same(c, k) for c, k in zip(contexts, kept_all)), (
        f"{case}: sample_batch modified a context"
    )
    assert params == dict(case.params), f"{case}: sampling modified params: {params}"
    assert _equal(samples, paths) and _equal(batch_samples, batch), (
        f"{case}: point_forecast modified the samples"
    )
    for arr in _arrays(ctx):
        if arr is not None:
            assert not np.shares_memory(paths, arr), f"{case}: the paths are a view of the input"
    frozen = types.MappingProxyType(copy.deepcopy(dict(case.params)))
    try:
        ro_paths = model.sample_paths(_copy(ctx, writeable=False), h, frozen, SEED)
        ro_batch = model.sample_batch(
            [_copy(c, writeable=False) for c in contexts], h, frozen, SEED
        )
    except Exception as exc:
        raise AssertionError(
            f"{case}: read-only context arrays or params fail ({type(exc).__name__}: {exc})"
        ) from exc
    assert _equal(ro_paths, paths) and _equal(ro_batch, batch), (
        f"{case}: read-only inputs gave other paths"
    )


def check_point_forecast_aggregates_the_samples(case: ForecasterCase) -> None:
    """`point_forecast` is `aggregate(samples, params' aggregate or default_aggregate)`."""
    model, h = case.forecaster, case.horizons[-1]
    try:
        parse_aggregation(model.default_aggregate)
    except ValueError as exc:
        raise AssertionError(f"{case}: default_aggregate is not an aggregation: {exc}") from exc
    paths = np.asarray(_paths(case, _window(case, h), h))
    batch = np.asarray(_batch(case, _windows(case, h), h))
    trial = str(case.params.get("aggregate") or model.default_aggregate)
    plain = {k: v for k, v in case.params.items() if k != "aggregate"}
    specs = [(case.params, trial), ({**plain, "aggregate": "quantile_0.9"}, "quantile_0.9")]
    specs.append((plain, model.default_aggregate))
    for samples, shape in ((paths, (h,)), (batch, (N_WINDOWS, h))):
        for params, spec in specs:
            point = model.point_forecast(samples, params)
            _assert_paths(point, shape, f"{case}: point_forecast({spec}) of {samples.shape}")
            assert _equal(point, aggregate(samples, spec)), (
                f"{case}: point_forecast is not the {spec!r} aggregate of the samples"
            )


def check_params_round_trip(case: ForecasterCase) -> None:
    """Resolved and JSON round-tripped params keep the paths; aggregation leaves them too."""
    model, h = case.forecaster, case.horizons[-1]
    ctx = _window(case, h)
    resolved = model.resolved_params(case.params)
    assert isinstance(resolved, dict), f"{case}: resolved_params gave a {type(resolved)}"
    text = _json(resolved, f"{case}: resolved_params")
    assert model.resolved_params(resolved) == resolved, f"{case}: resolved_params not idempotent"
    base = _paths(case, ctx, h)
    assert _equal(_paths(case, ctx, h, resolved), base), (
        f"{case}: the resolved params {resolved} draw other paths than {dict(case.params)}"
    )
    assert _equal(_paths(case, ctx, h, json.loads(text)), base), (
        f"{case}: the resolved params draw other paths after a JSON round trip"
    )
    sampling = model.sampling_params(case.params)
    _json(sampling, f"{case}: sampling_params")
    if "aggregate" not in model.aggregation_params:
        return
    for spec in ("median", "quantile_0.9"):
        params = {**case.params, "aggregate": spec}
        assert model.sampling_params(params) == sampling, (
            f"{case}: aggregate={spec!r} changes sampling_params"
        )
        assert _equal(_paths(case, ctx, h, params), base), (
            f"{case}: aggregate={spec!r} changes the sampled paths"
        )


def check_reads_only_context_length_bars(case: ForecasterCase) -> None:
    """`context_length(params)` is a positive int; bars before that many do not matter."""
    length = case.forecaster.context_length(case.params)
    assert isinstance(length, numbers.Integral) and length >= 1, (
        f"{case}: context_length is {length!r}"
    )
    h = case.horizons[-1]
    longer = min(len(case.series) - h, int(length) + 24)
    if longer <= length:  # the series is too short to hold more bars than the model reads
        return
    ctx = _window(case, h, length=longer)
    assert _equal(_paths(case, ctx, h), _paths(case, ctx.tail(int(length)), h)), (
        f"{case}: bars older than context_length = {length} change the paths"
    )


def check_short_context_gives_paths_or_a_clear_error(case: ForecasterCase) -> None:
    """A context of 1 to 3 bars gives finite paths or raises DataError/ValueError."""
    h = case.horizons[-1]
    for bars in (1, 2, 3):
        ctx = _window(case, h, length=bars)
        try:
            paths = _paths(case, ctx, h)
        except (DataError, ValueError) as exc:
            assert str(exc), f"{case}: a {bars}-bar context raised {type(exc).__name__}()"
            continue
        except Exception as exc:
            raise AssertionError(
                f"{case}: a {bars}-bar context raised {type(exc).__name__}: {exc}; expected "
                "paths or a DataError/ValueError"
            ) from exc
        _assert_paths(paths, (case.n_samples, h), f"{case}: sample_paths({bars}-bar context)")


def check_needs_only_declared_inputs(case: ForecasterCase) -> None:
    """OHLCV is optional; timestamps too, unless `requires_timestamps` (then a DataError)."""
    model, h = case.forecaster, case.horizons[-1]
    ctx = _window(case, h)
    closes = Context(ctx.close, None, ctx.timestamps, ctx.future_timestamps)
    bare = Context(ctx.close)
    try:
        paths = _paths(case, closes, h)
    except Exception as exc:
        raise AssertionError(
            f"{case}: a context without OHLCV fails ({type(exc).__name__}: {exc})"
        ) from exc
    _assert_paths(paths, (case.n_samples, h), f"{case}: sample_paths(closes and timestamps)")
    if model.requires_timestamps:
        try:
            _paths(case, bare, h)
        except DataError as exc:
            assert "timestamp" in str(exc), f"{case}: the DataError does not say why: {exc}"
            return
        except Exception as exc:
            raise AssertionError(
                f"{case}: a context without timestamps raised {type(exc).__name__}: {exc}; "
                "expected a DataError naming the timestamps"
            ) from exc
        raise AssertionError(f"{case}: requires_timestamps, yet a context without them gave paths")
    try:
        paths = _paths(case, bare, h)
    except Exception as exc:
        raise AssertionError(
            f"{case}: requires_timestamps is False, but closes alone fail "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    _assert_paths(paths, (case.n_samples, h), f"{case}: sample_paths(closes only)")


def check_identity_is_stable_across_loads(case: ForecasterCase) -> None:
    """`identity()` is a stable string and `describe()` JSON; a fresh load draws the same."""
    model = case.forecaster
    ident = model.identity()
    assert isinstance(ident, str) and ident, f"{case}: identity() is {ident!r}"
    assert model.identity() == ident, f"{case}: identity() changes between calls"
    described = model.describe()
    assert isinstance(described, dict), f"{case}: describe() gave a {type(described)}"
    _json(described, f"{case}: describe()")
    assert described.get("model_type") == model.model_type, f"{case}: describe() = {described}"
    if case.reload is None:
        return
    fresh = case.reload()
    assert fresh.identity() == ident, f"{case}: a fresh load has identity {fresh.identity()!r}"
    h = case.horizons[-1]
    ctx = _window(case, h)
    again = fresh.sample_paths(ctx, h, case.params, SEED)
    assert _equal(again, _paths(case, ctx, h)), f"{case}: a fresh load draws other paths"


FORECASTER_CHECKS: tuple[ForecasterCheck, ...] = (
    check_samples_have_the_documented_shape,
    check_sampling_is_seeded,
    check_batch_matches_single_calls,
    check_global_random_state_is_untouched,
    check_inputs_are_left_alone,
    check_point_forecast_aggregates_the_samples,
    check_params_round_trip,
    check_reads_only_context_length_bars,
    check_short_context_gives_paths_or_a_clear_error,
    check_needs_only_declared_inputs,
    check_identity_is_stable_across_loads,
)
"""Every check of the forecaster contract, in order."""
