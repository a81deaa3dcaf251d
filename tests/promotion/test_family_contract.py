"""The family contract of `tradelab.testing`, run over every built-in promotion family.

Each case comes from a tiny real run: the family's app (`tradelab-wfo`, `tradelab-tune`) runs
in process on the composed config and a small Parquet store, its job logs into an in-memory
tracker (or the tracker a builder is given), and the candidate is what `find_candidates`
returns from that tracker.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs
from tradelab.data import ParquetStore
from tradelab.promotion import (
    Candidate,
    FamilySpec,
    Gates,
    MlflowRegistry,
    Objective,
    family,
    find_candidates,
    pick_best,
    promote_target,
    register_family,
)
from tradelab.promotion.families import FAMILY_MODULES, InputExample
from tradelab.testing.family_contract import (
    FAMILY_CHECKS,
    FamilyCase,
    FamilyCheck,
    check_config_is_deterministic_and_leaves_the_candidate_alone,
    check_config_is_plain_json_data,
    check_family_is_registered,
    check_id,
    check_input_example_is_answered,
    check_numeric_params_stay_numbers,
    check_objective_and_gate_metrics_are_logged,
    check_overlay_is_hydra_yaml,
    check_predict_answers_what_is_held_now,
    check_predict_answers_with_the_documented_columns,
    check_registry_round_trip_writes_the_same_files,
    check_seed_files_are_json_under_relative_paths,
)
from tradelab.tracking import MemoryTracker, Tracker

pytestmark = pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning")

FAMILIES = ("wfo", "kalman_residual", "kalman_pairs", "forecast")


def _daily(n: int, seed: int, path: np.ndarray | None = None) -> pd.DataFrame:
    """Daily bars at the US close, business days up to 2026-06-30 (`path`: the closes)."""
    rng = np.random.default_rng(seed)
    if path is None:
        path = 100.0 * np.exp(np.cumsum(rng.normal(0.0003, 0.015, n)))
    days = pd.bdate_range(end="2026-06-30", periods=n)
    open_ = path * np.exp(rng.normal(0.0, 0.004, n))
    return pd.DataFrame(
        {
            "timestamp": (days + pd.Timedelta(hours=20)).tz_localize("UTC"),
            "open": open_,
            "high": np.maximum(open_, path) * (1 + np.abs(rng.normal(0, 0.005, n))),
            "low": np.minimum(open_, path) * (1 - np.abs(rng.normal(0, 0.005, n))),
            "close": path,
            "volume": 1e6,
        }
    )


def _minutes(days: int, seed: int) -> pd.DataFrame:
    """1-minute bars of a $5 stock over `days` regular sessions."""
    rng = np.random.default_rng(seed)
    sessions = pd.bdate_range("2026-03-02", periods=days, tz="America/New_York")
    times = pd.DatetimeIndex(
        [d + pd.Timedelta(hours=9, minutes=30 + m) for d in sessions for m in range(390)]
    ).tz_convert("UTC")
    close = 5.0 * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
    return pd.DataFrame(
        {
            "timestamp": times,
            "open": close,
            "high": close * 1.001,
            "low": close * 0.999,
            "close": close,
            "volume": 100.0,
        }
    )


def _run_app(
    app: str,
    root: Path,
    bars: dict[tuple[str, str], pd.DataFrame],
    *overrides: str,
    tracker: Tracker | None = None,
):
    """Write `bars` into a store under `root`, run `app` there on `tracker` (default: a new
    in-memory tracker)."""
    module = importlib.import_module(f"tradelab.apps.{app}")
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        cfg = compose(
            config_name=app,
            overrides=["tracking=memory", "progress=false", f"paths.root_dir={root}", *overrides],
        )
    store = ParquetStore(cfg.paths.store_dir)
    for (symbol, timeframe), frame in bars.items():
        store.write(symbol, timeframe, frame, source="test")
    tracker = tracker or MemoryTracker()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(module, "tracker_for", lambda cfg: tracker)
        module.run(cfg)
    return tracker, cfg


def _best(tracker: Tracker, name: str, target: str) -> Any:
    candidates = find_candidates(tracker, name, target)
    assert candidates, f"the tiny {name} run left no candidate for {target}"
    best = pick_best(candidates, family(name).objective)
    assert best is not None
    return best


def _wfo_case(root: Path, tracker: Tracker | None = None) -> FamilyCase:
    bars = _daily(int(8.5 * 252), seed=3)
    tracker, _ = _run_app(
        "wfo",
        root,
        {("SMH", "1day"): bars},
        "symbol=SMH",
        "strategy=atr_d_l",
        "grid=smoke",
        "phases=compact",
        "log_phase_tables=false",
        tracker=tracker,
    )
    best = _best(tracker, "wfo", "SMH")
    frame = bars.iloc[-300:].reset_index(drop=True)
    columns = ("timestamp", "close", "position", "equity")
    return FamilyCase(family("wfo"), "SMH", best, frame, columns)


def _residual_case(root: Path, tracker: Tracker | None = None) -> FamilyCase:
    bars = _minutes(6, seed=5)
    tracker, _ = _run_app(
        "tune",
        root,
        {("PLUG", "1min"): bars},
        "study=kalman_residual",
        "search=random",
        "search.n_trials=8",
        "symbol=PLUG",
        tracker=tracker,
    )
    best = _best(tracker, "kalman_residual", "PLUG")
    five = bars.set_index("timestamp")["close"].resample("5min").last().dropna()
    frame = pd.DataFrame({"timestamp": five.index, "close": five.to_numpy()})
    columns = ("timestamp", "close", "residual_z", "position", "equity")
    return FamilyCase(family("kalman_residual"), "PLUG", best, frame, columns)


def _pairs_case(root: Path, tracker: Tracker | None = None) -> FamilyCase:
    rng = np.random.default_rng(11)
    base = 100 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, 400)))
    spread = np.zeros(400)
    for t in range(1, 400):  # a mean-reverting spread: the legs are cointegrated
        spread[t] = 0.9 * spread[t - 1] + rng.normal(0, 1.0)
    dia, spy = _daily(400, seed=12, path=1.5 * base + spread), _daily(400, seed=13, path=base)
    tracker, _ = _run_app(
        "tune",
        root,
        {("DIA", "1day"): dia, ("SPY", "1day"): spy},
        "study=kalman_pairs",
        "search=grid",
        "study.screen.symbols=[DIA,SPY]",
        "study.screen.lookback_days=400",
        tracker=tracker,
    )
    [target] = tracker.targets("kalman_pairs")
    first, second = target.split("-")
    legs = {"DIA": dia, "SPY": spy}
    frame = pd.DataFrame(
        {
            "timestamp": spy["timestamp"],
            f"close_{first}": legs[first]["close"],
            f"close_{second}": legs[second]["close"],
            f"open_{first}": legs[first]["open"],
            f"open_{second}": legs[second]["open"],
        }
    )
    frame = frame.iloc[-250:].reset_index(drop=True)
    columns = ("timestamp", f"position_{first}", f"position_{second}", "value")
    best = _best(tracker, "kalman_pairs", target)
    return FamilyCase(family("kalman_pairs"), target, best, frame, columns)


def _forecast_case(root: Path, tracker: Tracker | None = None) -> FamilyCase:
    bars = _daily(300, seed=21)
    tracker, cfg = _run_app(
        "tune",
        root,
        {("SPY", "1day"): bars},
        "study=forecast",
        "model=baselines",
        "search=optuna",
        "symbol=SPY",
        "study.steps=5",
        tracker=tracker,
    )
    best = _best(tracker, "forecast", "SPY")
    frame = bars.tail(120).reset_index(drop=True)
    columns = ("step", "timestamp", "forecast_close", "forecast_return", "q10", "q90")
    return FamilyCase(family("forecast"), "SPY", best, frame, columns, rows=int(cfg.study.horizon))


def promote_case(case: FamilyCase, tracker: Any, root: Path, gates: Gates, **options: Any) -> Any:
    """Promote `case`'s target from `tracker`'s MLflow store (production files under `root`)."""
    return promote_target(
        case.spec,
        case.target,
        tracker=tracker,
        registry=MlflowRegistry.for_tracker(tracker),
        gates=gates,
        conf_dir=root / "conf_production",
        production_dir=root / "production",
        **options,
    )


BUILDERS: dict[str, Callable[..., FamilyCase]] = {
    "wfo": _wfo_case,
    "kalman_residual": _residual_case,
    "kalman_pairs": _pairs_case,
    "forecast": _forecast_case,
}


@pytest.fixture(scope="module", params=FAMILIES)
def case(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> FamilyCase:
    return BUILDERS[request.param](tmp_path_factory.mktemp(request.param))


# Bugs the suite found in adapters outside this change; strict: fixing one fails the xfail.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


@pytest.mark.parametrize("check", FAMILY_CHECKS, ids=check_id)
def test_family_contract(
    case: FamilyCase, check: FamilyCheck, request: pytest.FixtureRequest
) -> None:
    reason = KNOWN_BUGS.get((case.spec.name, check_id(check)))
    if reason is not None:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))
    check(case)


def test_every_built_in_family_has_a_case() -> None:
    assert set(BUILDERS) == set(FAMILY_MODULES) == set(FAMILIES)


# -- the suite itself: a broken adapter fails the check that is about it ----------------------
def _toy_predict(config: Any, frame: pd.DataFrame) -> pd.DataFrame:
    held = (np.arange(len(frame)) % 3 != 0).astype(float)  # enters on bar 1, exits on bar 3
    return pd.DataFrame({"timestamp": frame["timestamp"], "position": held})


def _forgetful_predict(config: Any, frame: pd.DataFrame) -> pd.DataFrame:
    """Positions from closed trades only: a trade still open at the last bar shows as flat."""
    out = _toy_predict(config, frame)
    out.loc[out.index[-1], "position"] = 0.0
    return out


_TOY_BARS = pd.DataFrame({"timestamp": pd.date_range("2026-01-02", periods=4, tz="UTC")})
_TOY = FamilySpec(
    name="contract_toy",
    objective=Objective("score"),
    config=lambda cand, target: {"symbol": target, "window": int(cand.params["window"])},
    overlay=lambda config, target: {"defaults": [{"override /x": "y"}], "window": config["window"]},
    seed_files=lambda config, target: {f"toy/{target}.json": {"window": config["window"]}},
    predict=_toy_predict,
    metric_names={"trades": "num_trades"},
    example=lambda config: InputExample(_TOY_BARS),
)
register_family(_TOY)


def _toy_case(spec: FamilySpec = _TOY, **metrics: float) -> FamilyCase:
    candidate = Candidate(
        "run-1", "AAA", metrics or {"score": 1.0, "num_trades": 5.0}, {"window": "3"}
    )
    return FamilyCase(spec, "AAA", candidate, _TOY_BARS.copy(), ("timestamp", "position"))


def _mutating_predict(config: Any, frame: pd.DataFrame) -> pd.DataFrame:
    frame["timestamp"] = frame["timestamp"] + pd.Timedelta(days=1)
    return _toy_predict(config, frame)


_calls = iter(range(1_000_000))
BROKEN: dict[str, tuple[dict[str, Any], FamilyCheck]] = {
    "config-tuple": (
        {"config": lambda c, t: {"pair": ("A", "B")}},
        check_config_is_plain_json_data,
    ),
    "config-nan": ({"config": lambda c, t: {"x": math.nan}}, check_config_is_plain_json_data),
    "config-number-as-text": (
        {"config": lambda c, t: {"window": c.params["window"]}},
        check_numeric_params_stay_numbers,
    ),
    "config-changes": (
        {"config": lambda c, t: {"call": next(_calls)}},
        check_config_is_deterministic_and_leaves_the_candidate_alone,
    ),
    "overlay-tuple": ({"overlay": lambda c, t: {"x": (1, 2)}}, check_overlay_is_hydra_yaml),
    "seed-absolute": (
        {"seed_files": lambda c, t: {"/etc/x.json": {}}},
        check_seed_files_are_json_under_relative_paths,
    ),
    "seed-not-json": (
        {"seed_files": lambda c, t: {"x.json": {"p": Path("/x")}}},
        check_seed_files_are_json_under_relative_paths,
    ),
    "round-trip": (
        {
            "config": lambda c, t: {"pair": ("A", "B")},
            "overlay": lambda c, t: {"kind": type(c["pair"]).__name__},
        },
        check_registry_round_trip_writes_the_same_files,
    ),
    "predict-columns": (
        {"predict": lambda c, f: _toy_predict(c, f)[["position"]]},
        check_predict_answers_with_the_documented_columns,
    ),
    "predict-mutates": (
        {"predict": _mutating_predict},
        check_predict_answers_with_the_documented_columns,
    ),
    "predict-forgets-the-open-trade": (
        {"predict": _forgetful_predict},
        check_predict_answers_what_is_held_now,
    ),
    "predict-never-holds": (
        {"predict": lambda c, f: _toy_predict(c, f).assign(position=0.0)},
        check_predict_answers_what_is_held_now,
    ),
    "gate-typo": (
        {"metric_names": {"trade": "num_trades"}},
        check_objective_and_gate_metrics_are_logged,
    ),
    "not-registered": ({"name": "contract_unregistered"}, check_family_is_registered),
    "example-misses-an-optional-column": (
        {"example": lambda c: InputExample(_TOY_BARS, optional=("open",))},
        check_input_example_is_answered,
    ),
    "example-empty": (
        {"example": lambda c: InputExample(_TOY_BARS.iloc[:0])},
        check_input_example_is_answered,
    ),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_the_suite_catches_a_broken_adapter(broken: str) -> None:
    changes, check = BROKEN[broken]
    for good in FAMILY_CHECKS:
        good(_toy_case())  # the toy adapter passes everything
    spec = dataclasses.replace(_TOY, **changes)
    if spec.name == _TOY.name:
        register_family(spec)
    try:
        with pytest.raises((AssertionError, TypeError, ValueError)):
            check(_toy_case(spec))
    finally:
        register_family(_TOY)


def test_the_suite_catches_an_unlogged_objective() -> None:
    with pytest.raises(AssertionError, match="score"):
        check_objective_and_gate_metrics_are_logged(_toy_case(num_trades=3.0))
