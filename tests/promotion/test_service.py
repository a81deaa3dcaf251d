"""Promotion end to end against a real SQLite MLflow store, with a small test family."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tradelab.promotion import (
    FamilySpec,
    Gates,
    Objective,
    Verdict,
    promote_target,
    register_family,
    rollback_target,
)
from tradelab.promotion import service as service_module
from tradelab.promotion.production import read_audit
from tradelab.promotion.registry import Registry, model_name
from tradelab.tracking.mlflow_tracker import MlflowTracker


def _predict(config, frame: pd.DataFrame) -> pd.DataFrame:
    fast = frame["close"].rolling(int(config["window"]), min_periods=1).mean()
    return pd.DataFrame(
        {"timestamp": frame["timestamp"], "position": np.where(frame["close"] > fast, 1.0, 0.0)}
    )


SPEC = register_family(
    FamilySpec(
        name="testfam",
        objective=Objective("score"),
        config=lambda cand, target: {"symbol": target, "window": int(cand.params["window"])},
        overlay=lambda config, target: {"symbol": config["symbol"], "window": config["window"]},
        seed_files=lambda config, target: {
            f"testfam/{target}/prod.json": {"window": config["window"]}
        },
        predict=_predict,
        metric_names={"trades": "num_trades"},
    )
)


@pytest.fixture
def env(tmp_path: Path):
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    return tracker, tmp_path / "conf_production", tmp_path / "production"


def sweep(
    tracker: MlflowTracker, target: str, trials: list[tuple[int, float]], pbo: float | None = None
) -> list[str]:
    with tracker.start_job(
        f"testfam/{target}", "sweep", tags={"data_hash": "d1", "git_commit": "c1"}
    ) as job:
        ids = [job.log_trial({"window": w}, {"score": s, "num_trades": 20}, tags={"candidate": "true"})
               for w, s in trials]  # fmt: skip
        if pbo is not None:
            job.log_metrics({"pbo": pbo})
    return ids


DEFAULT_GATES = Gates(min_trades=10)


def promote(tracker, conf, prod, gates=DEFAULT_GATES, margin=0.0):
    return promote_target(
        SPEC, "AAA", tracker=tracker, gates=gates, margin=margin, conf_dir=conf, production_dir=prod
    )


def test_better_promoted_worse_refused_twice_changes_nothing_rollback_restores(env) -> None:
    tracker, conf, prod = env
    first = sweep(tracker, "AAA", [(5, 1.0), (10, 2.0)])
    r1 = promote(tracker, conf, prod)
    assert (
        r1.decision.verdict is Verdict.promote
        and r1.candidate_run == first[1]
        and r1.champion == "1"
    )
    overlay = conf / "testfam" / "AAA.yaml"
    assert yaml.safe_load(overlay.read_text()) == {"symbol": "AAA", "window": 10}
    assert overlay.read_text().startswith("# @package _global_")
    assert json.loads((prod / "testfam/AAA/prod.json").read_text()) == {"window": 10}

    snapshot = {
        p: p.read_bytes()
        for p in [overlay, prod / "testfam/AAA/prod.json", prod / "promotions.jsonl"]
    }
    again = promote(tracker, conf, prod)
    assert again.decision.verdict is Verdict.keep and again.changed == []
    assert {p: p.read_bytes() for p in snapshot} == snapshot

    sweep(tracker, "AAA", [(20, 1.5)])  # worse than the champion
    worse = promote(tracker, conf, prod)
    assert worse.decision.verdict is Verdict.keep  # the best run overall is still the champion

    sweep(tracker, "AAA", [(30, 3.0)])
    better = promote(tracker, conf, prod)
    assert better.decision.promote and better.champion == "2"
    assert yaml.safe_load(overlay.read_text())["window"] == 30
    reg = Registry(tracker.client)
    assert reg.alias_version("testfam", "AAA", "previous") == "1"

    back = rollback_target(SPEC, "AAA", tracker=tracker, conf_dir=conf, production_dir=prod)
    assert back.champion == "1"
    assert yaml.safe_load(overlay.read_text())["window"] == 10
    assert reg.alias_version("testfam", "AAA", "champion") == "1"
    assert reg.alias_version("testfam", "AAA", "previous") is None
    actions = [r["action"] for r in read_audit(prod)]
    assert actions == ["promote", "promote", "rollback"]


def test_challenger_worse_than_champion_is_refused(env) -> None:
    tracker, conf, prod = env
    sweep(tracker, "AAA", [(10, 2.0)])
    promote(tracker, conf, prod)
    sweep(tracker, "AAA", [(12, 2.1)])
    refused = promote(tracker, conf, prod, margin=0.2)  # needs > 2.4
    assert refused.decision.verdict is Verdict.refuse and "not better" in refused.decision.reason
    assert Registry(tracker.client).alias_version("testfam", "AAA", "champion") == "1"


def test_gate_refusal_is_logged_as_a_decision_run(env) -> None:
    tracker, conf, prod = env
    sweep(tracker, "AAA", [(10, 2.0)], pbo=0.8)
    result = promote(tracker, conf, prod, gates=Gates(max_pbo=0.5))
    assert result.decision.verdict is Verdict.refuse and "pbo = 0.8" in result.decision.reason
    exp = tracker.client.get_experiment_by_name("promotion/testfam.AAA")
    runs = tracker.client.search_runs([exp.experiment_id])
    assert runs[0].data.tags["verdict"] == "refuse" and "pbo" in runs[0].data.tags["reason"]
    assert not (conf / "testfam" / "AAA.yaml").exists()


def test_crash_between_registry_and_config_write_is_repaired_by_a_rerun(env, monkeypatch) -> None:
    tracker, conf, prod = env
    sweep(tracker, "AAA", [(10, 2.0)])
    real = service_module.write_production_files

    def crash(**kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(service_module, "write_production_files", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        promote(tracker, conf, prod)
    assert Registry(tracker.client).alias_version("testfam", "AAA", "champion") == "1"
    assert not (conf / "testfam").exists() or not list((conf / "testfam").iterdir())
    monkeypatch.setattr(service_module, "write_production_files", real)
    rerun = promote(tracker, conf, prod)
    assert rerun.decision.verdict is Verdict.keep
    assert yaml.safe_load((conf / "testfam" / "AAA.yaml").read_text())["window"] == 10
    assert [r["action"] for r in read_audit(prod)] == ["reconcile"]


def test_registered_model_is_a_working_pyfunc(env) -> None:
    tracker, conf, prod = env
    sweep(tracker, "AAA", [(3, 2.0)])
    promote(tracker, conf, prod)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracker.uri)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name('testfam', 'AAA')}@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    bars = pd.DataFrame({"timestamp": pd.date_range("2025-01-02", periods=6, tz="UTC"),
                         "close": [10.0, 11.0, 12.0, 11.0, 10.0, 12.0]})  # fmt: skip
    out = model.predict(bars)
    pd.testing.assert_frame_equal(out, _predict({"window": 3}, bars))
    version = tracker.client.get_model_version(model_name("testfam", "AAA"), "1")
    assert version.tags["data_hash"] == "d1" and version.tags["git_commit"] == "c1"
    assert float(version.tags["metric.score"]) == 2.0


def test_only_candidates_on_the_latest_data_compete(env) -> None:
    tracker, conf, prod = env
    with tracker.start_job("testfam/AAA", "old", tags={"data_hash": "old"}) as job:
        job.log_trial({"window": 99}, {"score": 50.0, "num_trades": 20}, tags={"candidate": "true"})
    with tracker.start_job("testfam/AAA", "new", tags={"data_hash": "new"}) as job:
        fresh = job.log_trial({"window": 5}, {"score": 1.0, "num_trades": 20}, tags={"candidate": "true"})
    result = promote(tracker, conf, prod)
    assert result.candidate_run == fresh  # the stale 50.0 on other data does not compete


def test_a_champion_measured_on_other_data_does_not_block_fresh_results(env) -> None:
    tracker, conf, prod = env
    with tracker.start_job("testfam/AAA", "old", tags={"data_hash": "old"}) as job:
        job.log_trial({"window": 9}, {"score": 50.0, "num_trades": 20}, tags={"candidate": "true"})
    assert promote(tracker, conf, prod).champion == "1"
    with tracker.start_job("testfam/AAA", "new", tags={"data_hash": "new"}) as job:
        job.log_trial({"window": 5}, {"score": 1.0, "num_trades": 20}, tags={"candidate": "true"})
    result = promote(tracker, conf, prod)
    assert result.decision.promote and result.champion == "2"
    assert "measured on other data" in result.decision.reason
