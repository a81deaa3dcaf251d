"""`tradelab-analyze`: rank TradeStation refinement results into the Excel workbook."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from tradelab.apps._runtime import job_for, run_hydra_app, tracker_for
from tradelab.apps.schema import AppConfig
from tradelab.reports.refinement import analyze_refinement


@dataclass
class AnalyzeAppConfig(AppConfig):
    """`tradelab-analyze`: rank refinement results into the Excel workbook."""

    symbol: str = "SMH"
    input_dir: str | None = None
    top: int = 50


def run(cfg: DictConfig) -> int:
    """Rank `<results>/<SYMBOL>/phase5_results/` (sub-folders included, one per sweep) and
    write `Refinement_Analysis_<SYMBOL>.xlsx`."""
    tracker = tracker_for(cfg)
    with job_for(
        tracker, cfg, experiment=f"analyze/{cfg.symbol}", run_name="refinement-analysis"
    ) as job:
        report = analyze_refinement(
            cfg.symbol,
            results_root=cfg.paths.results_dir,
            input_dir=cfg.input_dir,
            top=int(cfg.top),
            job=job,
        )
        print(f"wrote {report.workbook}")
        return len(report.summary)


main = run_hydra_app("analyze", run, AnalyzeAppConfig)

if __name__ == "__main__":
    main()
