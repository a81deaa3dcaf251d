"""Every DVC stage lists, among its deps, all the source its app imports: editing any module a
stage runs re-runs the stage (`dvc status` says so)."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.import_graph import MODULES, SRC, closure
from tradelab.promotion.families import FAMILY_MODULES

from .workspace import dvc

ROOT = SRC.parent
FILES = [ROOT / "dvc.yaml", *sorted((ROOT / "pipelines").glob("*/dvc.yaml"))]
# modules imported by name at run time (promotion's family adapters)
PLUGINS = {"tradelab.promotion.families": sorted(set(FAMILY_MODULES.values()))}


def _stages() -> list[tuple[str, str, list[str]]]:
    out = []
    for path in FILES:
        doc = yaml.safe_load(path.read_text())
        for name, stage in doc["stages"].items():
            body = stage.get("do", stage)
            cmds = body["cmd"] if isinstance(body["cmd"], list) else [body["cmd"]]
            wdir = (path.parent / body.get("wdir", ".")).resolve()
            deps = [str((wdir / d).resolve().relative_to(ROOT)) for d in body.get("deps", [])]
            for app in sorted({a for c in cmds for a in re.findall(r"tradelab-(\w+)", c)}):
                out.append((f"{path.relative_to(ROOT)}:{name}", app, deps))
    return out


STAGES = _stages()


def test_every_app_is_run_by_some_stage() -> None:
    assert {app for _, app, _ in STAGES} >= {"ingest", "wfo", "tune", "promote", "report"}


@pytest.mark.parametrize(("stage", "app", "deps"), STAGES, ids=[f"{s}-{a}" for s, a, _ in STAGES])
def test_stage_deps_cover_the_import_closure(stage: str, app: str, deps: list[str]) -> None:
    files = sorted(
        str(MODULES[m].relative_to(ROOT)) for m in closure(f"tradelab.apps.{app}", PLUGINS)
    )
    uncovered = [f for f in files if not any(f == d or f.startswith(d + "/") for d in deps)]
    assert uncovered == [], f"{stage} (tradelab-{app}) imports files its deps miss"


def test_the_committed_lock_files_were_made_by_this_code() -> None:
    """The demo's `dvc.lock` files and `metrics/` are committed as the baseline `dvc exp show`
    compares with: every source and config file a stage reads must hash as its lock says, or
    a fresh clone's `dvc status` reports every stage changed and the baseline's numbers come
    from other code. Fix: `make demo` in a fresh clone, then commit its `dvc.lock` files and
    `metrics/`."""
    result = dvc(ROOT, "status", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    stale = sorted(
        f"{stage}: {path}"
        for stage, changes in json.loads(result.stdout or "{}").items()
        for change in changes
        if isinstance(change, dict)
        for path, state in change.get("changed deps", {}).items()
        if state == "modified" and path.split("/")[0] in ("src", "conf", "pipelines")
    )
    assert not stale, "lock files older than the code (make demo, commit them): " + "; ".join(
        stale[:8]
    )
