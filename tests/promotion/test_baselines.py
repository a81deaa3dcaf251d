"""Baselines are references, not models: promotion registers one only with `allow_baselines`
(tagged and described as a baseline); otherwise the decision says that no model beats the
random walk (or the baselines). Memory and MLflow backends alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from tradelab.promotion import (
    FamilySpec,
    Gates,
    MemoryRegistry,
    MlflowRegistry,
    Objective,
    Verdict,
    promote_target,
    register_family,
)
from tradelab.promotion.registry import model_name
from tradelab.tracking import MemoryTracker
from tradelab.tracking.mlflow_tracker import MlflowTracker


def _predict(config, frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"step": [1], "forecast_close": [float(frame["close"].iloc[-1])]})


SPEC = register_family(
    FamilySpec(
        name="testforecast",
        objective=Objective("mae", maximize=False),
        config=lambda cand, target: {"symbol": target, "name": cand.params["model"]},
        overlay=lambda config, target: {"symbol": target},
        predict=_predict,
        baseline=lambda cand: cand.params["model"] if cand.params["kind"] == "baseline" else None,
        reference_baseline=("zero_return", "the random walk"),
    )
)
BASELINES = {"zero_return": 1.0, "drift": 0.8}


@pytest.fixture(params=["memory", "mlflow"])
def env(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "memory":
        tracker, registry = MemoryTracker(), MemoryRegistry()
    else:
        tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
        registry = MlflowRegistry.for_tracker(tracker)

    def run(models: dict[str, float], allow_baselines: bool = False, spec: FamilySpec = SPEC):
        with tracker.start_job(f"{spec.name}/SPY", "tune", tags={"data_hash": "d1"}) as job:
            scored = [("baseline", n, v) for n, v in BASELINES.items()]
            scored += [("model", n, v) for n, v in models.items()]
            for kind, name, mae in scored:
                params = {"kind": kind, "model": name}
                job.log_trial(params, {"mae": mae}, tags={"candidate": "true"})
        return promote_target(
            spec,
            "SPY",
            tracker=tracker,
            registry=registry,
            gates=Gates(),
            conf_dir=tmp_path / "conf",
            production_dir=tmp_path / "production",
            allow_baselines=allow_baselines,
        )

    run.registry = registry
    return run


def test_only_baselines_no_model_beats_the_random_walk(env) -> None:
    result = env({})
    assert result.decision.verdict is Verdict.refuse and result.champion is None
    assert result.decision.reason.startswith("no model beats the random walk: only baselines")
    assert "allow_baselines=true" in result.decision.reason


def test_a_model_worse_than_the_random_walk_is_refused(env) -> None:
    reason = env({"toto": 1.2}).decision.reason
    assert reason.startswith("no model beats the random walk: best model toto mae = 1.2")
    assert "zero_return 1" in reason


def test_a_model_that_beats_the_walk_but_not_drift_is_refused(env) -> None:
    result = env({"toto": 0.9})
    assert not result.decision.promote
    assert "no model beats the baselines: best model toto mae = 0.9, baseline drift 0.8" in (
        result.decision.reason
    )


def test_a_model_better_than_every_baseline_is_promoted_not_the_baselines(env) -> None:
    result = env({"toto": 0.7, "kronos": 0.75})
    assert result.decision.promote and result.champion == "1"
    assert "baseline" not in result.decision.reason.split("; candidates:")[0]
    assert env.registry.config_of("testforecast", "SPY", "1")["name"] == "toto"


def test_allow_baselines_registers_the_baseline_as_one(env) -> None:
    result = env({}, allow_baselines=True)
    assert result.decision.promote and result.champion == "1"
    assert "drift is a baseline, registered as one (allow_baselines=true)" in (
        result.decision.reason
    )
    registry = env.registry
    assert registry.config_of("testforecast", "SPY", "1")["name"] == "drift"
    if isinstance(registry, MlflowRegistry):
        version = registry.client.get_model_version(model_name("testforecast", "SPY"), "1")
        assert version.tags["baseline"] == "drift" and version.tags["kind"] == "baseline"
        assert version.description.startswith("Baseline drift for SPY: a reference forecast")


DRIFT_FIRST = register_family(
    dataclasses.replace(SPEC, name="testdrift", reference_baseline=("drift", "the drift"))
)


def test_the_family_names_the_baseline_a_model_must_beat(env) -> None:
    """The reference is the family's (FamilySpec.reference_baseline), not a fixed name."""
    reason = env({"toto": 0.9}, spec=DRIFT_FIRST).decision.reason
    assert reason.startswith("no model beats the drift: best model toto mae = 0.9, drift 0.8")
    assert "zero_return" not in reason.split(";")[0]
