from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from openpyxl import load_workbook

from tradelab.testing.mlflow_store import store_runs

from .test_cli import ROOT, run_app

FIXTURES = ROOT / "tests" / "reports" / "fixtures"


def test_analyze_writes_the_workbook_and_logs_it(tmp_path: Path) -> None:
    result = run_app("analyze", "symbol=SMH", f"input_dir={FIXTURES}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    workbook = tmp_path / "results" / "SMH" / "Refinement_Analysis_SMH.xlsx"
    assert workbook.exists()
    assert "Summary" in load_workbook(workbook).sheetnames
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns/mlflow.db")
    runs = store_runs(client, "analyze/SMH")
    parent = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert [r.info.status for r in parent] == ["FINISHED"]
    assert len(runs) > 1  # one child run per strategy's best row
    assert {a.path for a in client.list_artifacts(parent[0].info.run_id, "reports")} == {
        "reports/Refinement_Analysis_SMH.xlsx"
    }


def test_analyze_without_results_fails_clearly(tmp_path: Path) -> None:
    result = run_app("analyze", "symbol=QQQ", cwd=tmp_path)
    assert result.returncode != 0
    assert "phase5_results" in result.stderr
