"""A job hashes the same from the command line and from its pipeline stage: the stage's extra
overrides (`progress=false`, `metrics_file=...`) present results, they do not change them."""

from __future__ import annotations

import shlex

import pytest
import yaml
from hydra import compose, initialize_config_dir

from tradelab.apps._runtime import job_for, run_config_hash
from tradelab.apps.schema import register_configs
from tradelab.tracking import MemoryTracker

from .workspace import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning")


def _stage_command(lock: str, stage: str) -> list[str]:
    """The overrides the pipeline passed to the app (the stage's first command in its lock)."""
    cmd = yaml.safe_load((ROOT / lock).read_text())["stages"][stage]["cmd"]
    return shlex.split(cmd[0] if isinstance(cmd, list) else cmd)


def _config_hash_tag(app: str, overrides: list[str]) -> str:
    register_configs()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(config_name=app, overrides=overrides)
    tracker = MemoryTracker()
    with job_for(tracker, cfg, experiment="wfo/SMH", run_name="x"):
        pass
    [run] = tracker.find_runs("wfo/SMH")
    return run.tags["config_hash"]


@pytest.mark.parametrize(
    ("lock", "stage"),
    [("pipelines/wfo/dvc.lock", "single@SMH"), ("pipelines/kalman/dvc.lock", "pairs")],
)
def test_a_cli_run_and_the_pipeline_stage_give_the_same_config_hash(lock: str, stage: str) -> None:
    program, *overrides = _stage_command(lock, stage)
    assert any(o.startswith(("progress=", "metrics_file=")) for o in overrides)
    cli = [o for o in overrides if not o.startswith(("progress=", "metrics_file="))]
    app = program.removeprefix("tradelab-")
    assert _config_hash_tag(app, overrides) == _config_hash_tag(app, cli)


def test_what_a_run_computes_still_changes_its_hash() -> None:
    base = {"seed": 7, "grid": {"name": "demo"}, "progress": True, "paths": {"root_dir": "."}}
    shown = {**base, "progress": False, "metrics_file": "m.json", "paths": {"root_dir": "/x"}}
    assert run_config_hash(base) == run_config_hash(shown)
    assert run_config_hash(base) != run_config_hash({**base, "seed": 8})
    assert run_config_hash(base) != run_config_hash({**base, "grid": {"name": "smoke"}})
