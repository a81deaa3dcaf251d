"""`tradelab-report`: the run summary of a pipeline (Markdown, HTML, figures), logged to MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from tradelab.apps._runtime import job_for, run_hydra_app, tracker_for
from tradelab.apps.schema import AppConfig
from tradelab.data import ParquetStore
from tradelab.promotion import MlflowRegistry
from tradelab.reports.pipeline_report import build_report
from tradelab.tracking.mlflow_tracker import MlflowTracker


@dataclass
class ReportAppConfig(AppConfig):
    """`tradelab-report`: the run summary of a pipeline, from results/, metrics/, production/."""

    title: str = "tradelab pipeline run"
    metrics_dir: str = "metrics"


def run(cfg: DictConfig) -> str:
    """Build the report from results/, metrics/ and production/; return the HTML path."""
    tracker = tracker_for(cfg)
    registry = MlflowRegistry.for_tracker(tracker) if isinstance(tracker, MlflowTracker) else None
    store = ParquetStore(cfg.paths.store_dir, offline=True)
    out_dir = Path(cfg.paths.reports_dir)
    with job_for(
        tracker,
        cfg,
        experiment="report/pipeline",
        run_name="summary",
        data_hash=store.content_hash(),
    ) as job:
        report = build_report(
            results_dir=cfg.paths.results_dir,
            metrics_dir=cfg.metrics_dir,
            production_dir=cfg.paths.deploy_dir,
            out_dir=out_dir,
            store=store,
            registry=registry,
            title=str(cfg.title),
        )
        job.log_artifact(report.markdown, "report")
        job.log_artifact(report.html, "report")
        for figure in report.figures:
            job.log_artifact(figure, "report/figures")
        job.log_metrics({"figures": len(report.figures)})
    print(f"report: {report.html}")
    return str(report.html)


main = run_hydra_app("report", run, ReportAppConfig)

if __name__ == "__main__":
    main()
