"""What every crash test does: run a real app with `TRADELAB_FAULT` set, check it died there,
rerun it, and compare with an uninterrupted run: files, runs left RUNNING, the audit log."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from mlflow import MlflowClient

from tests.apps.test_cli import run_app
from tradelab import faults

__all__ = ["crash", "digest", "run_app", "running_runs", "runs_by_status"]


def crash(app: str, point: str, *args: str, cwd: Path, mode: str = "exit", nth: int = 1):
    """Run `tradelab-<app>` with a fault at the `nth` call of `point`; assert it died there."""
    assert point in _declared(), f"{point} is not a declared fault point"
    spec = f"{point}@{nth}:{mode}"
    result = run_app(app, *args, cwd=cwd, env={faults.ENV: spec})
    if mode == "exit":
        assert result.returncode == faults.EXIT_STATUS, (
            f"{spec}: expected a hard exit, got {result.returncode}\n{result.stderr[-3000:]}"
        )
    else:
        assert result.returncode != 0, f"{spec}: the run did not fail"
    return result


def _declared() -> dict[str, str]:
    """Every declared point (importing the modules that declare them)."""
    import importlib
    import pkgutil

    import tradelab

    for module in pkgutil.walk_packages(tradelab.__path__, "tradelab."):
        if not module.name.startswith("tradelab.apps"):
            importlib.import_module(module.name)
    return dict(faults.POINTS)


def digest(root: Path, patterns: Iterable[str] = ("**/*",), exclude: Iterable[str] = ()) -> dict:
    """{relative path: sha256} of the files under `root` matching `patterns`."""
    skip = tuple(exclude)
    out = {}
    for pattern in patterns:
        for path in sorted(root.glob(pattern)):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and not any(part in rel for part in skip):
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def runs_by_status(cwd: Path) -> dict[str, int]:
    """How many runs of the MLflow store under `cwd` have each status."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    counts: dict[str, int] = {}
    for exp in client.search_experiments():
        for run in client.search_runs([exp.experiment_id], max_results=50000):
            counts[run.info.status] = counts.get(run.info.status, 0) + 1
    return counts


def running_runs(cwd: Path) -> int:
    """Runs of the store under `cwd` still RUNNING."""
    return runs_by_status(cwd).get("RUNNING", 0)
