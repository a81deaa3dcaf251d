from __future__ import annotations

import json
from pathlib import Path

from tradelab.promotion.production import append_audit
from tradelab.reports.pipeline_report import build_report


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def test_report_has_champions_results_and_statistics(tmp_path: Path) -> None:
    results, metrics, production = (
        tmp_path / "results",
        tmp_path / "metrics",
        tmp_path / "production",
    )
    append_audit(
        production,
        {
            "action": "promote",
            "family": "kalman_pairs",
            "target": "DIA-SPY",
            "champion": "2",
            "previous": "1",
            "source_run": "abc",
        },
    )
    append_audit(
        production,
        {
            "action": "rollback",
            "family": "kalman_pairs",
            "target": "DIA-SPY",
            "champion": "1",
            "previous": None,
        },
    )
    _write(results / "kalman_residual/RIOT/metrics.json", {"score": 1.2, "sharpe": 3.0, "pbo": 0.3})
    _write(
        results / "kalman_pairs/DIA-SPY/metrics.json",
        {"sharpe": 0.05, "pbo": 0.6, "deflated_sharpe": 0.4},
    )
    _write(
        results / "forecast/AAPL/summary.json",
        {
            "symbol": "AAPL",
            "candidates": {
                "zero_return": {"kind": "baseline", "pct_return_mae": 0.010, "skill_vs_zero": 0.0},
                "toto": {"kind": "model", "pct_return_mae": 0.008, "skill_vs_zero": 0.2},
            },
        },
    )
    _write(
        metrics / "kalman_pairs.json",
        {"sharpe": 0.05, "pbo": 0.6, "deflated_sharpe": 0.4, "n_trials": 72},
    )
    report = build_report(
        results_dir=results,
        metrics_dir=metrics,
        production_dir=production,
        out_dir=tmp_path / "reports",
    )
    md = report.markdown.read_text()
    assert "| kalman_pairs | DIA-SPY | 1 |" in md  # the rollback is the current state
    assert "## Kalman residual" in md and "| RIOT |" in md
    assert "## Forecast error by model and symbol" in md and "| AAPL | toto | model |" in md
    assert "| kalman_pairs | 0.6 | 0.4 | 72 |" in md
    assert [f.name for f in report.figures] == ["forecast_error.png"]
    assert "figures/forecast_error.png" in md
    page = report.html.read_text()
    assert page.startswith("<!doctype html>") and "data:image/png;base64," in page


def test_empty_run_still_reports(tmp_path: Path) -> None:
    report = build_report(
        results_dir=tmp_path / "r",
        metrics_dir=tmp_path / "m",
        production_dir=tmp_path / "p",
        out_dir=tmp_path / "out",
    )
    md = report.markdown.read_text()
    assert "No champion yet" in md and "No sweep logged PBO" in md
