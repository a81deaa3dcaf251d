"""The tracker contract of `tradelab.testing`, run over every `Tracker` implementation, and
what only the MLflow implementation promises."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tradelab.errors import TrackingError
from tradelab.testing.tracker_contract import TRACKER_CHECKS, TrackerCheck, check_id
from tradelab.tracking import MemoryTracker, RunStatus, Tracker
from tradelab.tracking.mlflow_tracker import MlflowTracker


def _mlflow(tmp_path: Path) -> MlflowTracker:
    return MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts")


def server_tracker(server: str) -> MlflowTracker:
    """A tracker on the shared MLflow server, in a namespace of its own: the checks' fixed
    experiment names and whole-store reads (`running_runs`) see only this test's runs."""
    return MlflowTracker(server, None, namespace=f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=["memory", "mlflow", pytest.param("server", marks=pytest.mark.slow)])
def tracker(request: pytest.FixtureRequest, tmp_path: Path) -> Tracker:
    if request.param == "server":
        return server_tracker(request.getfixturevalue("mlflow_server"))
    return MemoryTracker() if request.param == "memory" else _mlflow(tmp_path)


@pytest.mark.parametrize("check", TRACKER_CHECKS, ids=check_id)
def test_tracker_contract(tracker: Tracker, check: TrackerCheck, tmp_path: Path) -> None:
    check(tracker, tmp_path)


def test_mlflow_experiments_are_marked_as_model_development(tmp_path: Path) -> None:
    """The MLflow 3 UI opens such experiments on the runs table, not the GenAI trace views."""
    tracker = _mlflow(tmp_path)
    tracker.start_job("wfo/SMH", "job").end()
    experiment = tracker.client.get_experiment_by_name("wfo")
    assert experiment.tags.get("mlflow.experimentKind") == "custom_model_development"


def test_mlflow_read_side_reads_the_store_not_the_writer(tmp_path: Path) -> None:
    """A second tracker on the same store (another process, later) reads what the first wrote."""
    writer = _mlflow(tmp_path)
    with writer.start_job("wfo/SMH", "job", tags={"data_hash": "d1"}, config={"a": 1}) as job:
        trial = job.log_trial({"w": 5}, {"score": 2.0}, tags={"candidate": "true"})
    reader = _mlflow(tmp_path)
    assert reader.targets("wfo") == ["SMH"]
    [found] = reader.find_runs("wfo/SMH", tags={"candidate": "true"}, status=RunStatus.FINISHED)
    assert (found.run_id, found.parent_id, found.metrics) == (trial, job.run_id, {"score": 2.0})
    assert reader.get_run(trial).experiment == "wfo/SMH"
    assert reader.load_dict(job.run_id, "config.yaml") == {"a": 1}


def test_mlflow_find_runs_pages_through_large_experiments(tmp_path: Path, monkeypatch) -> None:
    """Top-level jobs behind more child runs than one search page are still found."""
    import tradelab.tracking.mlflow_tracker as module

    monkeypatch.setattr(module, "_PAGE", 3)
    tracker = _mlflow(tmp_path)
    with tracker.start_job("wfo/SMH", "job") as job:
        trials = [job.log_trial({"w": w}, {"s": 1.0}) for w in range(7)]
    assert [r.run_id for r in tracker.find_runs("wfo/SMH", top_level=True)] == [job.run_id]
    assert len(tracker.find_runs("wfo/SMH", parent=job.run_id)) == 7
    assert len(tracker.find_runs("wfo/SMH", parent=job.run_id, limit=5)) == 5
    assert {r.run_id for r in tracker.find_runs("wfo/SMH")} == {job.run_id, *trials}


def test_mlflow_server_refuses_a_relative_artifact_root() -> None:
    """Every machine would resolve it in its own working directory: none could read back."""
    with pytest.raises(TrackingError, match=r"tracking\.artifact_root=null"):
        MlflowTracker("http://127.0.0.1:9", "mlruns/artifacts")


def test_mlflow_server_that_does_not_answer_is_a_tracking_error() -> None:
    from tradelab.testing.services import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(TrackingError, match="cannot reach the MLflow tracking server") as err:
        MlflowTracker(uri, None)
    assert uri in str(err.value) and "make server" in str(err.value)


def test_mlflow_namespaces_keep_experiments_apart(tmp_path: Path) -> None:
    """A namespace sees only its experiments; the plain tracker sees none of them."""
    plain, alice = (
        _mlflow(tmp_path),
        MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "artifacts", namespace="alice"),
    )
    plain.start_job("wfo/SMH", "plain").end()
    job = alice.start_job("wfo/QQQ", "mine")
    assert (plain.targets("wfo"), alice.targets("wfo")) == (["SMH"], ["QQQ"])
    assert [r.run_id for r in alice.running_runs()] == [job.run_id]
    assert plain.running_runs() == [] and plain.find_runs("wfo/QQQ") == []
    assert alice.get_run(job.run_id).experiment == "wfo/QQQ"
    assert plain.client.get_experiment_by_name("alice/wfo") is not None
    job.end()
    with pytest.raises(ValueError, match="namespace"):
        MlflowTracker(f"sqlite:///{tmp_path}/mlflow.db", None, namespace="a/b")


def test_mlflow_insert_races_of_idempotent_calls_are_retried(tmp_path: Path, monkeypatch) -> None:
    """Two processes logging one dataset to one experiment race on its unique key (MLflow reads,
    then inserts): the loser's call is retried and finds the row; other calls still raise."""
    from tradelab.tracking import DatasetRef

    tracker = _mlflow(tmp_path)
    job = tracker.start_job("kalman_residual/RIOT", "worker")
    real, calls = tracker.client.log_inputs, []

    def racing(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("UNIQUE constraint failed: datasets.experiment_id, datasets.name")
        return real(*args, **kwargs)

    monkeypatch.setattr(tracker.client, "log_inputs", racing)
    job.log_inputs([DatasetRef("RIOT/5min", "abc123", "/store/RIOT.parquet")])
    assert len(calls) == 2
    assert [d.name for d in tracker.get_run(job.run_id).inputs] == ["RIOT/5min"]
    monkeypatch.setattr(
        tracker.client,
        "log_batch",
        lambda *a, **k: (_ for _ in ()).throw(RuntimeError("UNIQUE constraint failed: x")),
    )
    with pytest.raises(RuntimeError, match="UNIQUE"):
        job.log_metrics({"m": 1.0})  # not idempotent: never retried
    job.end()
