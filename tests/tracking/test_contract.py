"""One contract suite, run against every Tracker implementation."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tradelab.tracking import Lineage, MemoryTracker, RunStatus, Tracker


@dataclass
class Logged:
    """What a run holds, read back from the backend."""

    name: str
    status: str
    parent: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: set[str]


class MemoryReader:
    def __init__(self, tracker: MemoryTracker) -> None:
        self.tracker = tracker

    def run(self, run_id: str) -> Logged:
        r = self.tracker.get(run_id)
        return Logged(
            r.name, r.status.value, r.parent_id, r.params, r.metrics, r.tags, set(r.artifacts)
        )

    def children(self, run_id: str) -> list[str]:
        return [r.run_id for r in self.tracker.runs() if r.parent_id == run_id]


class MlflowReader:
    def __init__(self, tracker) -> None:
        self.client = tracker.client

    def _artifacts(self, run_id: str, path: str | None = None) -> set[str]:
        out: set[str] = set()
        for item in self.client.list_artifacts(run_id, path):
            if item.is_dir:
                out |= self._artifacts(run_id, item.path)
            else:
                out.add(item.path)
        return out

    def run(self, run_id: str) -> Logged:
        r = self.client.get_run(run_id)
        return Logged(
            r.info.run_name,
            r.info.status,
            r.data.tags.get("mlflow.parentRunId"),
            dict(r.data.params),
            dict(r.data.metrics),
            dict(r.data.tags),
            self._artifacts(run_id),
        )

    def children(self, run_id: str) -> list[str]:
        exp = self.client.get_run(run_id).info.experiment_id
        runs = self.client.search_runs(
            [exp], f"tags.mlflow.parentRunId = '{run_id}'", max_results=1000
        )
        return [r.info.run_id for r in runs]


@pytest.fixture(params=["memory", "mlflow"])
def backend(request, tmp_path: Path):
    if request.param == "memory":
        tracker = MemoryTracker()
        return tracker, MemoryReader(tracker)
    from tradelab.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    return tracker, MlflowReader(tracker)


LINEAGE = Lineage.collect("abc123", data_hash="d00d", seed=3, overrides=["symbol=SMH"]).tags()


def test_job_records_params_metrics_tags_and_config(backend) -> None:
    tracker, reader = backend
    with tracker.start_job(
        "wfo/SMH", "job", tags=LINEAGE, params={"grid": "slim", "x": 0.5}, config={"a": {"b": 1}}
    ) as job:
        job.log_metrics({"oos_pnl": 12.5, "skip": None})
    run = reader.run(job.run_id)
    assert run.status == "FINISHED"
    assert run.params == {"grid": "slim", "x": "0.5"}
    assert run.metrics == {"oos_pnl": 12.5}
    for key in (
        "git_commit",
        "git_dirty",
        "config_hash",
        "data_hash",
        "seed",
        "hydra_overrides",
        "tradelab_version",
    ):
        assert key in run.tags
    assert run.tags["config_hash"] == "abc123"
    assert run.tags["hydra_overrides"] == "symbol=SMH"
    assert "config.yaml" in run.artifacts


def test_trials_are_finished_children_with_lineage(backend) -> None:
    tracker, reader = backend
    with tracker.start_job("kalman_residual/RIOT", "search", tags=LINEAGE) as job:
        ids = [
            job.log_trial({"q": q}, {"sharpe": q * 10}, name=f"trial-{i}")
            for i, q in enumerate([0.1, 0.2])
        ]
    assert sorted(reader.children(job.run_id)) == sorted(ids)
    for trial_id, q in zip(ids, [0.1, 0.2]):
        trial = reader.run(trial_id)
        assert trial.status == "FINISHED"
        assert trial.parent == job.run_id
        assert trial.params == {"q": repr(q)}
        assert trial.metrics == {"sharpe": pytest.approx(q * 10)}
        assert trial.tags["config_hash"] == "abc123"


def test_exception_ends_job_and_child_failed(backend) -> None:
    tracker, reader = backend
    with pytest.raises(ZeroDivisionError):
        with tracker.start_job("wfo/QQQ", "boom", tags=LINEAGE) as job:
            with job.child("phase1") as child:
                _ = 1 / 0
    assert reader.run(job.run_id).status == "FAILED"
    assert reader.run(child.run_id).status == "FAILED"
    assert "ZeroDivisionError" in reader.run(job.run_id).tags["error"]


def test_keyboard_interrupt_ends_job_killed(backend) -> None:
    tracker, reader = backend
    with pytest.raises(KeyboardInterrupt):
        with tracker.start_job("wfo/QQQ", "ctrl-c") as job:
            raise KeyboardInterrupt
    assert reader.run(job.run_id).status == "KILLED"


def test_artifacts_files_folders_text_and_figure(backend, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tracker, reader = backend
    table = tmp_path / "trials.csv"
    table.write_text("a,b\n1,2\n")
    folder = tmp_path / "exports"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "x.csv").write_text("x\n")
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    with tracker.start_job("wfo/SMH", "art") as job:
        job.log_artifact(table)
        job.log_artifact(table, "tables")
        job.log_artifact(folder)
        job.log_text("hello", "notes/readme.txt")
        job.log_dict({"k": 1}, "result.json")
        job.log_figure(fig, "plots/curve.png")
    plt.close(fig)
    assert reader.run(job.run_id).artifacts == {
        "trials.csv",
        "tables/trials.csv",
        "exports/sub/x.csv",
        "notes/readme.txt",
        "result.json",
        "plots/curve.png",
    }


def test_end_is_idempotent_and_explicit_status(backend) -> None:
    tracker, reader = backend
    job = tracker.start_job("forecast/AAPL", "manual")
    job.end(RunStatus.KILLED)
    job.end(RunStatus.FINISHED)
    assert reader.run(job.run_id).status == "KILLED"


def test_experiment_names_are_family_slash_target(backend) -> None:
    tracker: Tracker = backend[0]
    with pytest.raises(ValueError, match="family"):
        tracker.start_job("no-family", "x")


def test_mlflow_experiments_are_marked_as_model_development(tmp_path: Path) -> None:
    """The MLflow 3 UI opens such experiments on the runs table, not the GenAI trace views."""
    from tradelab.tracking.mlflow_tracker import MlflowTracker

    tracker = MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")
    tracker.start_job("wfo/SMH", "job").end()
    experiment = tracker.client.get_experiment_by_name("wfo/SMH")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"
