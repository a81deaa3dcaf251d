"""The pipeline's shape without running it: stages, their order, what each WFO stage reads, and
the demo settings (grid size, jobs) that `make demo` runs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir

from tradelab.apps._runtime import settings
from tradelab.apps.schema import register_configs
from tradelab.wfo import expanded_specs, grid_for_strategy, grid_from_config, strategy_from_config
from tradelab.wfo.settings import GridConfig, StrategyConfig

from .workspace import ROOT, dvc, make_workspace

WFO_YAML = ROOT / "pipelines" / "wfo" / "dvc.yaml"
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def _targets() -> list[str]:
    wfo = PARAMS["wfo"]
    return list(wfo["single"]) + [f"{j['symbol']}-{j['symbol2']}" for j in wfo["dual"].values()]


def _stages() -> list[str]:
    wfo = PARAMS["wfo"]
    return [f"pipelines/wfo/dvc.yaml:single@{k}" for k in wfo["single"]] + [
        f"pipelines/wfo/dvc.yaml:dual@{k}" for k in wfo["dual"]
    ]


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """The pipeline with the real params.yaml, never run."""
    return make_workspace(tmp_path_factory.mktemp("fresh"))


def test_demo_has_two_symbols_and_a_dual_pair() -> None:
    wfo = PARAMS["wfo"]
    assert len(wfo["single"]) >= 2
    assert len(wfo["dual"]) >= 1
    for key, job in wfo["dual"].items():
        assert key == f"{job['symbol']}-{job['symbol2']}"
        assert job["strategy"].startswith("atr_d_duals_")
    for job in wfo["single"].values():
        assert not job["strategy"].startswith("atr_d_duals_")
    assert PARAMS["data"]["daily_years"] >= 15.5 or wfo["phases"] != "default"


def test_demo_grid_has_at_least_100k_combinations_for_every_variant() -> None:
    register_configs()
    wfo = PARAMS["wfo"]
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose(
            config_name="wfo", overrides=[f"grid={wfo['grid']}", f"phases={wfo['phases']}"]
        )

        def load(name: str) -> StrategyConfig:
            node = compose(config_name="wfo", overrides=[f"strategy={name}"]).strategy
            return settings(StrategyConfig, node, "strategy")

        grid_all = grid_from_config(settings(GridConfig, cfg.grid, "grid"))
        assert grid_all.size >= 100_000
        jobs = list(wfo["single"].values()) + list(wfo["dual"].values())
        sizes = {}
        for job in jobs:
            primary = strategy_from_config(load(job["strategy"]))
            for spec in expanded_specs(primary, load):
                sizes[spec.name] = grid_for_strategy(grid_all, spec).size
    assert min(sizes.values()) >= 100_000, sizes
    assert {"atr_d_ls", "atr_d_l", "atr_d_duals_l"} <= set(sizes)


def test_stages_and_order(fresh: Path) -> None:
    result = dvc(fresh, "dag", "--dot")
    assert result.returncode == 0, result.stderr
    edges = set(re.findall(r'"([^"]+)"\s*->\s*"([^"]+)"', result.stdout))
    for stage in _stages():
        assert ("ingest", stage) in edges
        assert (stage, "promote") in edges
        assert (stage, "report") in edges
    assert ("promote", "report") in edges
    for family in ("pipelines/kalman/dvc.yaml:residual", "pipelines/forecast/dvc.yaml:tune"):
        assert (family, "promote") in edges
        assert not any(a == family and b in _stages() for a, b in edges)
    assert not any(b in _stages() and a.startswith("pipelines/") for a, b in edges)


def test_a_fresh_workspace_runs_every_family(fresh: Path) -> None:
    result = dvc(fresh, "status", "--json")
    assert result.returncode == 0, result.stderr
    pending = set(json.loads(result.stdout))
    assert set(_stages()) <= pending
    assert {
        "generate",
        "ingest",
        "bars",
        "promote",
        "report",
        "pipelines/kalman/dvc.yaml:residual",
        "pipelines/kalman/dvc.yaml:pairs",
        "pipelines/forecast/dvc.yaml:tune",
    } <= pending


def test_wfo_family_runs_alone(fresh: Path) -> None:
    result = dvc(fresh, "dag", "--dot", "pipelines/wfo/dvc.yaml")
    assert result.returncode == 0, result.stderr
    nodes = set(re.findall(r'^"([^"]+)";$', result.stdout, flags=re.M))
    assert nodes == {"generate", "ingest", *_stages()}


def test_each_wfo_stage_declares_only_its_job() -> None:
    wfo = yaml.safe_load(WFO_YAML.read_text())["stages"]
    for kind in ("single", "dual"):
        params = wfo[kind]["do"]["params"]
        assert params == ["wfo.grid", "wfo.phases", f"wfo.{kind}.${{key}}"]
        deps = wfo[kind]["do"]["deps"]
        for package in ("kernels", "wfo", "reports", "robustness"):
            assert f"src/tradelab/{package}" in deps
        assert "src/tradelab/apps/wfo.py" in deps
        assert "data/store/1day" in deps
        for dep in deps:
            if "$" not in dep and not dep.startswith("data/"):
                assert (ROOT / dep).exists(), dep


def test_promotion_covers_wfo() -> None:
    root = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    commands = root["promote"]["cmd"]
    families = [re.search(r"family=(\w+)", c).group(1) for c in commands]
    assert families[0] == "wfo"
    assert set(families) == {"wfo", "kalman_residual", "kalman_pairs", "forecast"}
    assert "metrics" in root["promote"]["deps"]
    assert {"results", "metrics", "production"} <= set(root["report"]["deps"])
