"""The known answer and the bias check through the real apps: `tradelab-ingest` (planted
market) -> `tradelab-wfo grid=known_answer` -> `tradelab-promote` with the shipped gates, and
`tradelab-wfo ... check=bias` passing on a sound setup and failing on a too-short warmup."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.apps.test_cli import run_app
from tradelab.testing.mlflow_store import store_runs

pytestmark = pytest.mark.slow
COMPACT = ["phases=compact", "progress=false"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("research_apps")
    ok = run_app(
        "ingest",
        "data.mode=planted",
        "data.daily_years=8.5",
        "data.minute_days=0",
        "data.symbols=[SMH,XLF]",
        "timeframes=[1day]",
        "progress=false",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    return root


def _client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")


def _runs(root: Path, experiment: str, name: str):
    client = _client(root)
    target = experiment.split("/", 1)[1]
    runs = store_runs(client, experiment, f"attributes.run_name = '{target} {name}'")
    return client, sorted(runs, key=lambda r: r.info.start_time)


def test_planted_edge_is_promoted_and_the_null_symbol_is_not(workdir: Path) -> None:
    for symbol in ("SMH", "XLF"):
        sweep = run_app(
            "wfo",
            f"symbol={symbol}",
            "strategy=atr_d_l",
            "grid=known_answer",
            *COMPACT,
            cwd=workdir,
        )
        assert sweep.returncode == 0, sweep.stderr[-3000:]
    promo = run_app("promote", "family=wfo", cwd=workdir)
    assert promo.returncode == 0, promo.stderr[-3000:]
    decisions = json.loads((workdir / "production/decisions/wfo.json").read_text())
    assert decisions["SMH"]["verdict"] == "promote", decisions["SMH"]
    assert decisions["XLF"]["verdict"] == "refuse", decisions["XLF"]

    planted = json.loads((workdir / "data/raw/synthetic/planted.json").read_text())
    lo, hi = planted["wfo"]["atr_multiplier_region"]
    inputs = json.loads((workdir / "production/wfo/SMH.json").read_text())["inputs"]
    assert lo <= inputs["ATRMult"] <= hi
    _, parents = _runs(workdir, "wfo/SMH", "atr_d_l known_answer")
    metrics = parents[-1].data.metrics
    assert metrics["validity/pbo"] <= 0.5 and metrics["validity/deflated_sharpe"] >= 0.95
    assert metrics["validity/n_trials"] == 30


def test_bias_check_passes_and_is_logged(workdir: Path) -> None:
    result = run_app(
        "wfo",
        "symbol=SMH",
        "strategy=atr_d_ls",
        "grid=smoke",
        *COMPACT,
        "check=bias",
        "bias.n_combos=6",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "look-ahead" in result.stdout and "bias checks: PASS" in result.stdout
    client, runs = _runs(workdir, "wfo/SMH", "bias-check")
    run = runs[-1]
    assert run.info.status == "FINISHED" and run.data.tags["bias_passed"] == "true"
    m = run.data.metrics
    assert m["lookahead_violations"] == 0 and m["lookahead_events"] > 0
    assert 0 < m["warmup_max_rel_diff"] <= 0.05  # the EMA slope of atr_d_ls: small, not zero
    assert m["bias_checks_failed"] == 0 and m["warmup_checks"] == 8  # 2 strategies x 4 phases
    kids = client.search_runs(
        [run.info.experiment_id], f"tags.mlflow.parentRunId = '{run.info.run_id}'"
    )
    assert sorted(k.info.run_name for k in kids) == ["atr_d_l", "atr_d_ls"]
    local = client.download_artifacts(run.info.run_id, "bias_report.json", str(workdir))
    report = json.loads(Path(local).read_text())
    assert report["passed"] is True
    assert [s["strategy"] for s in report["strategies"]] == ["atr_d_ls", "atr_d_l"]
    assert report["strategies"][0]["settings"]["n_combos"] == 6


def test_bias_check_fails_on_a_warmup_too_short_for_the_ema(workdir: Path) -> None:
    result = run_app(
        "wfo",
        "symbol=SMH",
        "strategy=atr_d_ls",
        "grid=smoke",
        *COMPACT,
        "check=bias",
        "expand=false",
        "phases.warmup_bars=80",
        "strategy.params.ema_period.default=150",
        cwd=workdir,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "FAIL" in result.stdout and "trend" in result.stdout
    _, runs = _runs(workdir, "wfo/SMH", "bias-check")
    run = runs[-1]
    assert run.info.status == "FINISHED" and run.data.tags["bias_passed"] == "false"
    assert run.data.metrics["warmup_max_rel_diff"] > 0.05
    assert run.data.metrics["bias_checks_failed"] >= 1
