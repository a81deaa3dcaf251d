"""Kalman families end to end: tune -> promote -> registered pyfunc predicts in a fresh
process -> the production config re-runs to the same metric."""

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
OPEN_GATES = ["gates.max_pbo=null", "gates.min_deflated_sharpe=null", "gates.min_trades=1"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("kalman_promo")
    ok = run_app(
        "ingest",
        "data.daily_years=3",
        "data.minute_days=4",
        "data.symbols=[SPY,DIA,QQQ,PLUG]",
        "progress=false",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    return root


def _candidate_metric(root: Path, experiment: str, metric: str) -> list[float]:
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    runs = store_runs(
        client, experiment, "tags.candidate = 'true'", order_by=["attributes.start_time ASC"]
    )
    return [r.data.metrics[metric] for r in runs]


def _predict_in_fresh_process(root: Path, model: str, frame_code: str) -> dict:
    code = f"""
import json, mlflow, numpy as np, pandas as pd
mlflow.set_tracking_uri("sqlite:///{root}/mlruns/mlflow.db")
model = mlflow.pyfunc.load_model("models:/{model}@champion")
{frame_code}
out = model.predict(frame)
positions = float(np.abs(out.filter(like="position").to_numpy()).sum())
print(json.dumps({{"columns": list(out.columns), "rows": len(out), "positions": positions}}))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pairs_promotion_model_and_round_trip(workdir: Path) -> None:
    tune = [
        "study=kalman_pairs",
        "search=grid",
        "study.screen.symbols=[SPY,DIA,QQQ]",
        "study.screen.lookback_days=700",
    ]
    assert run_app("tune", *tune, cwd=workdir).returncode == 0
    promo = run_app("promote", "family=kalman_pairs", *OPEN_GATES, cwd=workdir)
    assert promo.returncode == 0, promo.stderr[-3000:]
    overlays = list((workdir / "conf/production/kalman_pairs").glob("*.yaml"))
    assert len(overlays) == 1
    target = overlays[0].stem
    prod = json.loads(
        (workdir / "production/kalman_pairs" / target / "kalman_prod_config.json").read_text()
    )
    assert {"window", "entry_z", "exit_z", "stop_z", "stake", "long_only", "delta", "R"} <= set(
        prod
    )

    a, b = target.split("-")
    frame_code = f"""
rng = np.random.default_rng(0)
n = 300
base = 100 + np.cumsum(rng.normal(0, 1, n))
frame = pd.DataFrame({{"timestamp": pd.date_range("2030-01-02", periods=n, freq="B", tz="UTC"),
                      "close_{a}": base * 1.5 + rng.normal(0, 2, n), "close_{b}": base}})
"""
    out = _predict_in_fresh_process(workdir, f"tradelab.kalman_pairs.{target}", frame_code)
    assert (
        out["columns"] == ["timestamp", f"position_{a}", f"position_{b}", "value"]
        and out["rows"] == 300
    )

    before = _candidate_metric(workdir, f"kalman_pairs/{target}", "sharpe")
    rerun = run_app("tune", f"+production=kalman_pairs/{target}", cwd=workdir)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    after = _candidate_metric(workdir, f"kalman_pairs/{target}", "sharpe")
    assert after[-1] == before[0]  # exactly the promoted trial's Sharpe


def test_residual_promotion_model_and_round_trip(workdir: Path) -> None:
    tune = [
        "study=kalman_residual",
        "search=random",
        "search.n_trials=6",
        "symbol=PLUG",
        "study.max_last_price=null",
    ]
    assert run_app("tune", *tune, cwd=workdir).returncode == 0
    promo = run_app(
        "promote",
        "family=kalman_residual",
        "target=PLUG",
        *OPEN_GATES,
        "gates.max_drawdown=null",
        cwd=workdir,
    )
    assert promo.returncode == 0, promo.stderr[-3000:]
    assert (workdir / "conf/production/kalman_residual/PLUG.yaml").exists()
    frame_code = """
rng = np.random.default_rng(1)
n = 2000
close = 5 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
stamps = pd.date_range("2030-01-02 14:30", periods=n, freq="5min", tz="UTC")
frame = pd.DataFrame({"timestamp": stamps, "close": close})
"""
    out = _predict_in_fresh_process(workdir, "tradelab.kalman_residual.PLUG", frame_code)
    assert (
        out["columns"] == ["timestamp", "close", "residual_z", "position", "equity"]
        and out["rows"] == 2000
    )
    before = _candidate_metric(workdir, "kalman_residual/PLUG", "score")
    rerun = run_app("tune", "+production=kalman_residual/PLUG", cwd=workdir)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert _candidate_metric(workdir, "kalman_residual/PLUG", "score")[-1] == max(before)
