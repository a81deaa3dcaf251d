"""`tradelab-promote` in process: it builds the MLflow tracker and registry, prints each
decision (the library does not), and refuses a tracking backend without a registry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from tradelab.apps import promote as promote_app
from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs
from tradelab.errors import ConfigError
from tradelab.promotion import Decision, MlflowRegistry, PromotionResult, Verdict
from tradelab.promotion.rules import Check
from tradelab.tracking.lineage import Lineage
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_service import SPEC

pytestmark = pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning")


def _cfg(*overrides: str):
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(config_name="promote", overrides=list(overrides))


def test_memory_tracking_is_refused_with_a_clear_error(in_tmp: Path) -> None:
    with pytest.raises(ConfigError, match="tracking=mlflow"):
        promote_app.run(_cfg("tracking=memory", f"family={SPEC.name}"))


def test_promote_app_promotes_every_target_and_prints_each_decision(
    in_tmp: Path, capsys: pytest.CaptureFixture
) -> None:
    tracker = MlflowTracker("sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    for target, score in (("AAA", 2.0), ("BBB", 1.0)):
        with tracker.start_job(f"testfam/{target}", "sweep", tags={"data_hash": "d1"}) as job:
            job.log_trial(
                {"window": 4}, {"score": score, "num_trades": 20}, tags={"candidate": "true"}
            )
    assert promote_app.run(_cfg(f"family={SPEC.name}", "gates.max_drawdown=null")) == 2
    err = capsys.readouterr().err
    assert "PROMOTE testfam/AAA" in err and "PROMOTE testfam/BBB" in err
    assert "ok  min_trades: num_trades = 20 meets >= 10" in err
    decisions = json.loads((in_tmp / "production" / "decisions" / "testfam.json").read_text())
    assert {t: d["champion"] for t, d in decisions.items()} == {"AAA": "1", "BBB": "1"}

    assert promote_app.run(_cfg(f"family={SPEC.name}", "target=AAA", "action=rollback")) == 0
    assert "REFUSE testfam/AAA: nothing to roll back" in capsys.readouterr().err


def test_print_result_shows_verdict_reason_champion_and_checks(capsys) -> None:
    checks = (Check("min_trades", True, "ok"), Check("max_pbo", False, "too high"))
    result = PromotionResult("wfo", "SMH", Decision(Verdict.refuse, "gate failed", checks), "3")
    promote_app.print_result(result)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "REFUSE wfo/SMH: gate failed (champion: version 3)"
    assert [line.strip() for line in lines[1:]] == ["ok  min_trades: ok", "NO  max_pbo: too high"]


def test_print_result_says_when_it_finished_an_interrupted_promotion(capsys) -> None:
    result = PromotionResult("wfo", "SMH", Decision(Verdict.promote, "better"), "2", recovered=True)
    promote_app.print_result(result)
    first = capsys.readouterr().err.splitlines()[0]
    assert first == "PROMOTE wfo/SMH: better (champion: version 2) (completed after a crash)"


def _sweep(tracker: MlflowTracker, target: str, score: float, window: int = 4) -> str:
    """A parent run tagged as an app tags it in this environment (DVC variables included)."""
    tags = Lineage.collect("h", data_hash="d1").tags()
    with tracker.start_job(f"testfam/{target}", "sweep", tags=tags) as job:
        return job.log_trial(
            {"window": window}, {"score": score, "num_trades": 20}, tags={"candidate": "true"}
        )


def test_the_decisions_file_keeps_the_latest_decision_of_every_target(in_tmp: Path) -> None:
    tracker = MlflowTracker("sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    _sweep(tracker, "AAA", 2.0)
    _sweep(tracker, "BBB", 1.0)
    promote_app.run(_cfg(f"family={SPEC.name}", "gates.max_drawdown=null"))
    path = in_tmp / "production" / "decisions" / "testfam.json"
    assert json.loads(path.read_text())["BBB"]["verdict"] == "promote"
    promote_app.run(_cfg(f"family={SPEC.name}", "target=AAA", "gates.max_drawdown=null"))
    decisions = json.loads(path.read_text())
    assert set(decisions) == {"AAA", "BBB"}  # a one-target promotion drops no other target
    assert decisions["AAA"]["verdict"] == "keep" and decisions["BBB"]["verdict"] == "promote"


def test_inside_dvc_exp_run_the_experiment_runs_compete(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = MlflowTracker("sqlite:///mlruns/mlflow.db", "mlruns/artifacts")
    stage = "pipelines/wfo/dvc.yaml:single@AAA"
    monkeypatch.setenv("DVC_STAGE", stage)
    monkeypatch.setenv("TRADELAB_INVOCATION", "repro-demo")
    _sweep(tracker, "AAA", 50.0, window=9)  # the older, bigger demo sweep of `dvc repro`
    monkeypatch.setenv("DVC_EXP_NAME", "smoke-exp")
    monkeypatch.setenv("DVC_EXP_BASELINE_REV", "abc123")
    monkeypatch.setenv("TRADELAB_INVOCATION", "exp-smoke")
    smoke = _sweep(tracker, "AAA", 2.0, window=3)
    monkeypatch.delenv("DVC_EXP_NAME")
    monkeypatch.setenv("TRADELAB_INVOCATION", "cli")
    monkeypatch.delenv("DVC_STAGE")
    _sweep(tracker, "AAA", 99.0, window=7)  # a later run outside DVC
    monkeypatch.setenv("DVC_STAGE", "promote")  # the promote stage of the experiment
    monkeypatch.setenv("DVC_EXP_NAME", "smoke-exp")
    assert promote_app.run(_cfg(f"family={SPEC.name}", "gates.max_drawdown=null")) == 1
    decision = json.loads((in_tmp / "production/decisions/testfam.json").read_text())["AAA"]
    assert "DVC experiment 'smoke-exp'" in decision["reason"]
    registry = MlflowRegistry.for_tracker(tracker)
    champion = registry.champion(SPEC.name, "AAA")
    assert champion is not None and champion.source_run == smoke
    # candidates=all: every finished candidate on the latest data, wherever it ran
    assert promote_app.run(_cfg(f"family={SPEC.name}", "candidates=all")) == 1
    assert registry.config_of(SPEC.name, "AAA", "2")["window"] == 7
