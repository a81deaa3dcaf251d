from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from tradelab.jobs._tune import write_metrics
from tradelab.promotion.production import append_audit
from tradelab.reports.files import write_wfo_headline
from tradelab.reports.pipeline_report import build_report


def _png(path: Path) -> None:
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1])
    fig.savefig(path)
    plt.close(fig)


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
    _write(
        results / "kalman_residual/RIOT/metrics.json",
        {"score": 1.2, "sharpe": 3.0, "validity/pbo": 0.3},
    )
    _write(
        results / "kalman_pairs/DIA-SPY/metrics.json",
        {"sharpe": 0.05, "validity/pbo": 0.6, "validity/deflated_sharpe": 0.4},
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
        {
            "sharpe": 0.05,
            "validity/pbo": 0.6,
            "validity/deflated_sharpe": 0.4,
            "validity/n_trials": 72,
        },
    )
    _write(metrics / "kalman_residual.json", {"validity/median_pbo": 0.3, "n_symbols": 1})
    report = build_report(
        results_dir=results,
        metrics_dir=metrics,
        production_dir=production,
        out_dir=tmp_path / "reports",
    )
    md = report.markdown.read_text()
    # the forecast errors as the data series `dvc plots show` draws (dvc.yaml: report stage)
    errors = pd.read_csv(tmp_path / "reports/plots/forecast_errors.csv")
    assert errors[["candidate", "pct_return_mae"]].values.tolist() == [
        ["AAPL zero_return", 0.010],
        ["AAPL toto", 0.008],
    ]
    assert "| kalman_pairs | DIA-SPY | 1 |" in md  # the rollback is the current state
    assert "## Kalman residual" in md and "| RIOT |" in md
    assert "## Forecast error by model and symbol" in md and "| AAPL | toto | model |" in md
    assert "| kalman_pairs/DIA-SPY | 0.6 | 0.4 | - | - |" in md  # the pair's own file
    assert "| kalman_residual/RIOT | 0.3 | - | - | - |" in md
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


def _rows(md: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading`."""
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def _wfo_headline(pbo: float) -> dict[str, float]:
    return {
        "combinations": 144.0,
        "stable": 12.0,
        "best_stability_score": 101.5,
        "plateaus": 2.0,
        "benchmark_return": 0.25,
        "wall_s": 1.0,
        "validity/pbo": pbo,
        "validity/deflated_sharpe": 0.2,
        "validity/n_trials": 144.0,
        "validity/effective_trials": 3.0,
    }


def test_every_wfo_sweep_and_kalman_target_is_reported(tmp_path: Path) -> None:
    """The files as the apps write them: each WFO job's `results/<T>/headline.json`,
    `{strategy: {...}}` (a NaN becomes null), flat files and per-target results for the Kalman
    families."""
    metrics, results = tmp_path / "metrics", tmp_path / "results"
    write_wfo_headline(
        results,
        "SMH",
        {"atr_d_ls": _wfo_headline(0.4), "atr_d_l": {**_wfo_headline(0.3), "stable": math.nan}},
    )
    write_wfo_headline(results, "TQQQ-QQQ", {"atr_d_duals_l": _wfo_headline(0.9)})
    (results / "QQQ").mkdir(parents=True)
    (results / "QQQ" / "headline.json").write_text('{"atr_d_l": {')  # a job killed mid-write
    write_metrics(metrics / "wfo_SMH.json", _wfo_headline(0.4))  # the DVC metric: read elsewhere
    for symbol, pbo in (("RIOT", 0.3), ("MARA", 0.6)):
        stats = {
            "validity/pbo": pbo,
            "validity/deflated_sharpe": 0.5,
            "validity/n_trials": 50.0,
            "validity/effective_trials": 4.0,
        }
        write_metrics(results / "kalman_residual" / symbol / "metrics.json", stats)
    write_metrics(metrics / "kalman_residual.json", {"validity/median_pbo": 0.45, "n_symbols": 2})
    write_metrics(metrics / "forecast.json", {"symbols": 1.0, "median_best_mae": 0.01})
    (results / "SMH" / "demo").mkdir(parents=True)
    for png in (
        results / "SMH" / "plateaus_atr_d_ls_demo.png",
        results / "SMH" / "demo" / "plateaus_atr_d_l.png",
    ):
        _png(png)
    report = build_report(
        results_dir=results,
        metrics_dir=metrics,
        production_dir=tmp_path / "production",
        out_dir=tmp_path / "reports",
    )
    md = report.markdown.read_text()
    wfo = _rows(md, "Walk-forward optimization")
    assert [row[:2] for row in wfo] == [
        ["SMH", "atr_d_ls"],
        ["SMH", "atr_d_l"],
        ["TQQQ-QQQ", "atr_d_duals_l"],
    ]
    assert wfo[0][2:] == ["144", "12", "101.5", "2", "0.25", "0.4", "0.2"]
    assert wfo[1][3] == "-"  # the one value the job could not compute
    luck = _rows(md, "Is it luck? Research-validity statistics")
    assert [row[0] for row in luck] == [
        "wfo/SMH atr_d_ls",
        "wfo/SMH atr_d_l",
        "wfo/TQQQ-QQQ atr_d_duals_l",
        "kalman_residual/MARA",
        "kalman_residual/RIOT",
    ]
    assert luck[3][1:] == ["0.6", "0.5", "50", "4"]
    assert "not by PBO / deflated Sharpe" in md
    assert sorted(f.name for f in report.figures) == [
        "SMH_demo_plateaus_atr_d_l.png",
        "SMH_plateaus_atr_d_ls_demo.png",
    ]
    assert "Plateaus of SMH: demo/atr_d_l" in md and "Plateaus of SMH: atr_d_ls_demo" in md
