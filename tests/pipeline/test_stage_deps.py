"""Every DVC stage lists, among its deps, all the source its app imports: editing any module a
stage runs re-runs the stage (`dvc status` says so)."""

from __future__ import annotations

import re

import pytest
import yaml

from tests.import_graph import MODULES, SRC, closure
from tradelab.promotion.families import FAMILY_MODULES

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
