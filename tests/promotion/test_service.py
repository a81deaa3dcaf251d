"""Promotion end to end with a small test family: on the in-memory tracker and registry (fast)
and on a real SQLite MLflow store (integration), the same scenarios on both."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from tradelab import faults
from tradelab.promotion import (
    FamilySpec,
    Gates,
    MemoryRegistry,
    MlflowRegistry,
    ModelRegistry,
    Objective,
    Verdict,
    find_candidates,
    promote_target,
    register_family,
    rollback_target,
)
from tradelab.promotion import service as service_module
from tradelab.promotion.journal import unfinished
from tradelab.promotion.production import JOURNAL, append_audit, read_audit, read_journal
from tradelab.promotion.registry import model_name
from tradelab.promotion.settings import CandidateScope, Scope
from tradelab.tracking import MemoryTracker, Tracker, validity
from tradelab.tracking.lineage import DVC_EXPERIMENT_TAG, DVC_STAGE_TAG, INVOCATION_TAG
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


@dataclass
class Env:
    tracker: Tracker
    registry: ModelRegistry
    conf: Path
    prod: Path

    def promote(
        self,
        gates: Gates | None = None,
        margin: float = 0.0,
        target: str = "AAA",
        scope: Scope | None = None,
    ):
        return promote_target(
            SPEC,
            target,
            tracker=self.tracker,
            registry=self.registry,
            gates=gates or DEFAULT_GATES,
            margin=margin,
            conf_dir=self.conf,
            production_dir=self.prod,
            scope=scope,
        )

    def rollback(self, target: str = "AAA"):
        return rollback_target(
            SPEC,
            target,
            tracker=self.tracker,
            registry=self.registry,
            conf_dir=self.conf,
            production_dir=self.prod,
        )


def _env(kind: str, tmp_path: Path) -> Env:
    conf, prod = tmp_path / "conf_production", tmp_path / "production"
    if kind == "memory":
        return Env(MemoryTracker(), MemoryRegistry(), conf, prod)
    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    return Env(tracker, MlflowRegistry.for_tracker(tracker), conf, prod)


@pytest.fixture(params=["memory", "mlflow"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> Env:
    return _env(request.param, tmp_path)


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Callable[[str | None], None]:
    """Arm a fault point (`point[@n]`) to raise in this process, or disarm (None)."""

    def _arm(point: str | None) -> None:
        monkeypatch.setattr(faults, "_hits", {})
        if point is None:
            monkeypatch.delenv(faults.ENV, raising=False)
        else:
            monkeypatch.setenv(faults.ENV, f"{point}:raise")

    return _arm


@pytest.fixture
def memory_env(tmp_path: Path) -> Env:
    return _env("memory", tmp_path)


@pytest.fixture
def mlflow_env(tmp_path: Path) -> Env:
    return _env("mlflow", tmp_path)


def sweep(
    env: Env,
    target: str,
    trials: list[tuple[int, float]],
    pbo: float | None = None,
    data_hash: str = "d1",
) -> list[str]:
    tags = {"data_hash": data_hash, "git_commit": "c1"}
    with env.tracker.start_job(f"testfam/{target}", "sweep", tags=tags) as job:
        ids = [
            job.log_trial({"window": w}, {"score": s, "num_trades": 20}, tags={"candidate": "true"})
            for w, s in trials
        ]
        if pbo is not None:
            job.log_metrics({"validity/pbo": pbo})
    return ids


DEFAULT_GATES = Gates(min_trades=10)


def test_better_promoted_worse_refused_twice_changes_nothing_rollback_restores(env: Env) -> None:
    first = sweep(env, "AAA", [(5, 1.0), (10, 2.0)])
    r1 = env.promote()
    assert (
        r1.decision.verdict is Verdict.promote
        and r1.candidate_run == first[1]
        and r1.champion == "1"
    )
    overlay = env.conf / "testfam" / "AAA.yaml"
    assert yaml.safe_load(overlay.read_text()) == {"symbol": "AAA", "window": 10}
    assert overlay.read_text().startswith("# @package _global_")
    assert json.loads((env.prod / "testfam/AAA/prod.json").read_text()) == {"window": 10}

    snapshot = {
        p: p.read_bytes()
        for p in [overlay, env.prod / "testfam/AAA/prod.json", env.prod / "promotions.jsonl"]
    }
    again = env.promote()
    assert again.decision.verdict is Verdict.keep and again.changed == []
    assert {p: p.read_bytes() for p in snapshot} == snapshot

    sweep(env, "AAA", [(20, 1.5)])  # worse than the champion
    worse = env.promote()  # only the latest sweep competes
    assert worse.decision.verdict is Verdict.refuse and "not better" in worse.decision.reason
    everything = env.promote(scope=Scope(CandidateScope.all))
    assert everything.decision.verdict is Verdict.keep  # the best run overall is the champion

    sweep(env, "AAA", [(30, 3.0)])
    better = env.promote()
    assert better.decision.promote and better.champion == "2"
    assert yaml.safe_load(overlay.read_text())["window"] == 30
    assert env.registry.alias_version("testfam", "AAA", "previous") == "1"

    back = env.rollback()
    assert back.champion == "1"
    assert yaml.safe_load(overlay.read_text())["window"] == 10
    assert env.registry.alias_version("testfam", "AAA", "champion") == "1"
    assert env.registry.alias_version("testfam", "AAA", "previous") is None
    actions = [r["action"] for r in read_audit(env.prod)]
    assert actions == ["promote", "promote", "rollback"]


def test_challenger_worse_than_champion_is_refused(env: Env) -> None:
    sweep(env, "AAA", [(10, 2.0)])
    env.promote()
    sweep(env, "AAA", [(12, 2.1)])
    refused = env.promote(margin=0.2)  # needs > 2.4
    assert refused.decision.verdict is Verdict.refuse and "not better" in refused.decision.reason
    assert env.registry.alias_version("testfam", "AAA", "champion") == "1"


def test_gate_refusal_is_logged_as_a_decision_run(env: Env) -> None:
    sweep(env, "AAA", [(10, 2.0)], pbo=0.8)
    result = env.promote(gates=Gates(max_pbo=0.5))
    decision = result.decision
    assert decision.verdict is Verdict.refuse and "validity/pbo = 0.8" in decision.reason
    [run] = env.tracker.find_runs("promotion/testfam.AAA")
    assert run.tags["verdict"] == "refuse" and "pbo" in run.tags["reason"]
    assert run.name == "refuse" and run.metrics["validity/pbo"] == 0.8
    assert not (env.conf / "testfam" / "AAA.yaml").exists()


def test_crash_between_registry_and_config_write_is_finished_by_a_rerun(
    env: Env, arm: Callable[[str | None], None]
) -> None:
    """The rerun finishes the interrupted promotion: it is audited as a promotion (not a
    reconciliation), on both backends."""
    [trial] = sweep(env, "AAA", [(10, 2.0)])
    arm("promotion.ready")
    with pytest.raises(faults.InjectedFault):
        env.promote()
    assert env.registry.alias_version("testfam", "AAA", "champion") == "1"
    assert not (env.conf / "testfam" / "AAA.yaml").exists()
    arm(None)
    rerun = env.promote()
    assert rerun.decision.verdict is Verdict.promote and rerun.recovered
    assert yaml.safe_load((env.conf / "testfam" / "AAA.yaml").read_text())["window"] == 10
    [record] = read_audit(env.prod)
    assert (record["action"], record["champion"], record["previous"]) == ("promote", "1", None)
    assert record["source_run"] == trial and record["reason"] == rerun.decision.reason
    assert env.promote().decision.verdict is Verdict.keep and len(read_audit(env.prod)) == 1


def test_registered_model_is_a_working_pyfunc(mlflow_env: Env) -> None:
    env = mlflow_env
    sweep(env, "AAA", [(3, 2.0)])
    env.promote()
    tracker = env.tracker
    assert isinstance(tracker, MlflowTracker)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(tracker.uri)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name('testfam', 'AAA')}@champion")
    finally:
        mlflow.set_tracking_uri(previous)
    bars = pd.DataFrame(
        {
            "timestamp": pd.date_range("2025-01-02", periods=6, tz="UTC"),
            "close": [10.0, 11.0, 12.0, 11.0, 10.0, 12.0],
        }
    )
    out = model.predict(bars)
    pd.testing.assert_frame_equal(out, _predict({"window": 3}, bars))
    version = tracker.client.get_model_version(model_name("testfam", "AAA"), "1")
    assert version.tags["data_hash"] == "d1" and version.tags["git_commit"] == "c1"
    assert float(version.tags["metric.score"]) == 2.0


def test_only_candidates_on_the_latest_data_compete(env: Env) -> None:
    with env.tracker.start_job("testfam/AAA", "old", tags={"data_hash": "old"}) as job:
        job.log_trial({"window": 99}, {"score": 50.0, "num_trades": 20}, tags={"candidate": "true"})
    with env.tracker.start_job("testfam/AAA", "new", tags={"data_hash": "new"}) as job:
        fresh = job.log_trial(
            {"window": 5}, {"score": 1.0, "num_trades": 20}, tags={"candidate": "true"}
        )
    result = env.promote()
    assert result.candidate_run == fresh  # the stale 50.0 on other data does not compete


def test_latest_data_is_found_behind_many_child_runs(env: Env) -> None:
    """The latest job is found even when more than 50 newer child runs follow it."""
    with env.tracker.start_job("testfam/AAA", "old", tags={"data_hash": "old"}) as job:
        job.log_trial({"window": 99}, {"score": 50.0, "num_trades": 20}, tags={"candidate": "true"})
    with env.tracker.start_job("testfam/AAA", "new", tags={"data_hash": "new"}) as job:
        for w in range(60):
            job.log_trial({"window": w}, {"score": 0.1 * w, "num_trades": 20}, tags={"phase": "x"})
        fresh = job.log_trial(
            {"window": 5}, {"score": 1.0, "num_trades": 20}, tags={"candidate": "true"}
        )
    assert [c.run_id for c in find_candidates(env.tracker, "testfam", "AAA")] == [fresh]


def test_a_champion_measured_on_other_data_does_not_block_fresh_results(env: Env) -> None:
    with env.tracker.start_job("testfam/AAA", "old", tags={"data_hash": "old"}) as job:
        job.log_trial({"window": 9}, {"score": 50.0, "num_trades": 20}, tags={"candidate": "true"})
    assert env.promote().champion == "1"
    with env.tracker.start_job("testfam/AAA", "new", tags={"data_hash": "new"}) as job:
        job.log_trial({"window": 5}, {"score": 1.0, "num_trades": 20}, tags={"candidate": "true"})
    result = env.promote()
    assert result.decision.promote and result.champion == "2"
    assert "measured on other data" in result.decision.reason


# -- fast tests of the service's rules on the in-memory tracker and registry ------------------
def test_candidates_carry_parent_statistics_and_job_context(memory_env: Env) -> None:
    config = {"study": {"horizon": 1}}
    with memory_env.tracker.start_job(
        "testfam/AAA", "sweep", tags={"data_hash": "d1"}, params={"grid": "g"}, config=config
    ) as job:
        trial = job.log_trial(
            {"window": 3}, {"score": 1.0, "validity/pbo": 0.1}, tags={"candidate": "true"}
        )
        stats = {"pbo": 0.7, "deflated_sharpe": 0.99, "n_trials": 8.0}
        job.log_metrics({**validity(stats), "other": 1.0, "pbo": 0.5})
    [cand] = find_candidates(memory_env.tracker, "testfam", "AAA")
    assert cand.run_id == trial and cand.target == "AAA"
    # the trial's own value wins; the parent's statistics fill in; other metrics stay behind
    assert dict(cand.metrics) == {
        "score": 1.0,
        "validity/pbo": 0.1,
        "validity/deflated_sharpe": 0.99,
        "validity/n_trials": 8.0,
    }
    assert cand.context == {"params": {"grid": "g"}, "config": config}
    assert cand.params == {"window": "3"} and cand.tags["candidate"] == "true"


def test_candidates_of_failed_or_running_jobs_do_not_compete(memory_env: Env) -> None:
    tracker = memory_env.tracker
    with pytest.raises(RuntimeError):
        with tracker.start_job("testfam/AAA", "failed", tags={"data_hash": "d1"}) as job:
            job.log_trial({"window": 1}, {"score": 9.0}, tags={"candidate": "true"})
            raise RuntimeError("boom")
    running = tracker.start_job("testfam/AAA", "running", tags={"data_hash": "d1"})
    running.log_trial({"window": 2}, {"score": 8.0}, tags={"candidate": "true"})
    finished = sweep(memory_env, "AAA", [(3, 1.0)])
    assert [c.run_id for c in find_candidates(tracker, "testfam", "AAA")] == finished
    assert find_candidates(tracker, "testfam", "BBB") == []
    running.end()


def test_no_candidate_is_refused_and_writes_nothing(memory_env: Env) -> None:
    result = memory_env.promote()
    assert result.decision.verdict is Verdict.refuse and result.candidate_run is None
    assert result.champion is None and result.changed == []
    assert read_audit(memory_env.prod) == []
    assert memory_env.tracker.find_runs("promotion/testfam.AAA")[0].name == "refuse"


def test_deleted_production_files_are_reconciled_from_the_champion(memory_env: Env) -> None:
    sweep(memory_env, "AAA", [(10, 2.0)])
    memory_env.promote()
    overlay = memory_env.conf / "testfam" / "AAA.yaml"
    overlay.unlink()
    result = memory_env.promote()
    assert result.decision.verdict is Verdict.keep and result.changed == [str(overlay)]
    assert yaml.safe_load(overlay.read_text())["window"] == 10
    assert [r["action"] for r in read_audit(memory_env.prod)] == ["promote", "reconcile"]
    header = overlay.read_text().splitlines()[1:3]
    assert "registered model tradelab.testfam.AAA version 1" in " ".join(header)


def test_a_crash_after_registering_reuses_the_version(
    memory_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = memory_env.registry
    assert isinstance(registry, MemoryRegistry)
    sweep(memory_env, "AAA", [(10, 2.0)])
    real = MemoryRegistry.set_aliases

    def crash(self, *args, **kwargs):
        raise RuntimeError("power cut")

    monkeypatch.setattr(MemoryRegistry, "set_aliases", crash)
    with pytest.raises(RuntimeError, match="power cut"):
        memory_env.promote()
    assert registry.champion("testfam", "AAA") is None
    monkeypatch.setattr(MemoryRegistry, "set_aliases", real)
    result = memory_env.promote()
    assert result.decision.promote and result.champion == "1"
    assert [v.version for v in registry.versions("testfam", "AAA")] == ["1"]
    [promoted, failed] = memory_env.tracker.find_runs("promotion/testfam.AAA")  # newest first
    assert failed.status.value == "FAILED" and "power cut" in failed.tags["error"]
    assert promoted.tags["promoted_version"] == "1"
    assert registry.versions("testfam", "AAA")[0].run_id == failed.run_id


def test_registered_version_carries_config_lineage_and_metrics(memory_env: Env) -> None:
    registry = memory_env.registry
    assert isinstance(registry, MemoryRegistry)
    [trial] = sweep(memory_env, "AAA", [(10, 2.0)])
    memory_env.promote()
    [version] = registry.versions("testfam", "AAA")
    assert version.config == {"symbol": "AAA", "window": 10}
    assert dict(version.tags) == {
        "data_hash": "d1",
        "git_commit": "c1",
        "config_hash": "unknown",
        "kind": "strategy",
        "gates": "min_trades: num_trades = 20 meets >= 10; beats_champion: no champion yet",
        "source_run": trial,
        "metric.score": "2.0",
        "metric.num_trades": "20.0",
    }
    assert registry.aliases("testfam", "AAA") == {"champion": "1"}


def test_rollback_without_previous_is_refused_and_changes_nothing(memory_env: Env) -> None:
    refused = memory_env.rollback()
    assert refused.decision.verdict is Verdict.refuse and "nothing to roll back" in (
        refused.decision.reason
    )
    sweep(memory_env, "AAA", [(10, 2.0)])
    memory_env.promote()
    again = memory_env.rollback()
    assert again.decision.verdict is Verdict.refuse and again.champion == "1"
    assert memory_env.registry.alias_version("testfam", "AAA", "champion") == "1"
    assert [r["action"] for r in read_audit(memory_env.prod)] == ["promote"]
    runs = memory_env.tracker.find_runs("promotion/testfam.AAA")
    assert [r.name for r in runs] == ["rollback refuse", "promote", "rollback refuse"]


def test_rollback_restores_the_version_before_previous(memory_env: Env) -> None:
    for window, score in ((10, 1.0), (20, 2.0), (30, 3.0)):
        sweep(memory_env, "AAA", [(window, score)])
        assert memory_env.promote().decision.promote
    assert memory_env.registry.alias_version("testfam", "AAA", "previous") == "2"
    back = memory_env.rollback()
    assert back.champion == "2"
    assert memory_env.registry.alias_version("testfam", "AAA", "previous") == "1"
    record = read_audit(memory_env.prod)[-1]
    assert (record["action"], record["champion"], record["previous"], record["replaced"]) == (
        "rollback",
        "2",
        "1",
        "3",
    )


def test_targets_are_separate(memory_env: Env) -> None:
    sweep(memory_env, "AAA", [(10, 2.0)])
    sweep(memory_env, "BBB", [(20, 1.0)])
    assert service_module.targets_of(memory_env.tracker, "testfam") == ["AAA", "BBB"]
    assert memory_env.promote(target="BBB").champion == "1"
    assert memory_env.promote(target="AAA").champion == "1"
    assert yaml.safe_load((memory_env.conf / "testfam" / "BBB.yaml").read_text())["window"] == 20


def test_library_code_prints_nothing(memory_env: Env, capsys: pytest.CaptureFixture) -> None:
    sweep(memory_env, "AAA", [(10, 2.0)])
    memory_env.promote()
    memory_env.rollback()
    assert capsys.readouterr() == ("", "")


# -- which runs compete: the latest sweep, the DVC experiment, the pipeline's stages ----------
def tagged_sweep(
    env: Env,
    target: str,
    score: float,
    invocation: str,
    *,
    stage: str | None = None,
    experiment: str | None = None,
    window: int = 1,
) -> str:
    """One parent run as an app logs it (lineage tags of its invocation and DVC context) with
    one candidate; return the candidate's id."""
    tags = {"data_hash": "d1", INVOCATION_TAG: invocation}
    if stage:
        tags[DVC_STAGE_TAG] = stage
    if experiment:
        tags[DVC_EXPERIMENT_TAG] = experiment
    with env.tracker.start_job(f"testfam/{target}", "sweep", tags=tags) as job:
        return job.log_trial(
            {"window": window}, {"score": score, "num_trades": 20}, tags={"candidate": "true"}
        )


def test_the_latest_sweep_competes_not_an_older_bigger_one(env: Env) -> None:
    tagged_sweep(env, "AAA", 50.0, "demo-call")  # an older sweep on the same data
    tagged_sweep(env, "AAA", 1.0, "smoke-call", window=2)  # one call, two variants
    best = tagged_sweep(env, "AAA", 2.0, "smoke-call", window=3)
    result = env.promote()
    assert result.candidate_run == best
    assert "candidates: the latest invocation of testfam/AAA (smoke-call; 2 job(s), " in (
        result.decision.reason
    )
    assert len(find_candidates(env.tracker, "testfam", "AAA")) == 2
    everything = find_candidates(env.tracker, "testfam", "AAA", Scope(CandidateScope.all))
    assert len(everything) == 3


def test_a_dvc_experiment_promotes_from_its_own_runs(memory_env: Env) -> None:
    stage = "pipelines/wfo/dvc.yaml:single@AAA"
    tagged_sweep(memory_env, "AAA", 50.0, "repro-1", stage=stage)
    mine = tagged_sweep(memory_env, "AAA", 1.0, "exp-1", stage=stage, experiment="smoke-exp")
    tagged_sweep(memory_env, "AAA", 99.0, "cli-1")  # a later run outside DVC
    scope = Scope(dvc_experiment="smoke-exp", pipeline=True)
    result = memory_env.promote(scope=scope)
    assert result.candidate_run == mine
    assert "each stage of DVC experiment 'smoke-exp' in testfam/AAA" in result.decision.reason


def test_the_pipeline_promotes_the_latest_run_of_each_stage(memory_env: Env) -> None:
    one, two = "pipelines/p/dvc.yaml:one@AAA", "pipelines/p/dvc.yaml:two@AAA"
    tagged_sweep(memory_env, "AAA", 5.0, "repro-1", stage=one)  # superseded by repro-2
    latest_one = tagged_sweep(memory_env, "AAA", 1.0, "repro-2", stage=one)
    latest_two = tagged_sweep(memory_env, "AAA", 3.0, "repro-1", stage=two)
    tagged_sweep(memory_env, "AAA", 99.0, "cli-1")  # outside the pipeline
    scope = Scope(pipeline=True)
    found = find_candidates(memory_env.tracker, "testfam", "AAA", scope)
    assert {c.run_id for c in found} == {latest_one, latest_two}
    result = memory_env.promote(scope=scope)
    assert result.candidate_run == latest_two
    assert f"each DVC stage in testfam/AAA ({two}: repro-1, {one}: repro-2;" in (
        result.decision.reason
    )


def test_an_experiment_that_did_not_run_a_target_falls_back_to_the_pipeline(
    memory_env: Env,
) -> None:
    stage = "pipelines/wfo/dvc.yaml:single@AAA"
    tagged_sweep(memory_env, "AAA", 5.0, "repro-1", stage=stage)
    latest = tagged_sweep(memory_env, "AAA", 1.0, "repro-2", stage=stage)
    tagged_sweep(memory_env, "AAA", 99.0, "cli-1")
    result = memory_env.promote(scope=Scope(dvc_experiment="gates-only", pipeline=True))
    assert result.candidate_run == latest
    assert "DVC experiment 'gates-only' ran nothing for AAA" in result.decision.reason


def test_a_multirun_over_symbols_is_each_targets_latest_sweep(memory_env: Env) -> None:
    on_aaa = tagged_sweep(memory_env, "AAA", 1.0, "multirun-1")
    tagged_sweep(memory_env, "BBB", 1.0, "multirun-1")
    on_bbb = tagged_sweep(memory_env, "BBB", 0.5, "single-bbb")
    assert [c.run_id for c in find_candidates(memory_env.tracker, "testfam", "AAA")] == [on_aaa]
    assert [c.run_id for c in find_candidates(memory_env.tracker, "testfam", "BBB")] == [on_bbb]


def test_no_candidate_in_scope_says_where_it_looked(memory_env: Env) -> None:
    tagged_sweep(memory_env, "AAA", 1.0, "cli-1")
    result = memory_env.promote(scope=Scope(pipeline=True))
    assert result.decision.verdict is Verdict.refuse and result.candidate_run is None
    assert result.decision.reason.endswith("each DVC stage in testfam/AAA (none)")


# -- crashes: the write-ahead journal finishes what a crash interrupted -----------------------
def _after(method: str) -> Callable[[pytest.MonkeyPatch], None]:
    """Make `MemoryRegistry.<method>` crash right after it did its work."""

    def patch(monkeypatch: pytest.MonkeyPatch) -> None:
        real = getattr(MemoryRegistry, method)

        def crashing(self, *args, **kwargs):
            real(self, *args, **kwargs)
            raise faults.InjectedFault(f"crash after {method}")

        monkeypatch.setattr(MemoryRegistry, method, crashing)

    return patch


PROMOTE_CRASHES = {
    "intent": "promotion.intent",
    "registered": _after("register"),
    "aliases": _after("set_aliases"),
    "ready": "promotion.ready",
    "file-1": "promotion.file@1",
    "file-2": "promotion.file@2",
    "before-audit": "promotion.audit.before",
    "after-audit": "promotion.audit.after",
    "done": "promotion.done",
}


def _crash_at(
    where: str | Callable[[pytest.MonkeyPatch], None],
    arm: Callable[[str | None], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if isinstance(where, str):
        arm(where)
    else:
        where(monkeypatch)


def _normal(records: list[dict]) -> list[dict]:
    """Audit records without their time and intent id."""
    return [{k: v for k, v in r.items() if k not in ("time", "intent")} for r in records]


def _two_promotions(env: Env) -> tuple[str, str]:
    """Promote a first sweep, then log a second that beats it; return both candidates."""
    [first] = sweep(env, "AAA", [(10, 2.0)])
    assert env.promote().champion == "1"
    [second] = sweep(env, "AAA", [(30, 3.0)])
    return first, second


@pytest.mark.parametrize("where", list(PROMOTE_CRASHES.values()), ids=list(PROMOTE_CRASHES))
def test_a_crash_at_any_step_of_a_promotion_is_finished_exactly_by_the_rerun(
    memory_env: Env,
    arm: Callable[[str | None], None],
    monkeypatch: pytest.MonkeyPatch,
    where,
) -> None:
    env = memory_env
    first, second = _two_promotions(env)
    _crash_at(where, arm, monkeypatch)
    with pytest.raises(faults.InjectedFault):
        env.promote()
    [crashed] = env.tracker.find_runs("promotion/testfam.AAA", limit=1)
    assert crashed.status.value == "FAILED"
    monkeypatch.undo()
    arm(None)
    rerun = env.promote()
    assert rerun.decision.verdict in (Verdict.promote, Verdict.keep)  # keep: it was done
    assert rerun.champion == "2" and rerun.recovered == (where != "promotion.done")
    records = read_audit(env.prod)
    assert _normal(records)[1] == {
        "action": "promote",
        "family": "testfam",
        "target": "AAA",
        "champion": "2",
        "previous": "1",
        "source_run": second,
        "reason": crashed.tags["reason"],
        "files": [str(env.conf / "testfam/AAA.yaml"), str(env.prod / "testfam/AAA/prod.json")],
    }
    assert len(records) == 2 and records[0]["source_run"] == first
    assert env.registry.aliases("testfam", "AAA") == {"champion": "2", "previous": "1"}
    assert [v.version for v in env.registry.versions("testfam", "AAA")] == ["1", "2"]
    assert yaml.safe_load((env.conf / "testfam/AAA.yaml").read_text())["window"] == 30
    assert json.loads((env.prod / "testfam/AAA/prod.json").read_text()) == {"window": 30}
    assert unfinished(env.prod, "testfam", "AAA") == []
    assert env.promote().decision.verdict is Verdict.keep and len(read_audit(env.prod)) == 2
    back = env.rollback()  # the rollback history is intact
    assert back.champion == "1" and env.registry.aliases("testfam", "AAA") == {"champion": "1"}


@pytest.mark.parametrize(
    "where",
    ["promotion.intent", _after("set_aliases"), "promotion.file@1", "promotion.audit.after"],
    ids=["intent", "aliases", "file-1", "after-audit"],
)
def test_an_interrupted_rollback_is_finished_not_repeated(
    memory_env: Env,
    arm: Callable[[str | None], None],
    monkeypatch: pytest.MonkeyPatch,
    where,
) -> None:
    env = memory_env
    for window, score in ((10, 1.0), (20, 2.0), (30, 3.0)):
        sweep(env, "AAA", [(window, score)])
        assert env.promote().decision.promote
    _crash_at(where, arm, monkeypatch)
    with pytest.raises(faults.InjectedFault):
        env.rollback()
    monkeypatch.undo()
    arm(None)
    again = env.rollback()
    assert again.recovered and again.champion == "2"
    assert env.registry.aliases("testfam", "AAA") == {"champion": "2", "previous": "1"}
    record = _normal(read_audit(env.prod))[-1]
    assert (record["action"], record["champion"], record["previous"], record["replaced"]) == (
        "rollback",
        "2",
        "1",
        "3",
    )
    assert [r["action"] for r in read_audit(env.prod)] == ["promote"] * 3 + ["rollback"]
    assert yaml.safe_load((env.conf / "testfam/AAA.yaml").read_text())["window"] == 20


def test_an_interrupted_promotion_is_finished_before_a_rollback(
    memory_env: Env, arm: Callable[[str | None], None]
) -> None:
    env = memory_env
    _two_promotions(env)
    arm("promotion.intent")
    with pytest.raises(faults.InjectedFault):
        env.promote()
    arm(None)
    back = env.rollback()  # finishes promoting version 2, then rolls it back
    assert not back.recovered and back.champion == "1"
    assert [r["action"] for r in read_audit(env.prod)] == ["promote", "promote", "rollback"]
    runs = [r.name for r in env.tracker.find_runs("promotion/testfam.AAA")]
    assert runs[:2] == ["rollback promote", "recover promote"]


def test_an_interrupted_reconciliation_lists_every_file_it_rewrote(
    memory_env: Env, arm: Callable[[str | None], None]
) -> None:
    env = memory_env
    sweep(env, "AAA", [(10, 2.0)])
    env.promote()
    (env.conf / "testfam/AAA.yaml").unlink()
    (env.prod / "testfam/AAA/prod.json").unlink()
    arm("promotion.file@1")
    with pytest.raises(faults.InjectedFault):
        env.promote()
    assert (env.conf / "testfam/AAA.yaml").exists()  # the first file was rewritten
    arm(None)
    rerun = env.promote()
    assert rerun.recovered and rerun.decision.verdict is Verdict.keep
    record = read_audit(env.prod)[-1]
    assert record["action"] == "reconcile" and record["files"] == [
        str(env.conf / "testfam/AAA.yaml"),
        str(env.prod / "testfam/AAA/prod.json"),
    ]
    assert json.loads((env.prod / "testfam/AAA/prod.json").read_text()) == {"window": 10}


def test_the_journal_records_the_intent_before_the_registry_changes(
    memory_env: Env, arm: Callable[[str | None], None]
) -> None:
    env = memory_env
    _, second = _two_promotions(env)
    arm("promotion.intent")
    with pytest.raises(faults.InjectedFault):
        env.promote()
    [intent] = unfinished(env.prod, "testfam", "AAA")
    assert (intent.action, intent.champion, intent.previous, intent.source_run) == (
        "promote",
        None,  # not registered yet
        "1",
        second,
    )
    assert intent.files == [
        str(env.conf / "testfam/AAA.yaml"),
        str(env.prod / "testfam/AAA/prod.json"),
    ]
    assert intent.register is not None and intent.register["config"] == {
        "symbol": "AAA",
        "window": 30,
    }
    assert [v.version for v in env.registry.versions("testfam", "AAA")] == ["1"]
    arm(None)
    env.promote()
    ops = [r["op"] for r in read_journal(env.prod)]
    assert ops == ["intent", "ready", "done"] * 2  # the rerun finished the second intent


def test_a_torn_last_line_is_skipped_and_not_glued_to_the_next(tmp_path: Path) -> None:
    append_audit(tmp_path, {"action": "promote", "champion": "1"})
    with open(tmp_path / "promotions.jsonl", "a") as handle:
        handle.write('{"action": "prom')  # a power cut mid-write
    append_audit(tmp_path, {"action": "rollback", "champion": "2"})
    assert [r["action"] for r in read_audit(tmp_path)] == ["promote", "rollback"]
    assert not (tmp_path / JOURNAL).exists()
