"""`tracking=server` end to end: a sweep, a promotion, the report and their artifacts on a shared
MLflow tracking server (PostgreSQL store, proxied artifacts), nothing written to a local store.

The server is the session's `mlflow_server` (CI's shared one under xdist): each test keeps to a
namespace of its own, so fixed names (`wfo/SMH`, `tradelab.wfo.SMH`) never collide.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

from tradelab.promotion import MlflowRegistry
from tradelab.promotion.registry import CHAMPION
from tradelab.tracking import RunStatus
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_cli import run_app

pytestmark = pytest.mark.slow
NO_GATES = [
    f"gates.{gate}=null"
    for gate in ("min_deflated_sharpe", "max_pbo", "min_phases_valid", "min_trades", "max_drawdown")
]


def test_sweep_promotion_and_report_on_a_tracking_server(
    mlflow_server: str, tmp_path: Path
) -> None:
    ns = f"e2e-{uuid.uuid4().hex[:12]}"
    server = ["tracking=server", f"tracking.uri={mlflow_server}", f"tracking.namespace={ns}"]
    ingest = run_app(
        "ingest",
        "data.mode=planted",
        "data.daily_years=8.5",
        "data.minute_days=0",
        "data.symbols=[SMH]",
        "timeframes=[1day]",
        "progress=false",
        *server,
        cwd=tmp_path,
    )
    assert ingest.returncode == 0, ingest.stderr[-3000:]
    sweep = run_app(
        "wfo",
        "symbol=SMH",
        "strategy=atr_d_l",
        "grid=smoke",
        "phases=compact",
        "progress=false",
        *server,
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stderr[-3000:]
    assert "View run" not in sweep.stdout  # MLflow's per-run links stay quiet
    promo = run_app("promote", "family=wfo", "target=SMH", *NO_GATES, *server, cwd=tmp_path)
    assert promo.returncode == 0, promo.stderr[-3000:]
    assert "PROMOTE wfo/SMH" in promo.stderr
    report = run_app("report", *server, cwd=tmp_path)
    assert report.returncode == 0, report.stderr[-3000:]
    assert not (tmp_path / "mlruns").exists()  # no local store, no local artifacts

    # what another machine sees: the runs, the registered version and its alias, the artifacts
    tracker = MlflowTracker(mlflow_server, None, namespace=ns)
    [job] = tracker.find_runs("wfo/SMH", top_level=True)
    assert job.status is RunStatus.FINISHED and job.tags["strategy"] == "atr_d_l"
    config = yaml.safe_load(tracker.load_text(job.run_id, "config.yaml"))
    assert config["symbol"] == "SMH" and config["tracking"]["uri"] == mlflow_server
    client = MlflowClient(mlflow_server, registry_uri=mlflow_server)
    name = f"{ns}.tradelab.wfo.SMH"
    champion = client.get_model_version_by_alias(name, CHAMPION)
    assert champion.version == "1"
    source = tracker.get_run(champion.tags["source_run"])
    assert source.parent_id == job.run_id and source.tags["candidate"] == "true"
    registry = MlflowRegistry.for_tracker(tracker)
    assert registry.alias_version("wfo", "SMH", CHAMPION) == "1"
    production = yaml.safe_load((tmp_path / "conf/production/wfo/SMH.yaml").read_text())
    stored = registry.config_of("wfo", "SMH", "1")  # the model's own file, through the server
    assert stored["symbol"] == "SMH"
    assert {k: [v] for k, v in stored["params"].items()} == production["grid"]["params"]
    assert champion.source.startswith("models:/")  # a logged model of the decision run
    model_id = champion.source.removeprefix("models:/")
    assert client.get_logged_model(model_id).source_run_id == champion.run_id
    files = {a.path for a in client.list_logged_model_artifacts(model_id)}
    assert {"MLmodel", "production_config.json"} <= files
    [summary] = tracker.find_runs("report/pipeline", top_level=True)
    html = tracker.load_text(summary.run_id, "report/summary.html")
    assert html == (tmp_path / "reports/summary.html").read_text()


def test_a_server_that_does_not_answer_is_a_one_line_error(tmp_path: Path) -> None:
    from tradelab.testing.services import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    result = run_app("runs", "list", "tracking=server", f"tracking.uri={uri}", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-3000:]
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("tradelab-runs: error: cannot reach the MLflow tracking server at")
    assert uri in line and "make server" in line
