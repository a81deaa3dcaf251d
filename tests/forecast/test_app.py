"""`tradelab-tune study=forecast` end to end with a tiny Toto built from the real classes:
tune -> candidates -> promotion -> the registered model forecasts in a fresh process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.apps.test_cli import run_app
from tradelab.testing.mlflow_store import store_runs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("forecast_app")
    ok = run_app(
        "ingest",
        "data.daily_years=2",
        "data.minute_days=0",
        "data.symbols=[AAPL,SPY]",
        "progress=false",
        "timeframes=[1day]",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    return root


def test_missing_weights_fail_before_anything_is_written(workdir: Path) -> None:
    result = run_app(
        "tune",
        "study=forecast",
        "symbol=AAPL",
        "model=toto",
        "model.weights_dir=/nonexistent/toto",
        cwd=workdir,
    )
    assert result.returncode != 0
    assert "/nonexistent/toto" in result.stderr and "download" in result.stderr.lower()
    assert not (workdir / "results" / "hyperparams_optimized_all" / "toto").exists()


def test_tune_promote_and_predict_with_a_tiny_toto(workdir: Path, toto_dir: Path) -> None:
    tune = run_app(
        "tune",
        "study=forecast",
        "symbol=AAPL",
        "model=toto",
        f"model.weights_dir={toto_dir}",
        "search.n_trials=4",
        "search.batch_size=2",
        "model.context_length=128",
        "model.search_space.num_samples=[16,32]",
        cwd=workdir,
    )
    assert tune.returncode == 0, tune.stderr[-3000:]
    result = json.loads((workdir / "results/hyperparams_optimized_all/toto/AAPL.json").read_text())
    assert result["symbol"] == "AAPL" and result["model_type"] == "toto"
    assert set(result["validation"]) >= {"price_mae", "pct_return_mae", "latency_s"}

    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    runs = store_runs(client, "forecast/AAPL")
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parent] == ["FINISHED"]
    trials = [r for r in runs if r.info.run_name.startswith("trial ")]
    assert len(trials) == 4 and all("model_calls" in r.data.metrics for r in trials)
    candidates = {r.data.params["model"] for r in runs if r.data.tags.get("candidate") == "true"}
    assert candidates == {"toto", "zero_return", "drift", "lookback_median"}

    scored = [r for r in runs if r.data.tags.get("candidate") == "true"]
    best_run = min(scored, key=lambda r: r.data.metrics["pct_return_mae"])
    promo = run_app("promote", "family=forecast", "target=AAPL", cwd=workdir)
    assert promo.returncode == 0, promo.stderr[-3000:]
    decision = json.loads((workdir / "production/decisions/forecast.json").read_text())["AAPL"]
    if best_run.data.params["kind"] == "baseline":  # a random tiny Toto: a baseline is best
        assert decision["verdict"] == "refuse"
        assert decision["reason"].startswith("no model beats the"), decision["reason"]
        promo = run_app(
            "promote", "family=forecast", "target=AAPL", "allow_baselines=true", cwd=workdir
        )
        assert promo.returncode == 0, promo.stderr[-3000:]
    best = json.loads((workdir / "production/hyperparams/best/AAPL.json").read_text())
    assert best["symbol"] == "AAPL" and best["model_type"] in candidates

    code = f"""
import mlflow, pandas as pd
from tradelab.data import ParquetStore
mlflow.set_tracking_uri("sqlite:///{workdir}/mlruns/mlflow.db")
model = mlflow.pyfunc.load_model("models:/tradelab.forecast.AAPL@champion")
bars = ParquetStore("{workdir}/data/store").read("AAPL", "1day").tail(200)
out = model.predict(bars)
print(list(out.columns), len(out), float(out["forecast_close"].iloc[0]) > 0)
"""
    fresh = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    last = fresh.stdout.strip().splitlines()[-1]
    assert "'forecast_close'" in last and last.endswith("1 True")


def test_without_weights_the_baselines_run_and_say_so(workdir: Path) -> None:
    result = run_app(
        "tune", "study=forecast", "symbol=SPY", "metrics_file=metrics/forecast.json", cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = (result.stdout + result.stderr).lower()
    assert "toto" in output and "unavailable" in output
    summary = json.loads((workdir / "results/forecast/SPY/summary.json").read_text())
    assert summary["best_kind"] == "baseline"
    assert set(summary["candidates"]) == {"zero_return", "drift", "lookback_median"}
    metrics = json.loads((workdir / "metrics/forecast.json").read_text())
    # one flat schema, the same keys for any number of symbols (dvc metrics show, exp show)
    assert metrics["median_best_mae"] == pytest.approx(summary["best_mae"])
    assert metrics["symbols"] == 1.0 and not any(isinstance(v, dict) for v in metrics.values())
