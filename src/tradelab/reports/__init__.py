"""Reports: WFO results pipeline, TradeStation CSVs, refinement workbook, plots.

Names are imported lazily: `tradelab.wfo.scoring` uses `reports.files`, and the pipeline here
uses the scoring, so an eager import would be circular.
"""

from __future__ import annotations

import importlib
from typing import Any

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

_HOME = {
    "RefinementReport": "refinement",
    "analyze_refinement": "refinement",
    "rank_results": "refinement",
    "read_optimizer_file": "refinement",
    "write_workbook": "refinement",
    "WfoResultsReport": "wfo_results",
    "log_plateaus": "wfo_results",
    "process_wfo_results": "wfo_results",
    "plateau_figure": "plots",
    "save_plateau_plot": "plots",
    "refinement_ranges": "tradestation",
    "write_refinement_exports": "tradestation",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module 'tradelab.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tradelab.reports.{_HOME[name]}"), name)
