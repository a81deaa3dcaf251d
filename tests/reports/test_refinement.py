"""Refinement analysis: sample optimizer files parse, metrics and ranks, the Excel workbook."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from tradelab.errors import DataError
from tradelab.reports.refinement import (
    RANK_METRICS,
    analyze_refinement,
    rank_results,
    read_optimizer_file,
)
from tradelab.tracking import MemoryTracker

FIXTURES = Path(__file__).parent / "fixtures"
L1 = FIXTURES / "phase5_results_ATR-D-v1.5-L_rank1.csv"


def test_sample_file_parses_into_canonical_columns() -> None:
    frame = read_optimizer_file(L1)
    assert frame.attrs["ts_name"] == "ATR-D-v1.5-L" and frame.attrs["plateau"] == 1
    assert frame.attrs["inputs"] == ["ATRPeriod", "ATRMult", "BuyMult"]
    assert len(frame) == 12
    row = frame.iloc[1]  # "$16,746.99", "($3,948.47)", 3.95%, 1.67%
    assert row["net_profit"] == pytest.approx(16746.99)
    assert row["max_drawdown"] == pytest.approx(-3948.47)
    assert row["max_drawdown_pct"] == pytest.approx(3.95)
    assert row["cagr"] == pytest.approx(1.67)
    assert row["gross_loss"] == pytest.approx(-26803.38)
    assert row["ATRPeriod"] == 16


def test_metrics_and_composite_rank(in_tmp: Path) -> None:
    report = analyze_refinement("SMH", input_dir=FIXTURES, results_root=in_tmp / "results")
    assert set(report.tables) == {"ATR-D-v1.5-L", "ATR-D-v1.5-LS"}
    table = report.tables["ATR-D-v1.5-L"]
    assert len(table) == 20 and set(table["plateau"]) == {1, 2}
    row = table[(table["source"] == L1.name) & (table["test"] == 2)].iloc[0]
    assert row["mar"] == pytest.approx(1.67 / 3.95)
    assert row["profit_dd"] == pytest.approx(16746.99 / 3948.47)
    assert row["profit_factor"] == pytest.approx(43550.37 / 26803.38)
    raw = read_optimizer_file(L1)
    assert row["robustness"] == pytest.approx(100.0 * (raw["net_profit"] > 0).mean())
    # rank sum and composite rank recomputed by hand
    ranks = sum(
        table[m].rank(ascending=False, method="average", na_option="bottom") for m in RANK_METRICS
    )
    np.testing.assert_allclose(table["rank_sum"], ranks)
    assert table["composite_rank"].tolist() == sorted(table["composite_rank"].tolist())
    assert table["composite_rank"].iloc[0] == 1
    assert report.summary["strategy"].tolist().count("ATR-D-v1.5-L") == 1
    assert report.workbook == in_tmp / "results" / "SMH" / "Refinement_Analysis_SMH.xlsx"


def test_rank_results_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "mar": [1.0, 2.0, 3.0],
            "sharpe": [1.0, 2.0, 3.0],
            "sortino": [3.0, 2.0, 1.0],
            "profit_factor": [2.0, 2.0, np.nan],
            "profit_dd": [5.0, 4.0, 6.0],
            "robustness": [50.0, 50.0, 50.0],
        }
    )
    out = rank_results(frame)
    # rank sums: row0 3+3+1+1.5+2+2 = 12.5; row1 2+2+2+1.5+3+2 = 12.5; row2 1+1+3+3+1+2 = 11
    assert out["rank_sum"].tolist() == [11.0, 12.5, 12.5]
    assert out["composite_rank"].tolist() == [1, 2, 2]
    assert out["mar"].tolist() == [3.0, 1.0, 2.0]


def test_workbook_has_sheets_freeze_panes_filters_and_colour_scales(in_tmp: Path) -> None:
    report = analyze_refinement("SMH", input_dir=FIXTURES, results_root=in_tmp, top=5)
    wb = load_workbook(report.workbook)
    assert wb.sheetnames == ["Summary", "ATR-D-v1.5-L", "ATR-D-v1.5-LS"]
    for name in wb.sheetnames:
        ws = wb[name]
        assert ws.freeze_panes == "B2"
        assert ws.auto_filter.ref is not None and ws.auto_filter.ref.startswith("A1:")
        rules = [r for cf in ws.conditional_formatting for r in cf.rules]
        assert len(rules) >= len(RANK_METRICS)
        assert {r.type for r in rules} == {"colorScale"}
    ws = wb["ATR-D-v1.5-L"]
    header = [c.value for c in ws[1]]
    assert header[0] == "Composite Rank" and "MAR" in header and "Robustness %" in header
    assert ws.max_row == 6  # header + top 5
    col = header.index("MAR") + 1
    assert ws.cell(row=2, column=col).number_format == "0.00"
    ranges = {str(cf.sqref) for cf in ws.conditional_formatting}
    mar_letter = ws.cell(row=1, column=col).column_letter
    assert f"{mar_letter}2:{mar_letter}6" in ranges
    rank_cell = ws.cell(row=2, column=1)
    assert rank_cell.value == 1 and rank_cell.font.bold
    assert rank_cell.fill.fgColor.rgb.endswith("FFF2CC")
    assert ws.cell(row=2, column=col).fill.fgColor.rgb.endswith("C6EFCE")
    net_col = header.index("Net Profit $") + 1
    assert ws.cell(row=2, column=net_col).number_format == "#,##0.00"


def test_analysis_logs_into_a_job(in_tmp: Path) -> None:
    tracker = MemoryTracker()
    with tracker.start_job("wfo/SMH", "analyze") as job:
        analyze_refinement("SMH", input_dir=FIXTURES, results_root=in_tmp, job=job)
    parent = tracker.get(job.run_id)
    assert "reports/Refinement_Analysis_SMH.xlsx" in parent.artifacts
    children = [r for r in tracker.runs() if r.parent_id == job.run_id]
    assert sorted(c.name for c in children) == [
        "refinement ATR-D-v1.5-L",
        "refinement ATR-D-v1.5-LS",
    ]
    assert all("mar" in c.metrics and "inputs" in c.params for c in children)


def _copy(tmp: Path, name: str, text: str | None = None) -> Path:
    path = tmp / name
    if text is None:
        shutil.copy(L1, path)
    else:
        path.write_text(text)
    return path


def test_bad_files_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="file name"):
        read_optimizer_file(_copy(tmp_path, "results.csv"))
    head = L1.read_text().splitlines()
    no_sharpe = "\n".join(line.rsplit(",", 2)[0] for line in head) + "\n"
    with pytest.raises(DataError, match="sharpe"):
        read_optimizer_file(_copy(tmp_path, "X_rank1.csv", no_sharpe))
    bad_row = "\n".join([head[0], head[1], head[2].replace("$16,746.99", "lots")]) + "\n"
    with pytest.raises(DataError) as info:
        read_optimizer_file(_copy(tmp_path, "Y_rank1.csv", bad_row))
    assert info.value.row == 3 and info.value.field == "Net Profit"
    with pytest.raises(DataError, match="does not exist"):
        analyze_refinement("SMH", results_root=tmp_path)
    with pytest.raises(DataError, match="no result rows"):
        read_optimizer_file(_copy(tmp_path, "Z_rank1.csv", head[0] + "\n"))


def test_tab_separated_export_is_read(tmp_path: Path) -> None:
    frame = pd.read_csv(L1, dtype=str)
    path = tmp_path / "ATR-D-v1.5-L_rank3.txt"
    frame.to_csv(path, sep="\t", index=False)
    parsed = read_optimizer_file(path)
    assert parsed.attrs["plateau"] == 3
    assert parsed["net_profit"].iloc[1] == pytest.approx(16746.99)


def test_results_of_two_sweeps_in_sub_folders_are_both_ranked(tmp_path: Path) -> None:
    """`phase5_results/<grid>-<phases>/` mirrors `phase5_refine/`: two sweeps' jobs may share a
    file name, and each file stays its own refinement job (robustness, plateau count)."""
    folder = tmp_path / "SMH" / "phase5_results"
    for sweep in ("demo-default", "single-default"):
        (folder / sweep).mkdir(parents=True)
        shutil.copy(L1, folder / sweep / L1.name)
    (folder / ".hidden").mkdir()
    (folder / ".hidden" / "junk.csv").write_text("not a result\n")
    report = analyze_refinement("SMH", results_root=tmp_path)
    table = report.tables["ATR-D-v1.5-L"]
    assert sorted(set(table["source"])) == [
        f"demo-default/{L1.name}",
        f"single-default/{L1.name}",
    ]
    assert len(table) == 2 * len(read_optimizer_file(L1))
    assert report.summary.set_index("strategy").loc["ATR-D-v1.5-L", "n_plateaus"] == 2
