"""Reports: WFO results pipeline, TradeStation CSVs, refinement workbook, plots."""

from __future__ import annotations

from tradelab.reports.plots import plateau_figure, save_plateau_plot
from tradelab.reports.refinement import (
    RefinementReport,
    analyze_refinement,
    rank_results,
    read_optimizer_file,
    write_workbook,
)
from tradelab.reports.tradestation import refinement_ranges, write_refinement_exports
from tradelab.reports.wfo_results import WfoResultsReport, log_plateaus, process_wfo_results

__all__ = [
    "RefinementReport",
    "WfoResultsReport",
    "analyze_refinement",
    "log_plateaus",
    "plateau_figure",
    "process_wfo_results",
    "rank_results",
    "read_optimizer_file",
    "refinement_ranges",
    "save_plateau_plot",
    "write_refinement_exports",
    "write_workbook",
]
