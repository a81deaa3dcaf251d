"""The forecaster contract of `tradelab.testing`, run over every forecaster the settings build.

Toto (one-pass and upstream decoding), Kronos and the Kronos ensemble load the tiny random
checkpoints of `conftest.py` through `load_forecaster`; the baselines come from
`make_baselines` with the study's default lookbacks. Sample counts stay small (16 to 32).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tradelab.forecast import BASELINE_NAMES, Context, Forecaster, SeriesData, make_baselines
from tradelab.forecast.registry import load_forecaster
from tradelab.forecast.settings import (
    KronosEnsembleModelConfig,
    KronosModelConfig,
    ModelConfig,
    ModelType,
    TotoModelConfig,
)
from tradelab.testing import FORECASTER_CHECKS, ForecasterCase
from tradelab.testing.forecaster_contract import (
    ForecasterCheck,
    check_batch_matches_single_calls,
    check_global_random_state_is_untouched,
    check_id,
    check_identity_is_stable_across_loads,
    check_inputs_are_left_alone,
    check_needs_only_declared_inputs,
    check_params_round_trip,
    check_point_forecast_aggregates_the_samples,
    check_reads_only_context_length_bars,
    check_samples_have_the_documented_shape,
    check_sampling_is_seeded,
    check_short_context_gives_paths_or_a_clear_error,
    ks_distance,
)

from .conftest import make_bars

SERIES = SeriesData.from_input(make_bars(300, seed=5))  # drift reads 253 bars

# name: (model type, settings overrides, trial params, paths per window). Kronos samples at
# temperatures near 1: at its default 0.2 the tiny random model often repeats one path.
MODELS: dict[str, tuple[ModelType, dict[str, Any], dict[str, Any], int]] = {
    "toto": (ModelType.toto, {}, {"num_samples": 32, "samples_per_batch": 16}, 32),
    "toto_upstream": (
        ModelType.toto,
        {"one_pass_sampling": False},
        {"num_samples": 32, "samples_per_batch": 16},
        32,
    ),
    "kronos": (ModelType.kronos, {}, {"sample_count": 16, "temperature": 1.0}, 16),
    "kronos_ensemble": (
        ModelType.kronos_ensemble,
        {},
        {"num_samples": 2, "paths_per_temperature": 8, "temperature": 0.8, "temp_max": 1.0},
        16,
    ),
}
CASES = (*MODELS, *BASELINE_NAMES)


def _settings(name: str, request: pytest.FixtureRequest) -> ModelConfig:
    kind, overrides, _, _ = MODELS[name]
    if kind == ModelType.toto:
        folder = request.getfixturevalue("toto_dir")
        return TotoModelConfig(weights_dir=str(folder), context_length=24, **overrides)
    model_dir, tokenizer_dir = request.getfixturevalue("kronos_dirs")
    cls = KronosModelConfig if kind == ModelType.kronos else KronosEnsembleModelConfig
    return cls(
        weights_dir=str(model_dir), tokenizer_dir=str(tokenizer_dir), max_context=24, **overrides
    )


def _model_case(name: str, request: pytest.FixtureRequest) -> ForecasterCase:
    cfg = _settings(name, request)
    _, _, params, n_samples = MODELS[name]
    return ForecasterCase(
        load_forecaster(cfg),
        SERIES,
        params,
        n_samples,
        context_bars=16,  # shorter than the context length (24): most windows in practice
        reload=lambda: load_forecaster(cfg),
        label=name,
    )


def _baseline_case(name: str) -> ForecasterCase:
    index = BASELINE_NAMES.index(name)
    return ForecasterCase(
        make_baselines()[index],
        SERIES,
        {},
        1,
        stochastic=False,
        reload=lambda: make_baselines()[index],
        label=name,
    )


@pytest.fixture(scope="module", params=CASES)
def case(request: pytest.FixtureRequest) -> ForecasterCase:
    if request.param in MODELS:
        return _model_case(request.param, request)
    return _baseline_case(request.param)


# Bugs the suite found in adapters outside this change; strict: fixing one fails the xfail.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("check", FORECASTER_CHECKS, ids=check_id)
def test_forecaster_contract(
    case: ForecasterCase, check: ForecasterCheck, request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_BUGS.get((str(case), check_id(check)))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    check(case)


def test_every_model_type_has_a_case() -> None:
    kinds = {kind for kind, _, _, _ in MODELS.values()}
    assert kinds | {ModelType.baselines} == set(ModelType)
    assert set(BASELINE_NAMES) <= set(CASES)


# -- the suite itself: a broken forecaster fails the check that is about it ------------------
class _Walk(Forecaster):
    """A seeded random walk from the last close: passes every check."""

    name = model_type = "walk"

    @classmethod
    def load(cls, cfg: Any = None, *, device: str | None = None) -> Forecaster:
        return cls()

    def context_length(self, params: Mapping[str, Any]) -> int:
        return 16

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {"num_samples": 8, **params}

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        n = int(self.resolved_params(params)["num_samples"])
        steps = self.steps(seed, params, (n, horizon))
        return self.level(context) * np.exp(np.cumsum(steps, axis=1))

    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return np.random.default_rng(seed).normal(0.0, 0.01, size=shape)

    def level(self, context: Context) -> float:
        return context.last


class _Last(_Walk):
    """The last close repeated: a deterministic forecaster that passes every check."""

    name = model_type = "last"
    deterministic = True

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return np.full((1, horizon), context.last)


def _toy_case(model: Forecaster, **changes: Any) -> ForecasterCase:
    stochastic = not model.deterministic
    fields: dict[str, Any] = {
        "params": {"num_samples": 8, "aggregate": "median"} if stochastic else {},
        "n_samples": 8 if stochastic else 1,
        "stochastic": stochastic,
        "reload": type(model),
        **changes,
    }
    return ForecasterCase(model, SeriesData.from_input(make_bars(80)), **fields)


class _NumpyGlobal(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return np.random.normal(0.0, 0.01, size=shape)


class _SeedsPythonRandom(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        random.seed(seed)
        return np.array(
            [[random.gauss(0.0, 0.01) for _ in range(shape[1])] for _ in range(shape[0])]
        )


class _IgnoresSeed(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return super().steps(0, params, shape)


class _Unseeded(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return np.random.default_rng().normal(0.0, 0.01, size=shape)


class _OnePath(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return np.repeat(super().steps(seed, params, (1, shape[1])), shape[0], axis=0)


class _ClaimsDeterministic(_Walk):
    deterministic = True


class _Transposed(_Walk):
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return super().sample_paths(context, horizon, params, seed).T


class _Float32(_Walk):
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return super().sample_paths(context, horizon, params, seed).astype(np.float32)


class _NaNs(_Walk):
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        out = super().sample_paths(context, horizon, params, seed)
        out[0, -1] = np.nan
        return out


class _BatchReversed(_Walk):
    def sample_batch(
        self, contexts: Any, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return super().sample_batch(contexts, horizon, params, seed)[::-1].copy()


class _BatchOwnStream(_Walk):
    def sample_batch(
        self, contexts: Any, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return np.stack(
            [self.sample_paths(c, horizon, params, seed + i) for i, c in enumerate(contexts)]
        )


class _MutatesContext(_Walk):
    def level(self, context: Context) -> float:
        context.close[0] = context.close[-1]
        return context.last


class _ScalesInPlace(_Walk):
    def level(self, context: Context) -> float:
        closes = context.close
        closes *= 1.0  # same values, but a write: fails on read-only arrays
        return float(closes[-1])


class _PopsParams(_Walk):
    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        params.pop("aggregate", None)  # type: ignore[attr-defined]
        return super().resolved_params(params)


class _SortsSamples(_Walk):
    def point_forecast(self, samples: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        samples.sort(axis=-2)
        return super().point_forecast(samples, params)


class _LastPlusSeed(_Last):
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return super().sample_paths(context, horizon, params, seed) + 1e-6 * seed


class _ReturnsAView(_Last):
    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        return context.close[None, -horizon:]


class _AlwaysMean(_Walk):
    def point_forecast(self, samples: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(samples).mean(axis=-2)


class _PointPerSample(_Walk):
    def point_forecast(self, samples: np.ndarray, params: Mapping[str, Any]) -> np.ndarray:
        return np.asarray(samples).mean(axis=-1)


class _AggregateSeeds(_Walk):
    def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
        return super().steps(seed + len(str(params.get("aggregate", ""))), params, shape)


class _ResolvesTwice(_Walk):
    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = super().resolved_params(params)
        return {**p, "num_samples": 2 * int(p["num_samples"])}


class _NumpyParams(_Walk):
    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {**super().resolved_params(params), "num_samples": np.int64(8)}


class _ReadsAllBars(_Walk):
    def level(self, context: Context) -> float:
        return float(context.close.mean())


class _NeedsFiveBars(_Walk):
    def level(self, context: Context) -> float:
        return float(context.close[-5])


class _ClaimsTimestamps(_Walk):
    requires_timestamps = True


class _UsesTimestamps(_Walk):
    def level(self, context: Context) -> float:
        return context.last + 0.0 * float(context.timestamps[-1])  # type: ignore[index]


class _UsesOhlcv(_Walk):
    def level(self, context: Context) -> float:
        return float(context.ohlcv[-1, 3])  # type: ignore[index]


class _IdentityPerInstance(_Walk):
    def identity(self) -> str:
        return f"walk:{id(self)}"


class _RandomInit(_Walk):
    def __init__(self) -> None:
        self.offset = float(np.random.default_rng().normal())

    def level(self, context: Context) -> float:
        return context.last + self.offset


class _DescribesAPath(_Walk):
    def describe(self) -> dict[str, Any]:
        return {"model_type": self.model_type, "weights": Path("w")}


BROKEN: dict[str, tuple[Callable[[], ForecasterCase], ForecasterCheck]] = {
    "numpy-global-rng": (
        lambda: _toy_case(_NumpyGlobal()),
        check_global_random_state_is_untouched,
    ),
    "seeds-python-random": (
        lambda: _toy_case(_SeedsPythonRandom()),
        check_global_random_state_is_untouched,
    ),
    "numpy-global-rng-unseeded": (lambda: _toy_case(_NumpyGlobal()), check_sampling_is_seeded),
    "ignores-seed": (lambda: _toy_case(_IgnoresSeed()), check_sampling_is_seeded),
    "unseeded": (lambda: _toy_case(_Unseeded()), check_sampling_is_seeded),
    "one-path-repeated": (lambda: _toy_case(_OnePath()), check_sampling_is_seeded),
    "claims-deterministic": (
        lambda: _toy_case(_ClaimsDeterministic(), stochastic=True, n_samples=8),
        check_sampling_is_seeded,
    ),
    "deterministic-case-uses-seed": (
        lambda: _toy_case(_LastPlusSeed()),
        check_sampling_is_seeded,
    ),
    "transposed": (lambda: _toy_case(_Transposed()), check_samples_have_the_documented_shape),
    "float32": (lambda: _toy_case(_Float32()), check_samples_have_the_documented_shape),
    "nan": (lambda: _toy_case(_NaNs()), check_samples_have_the_documented_shape),
    "batch-reversed": (lambda: _toy_case(_BatchReversed()), check_batch_matches_single_calls),
    "batch-own-stream-exact": (
        lambda: _toy_case(_BatchOwnStream(), exact_batch=True),
        check_batch_matches_single_calls,
    ),
    "mutates-context": (lambda: _toy_case(_MutatesContext()), check_inputs_are_left_alone),
    "writes-read-only-input": (lambda: _toy_case(_ScalesInPlace()), check_inputs_are_left_alone),
    "pops-params": (lambda: _toy_case(_PopsParams()), check_inputs_are_left_alone),
    "sorts-samples": (lambda: _toy_case(_SortsSamples()), check_inputs_are_left_alone),
    "returns-a-view": (lambda: _toy_case(_ReturnsAView()), check_inputs_are_left_alone),
    "point-always-mean": (
        lambda: _toy_case(_AlwaysMean()),
        check_point_forecast_aggregates_the_samples,
    ),
    "point-per-sample": (
        lambda: _toy_case(_PointPerSample()),
        check_point_forecast_aggregates_the_samples,
    ),
    "aggregate-changes-paths": (lambda: _toy_case(_AggregateSeeds()), check_params_round_trip),
    "resolved-not-idempotent": (lambda: _toy_case(_ResolvesTwice()), check_params_round_trip),
    "resolved-not-json": (lambda: _toy_case(_NumpyParams()), check_params_round_trip),
    "reads-all-bars": (
        lambda: _toy_case(_ReadsAllBars()),
        check_reads_only_context_length_bars,
    ),
    "needs-five-bars": (
        lambda: _toy_case(_NeedsFiveBars()),
        check_short_context_gives_paths_or_a_clear_error,
    ),
    "claims-timestamps": (
        lambda: _toy_case(_ClaimsTimestamps()),
        check_needs_only_declared_inputs,
    ),
    "uses-undeclared-timestamps": (
        lambda: _toy_case(_UsesTimestamps()),
        check_needs_only_declared_inputs,
    ),
    "needs-ohlcv": (lambda: _toy_case(_UsesOhlcv()), check_needs_only_declared_inputs),
    "identity-per-instance": (
        lambda: _toy_case(_IdentityPerInstance()),
        check_identity_is_stable_across_loads,
    ),
    "random-init": (lambda: _toy_case(_RandomInit()), check_identity_is_stable_across_loads),
    "describe-not-json": (
        lambda: _toy_case(_DescribesAPath()),
        check_identity_is_stable_across_loads,
    ),
}


@pytest.mark.parametrize("model", [_Walk(), _Last()], ids=["stochastic", "deterministic"])
def test_the_toy_forecasters_pass_every_check(model: Forecaster) -> None:
    for check in FORECASTER_CHECKS:
        check(_toy_case(model))


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_the_suite_catches_a_broken_forecaster(broken: str) -> None:
    make, check = BROKEN[broken]
    with pytest.raises(AssertionError):
        check(make())


def test_the_suite_catches_a_forecaster_that_seeds_torch() -> None:
    torch = pytest.importorskip("torch")

    class SeedsTorch(_Walk):
        def steps(self, seed: int, params: Mapping[str, Any], shape: tuple[int, int]) -> np.ndarray:
            torch.manual_seed(seed)
            return torch.randn(shape, dtype=torch.float64).numpy() * 0.01

    check_sampling_is_seeded(_toy_case(SeedsTorch()))  # seeded, so only the RNG check sees it
    with pytest.raises(AssertionError, match="torch"):
        check_global_random_state_is_untouched(_toy_case(SeedsTorch()))


def test_ks_distance() -> None:
    a = np.array([1.0, 2.0, 3.0, 4.0])
    assert ks_distance(a, a) == 0.0
    assert ks_distance(a, a + 10.0) == 1.0
    assert ks_distance(a, np.array([3.0, 4.0, 5.0, 6.0])) == pytest.approx(0.5)
