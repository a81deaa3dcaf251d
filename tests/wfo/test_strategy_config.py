"""Strategy specs, grids and phases from conf/ (plain YAML and Hydra composition); expansion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from tradelab.apps._runtime import settings
from tradelab.apps.schema import register_configs
from tradelab.errors import ConfigError
from tradelab.search.grid import Grid
from tradelab.settings import from_plain
from tradelab.wfo.settings import GridConfig, StrategyConfig
from tradelab.wfo.strategy import (
    KIND_PARAMS,
    StrategyKind,
    StrategySpec,
    expand_strategy,
    expanded_specs,
    grid_for_strategy,
    grid_from_config,
    strategy_from_config,
)

CONF = Path(__file__).resolve().parents[2] / "conf"
COUNTS = {
    "atr_d_l": 11,
    "atr_d_ls": 16,
    "atr_d_hma_l": 13,
    "atr_d_hma_ls": 14,
    "atr_d_duals_l": 11,
    "atr_d_duals_ls": 16,
}
SHARED_NAMES = [
    "atr_period",
    "atr_multiplier",
    "atr_buy_multiplier",
    "bb_period",
    "bb_dev",
    "vol_threshold",
    "bb_scaling",
    "max_stop_atr",
    "short_mult",
    "ema_period",
    "ema_slope_min",
    "entry_mode",
    "hma_fast",
    "hma_slow",
]


def _yaml(group: str, name: str) -> dict:
    cfg = OmegaConf.to_container(OmegaConf.load(CONF / group / f"{name}.yaml"))
    assert cfg.pop("defaults") == [f"/schema/{group}/{name}@_here_", "_self_"]
    return cfg


def _strategy(config: Any) -> StrategySpec:
    return strategy_from_config(settings(StrategyConfig, config, "strategy"))


def _grid(config: Any) -> Grid:
    return grid_from_config(settings(GridConfig, config, "grid"))


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_strategy_yaml_documents_every_parameter(name: str) -> None:
    spec = _strategy(_yaml("strategy", name))
    assert spec.kind == name and len(spec.params) == COUNTS[name]
    assert spec.ts_name.startswith("ATR-D-v1.5-")
    assert spec.commission > 0 and spec.slippage > 0 and spec.initial_capital > 0
    for p in spec.params:
        assert p.tier in (1, 2, 3) and p.ts_input and p.unit and len(p.description) > 20
    tiers = {p.name: p.tier for p in spec.params}
    for tier1 in (
        "atr_period",
        "atr_multiplier",
        "atr_buy_multiplier",
        "bb_dev",
        "hma_fast",
        "hma_slow",
    ):
        assert tiers.get(tier1, 1) == 1
    assert tiers["bb_scaling"] == 3


def test_shared_parameter_names_exist() -> None:
    every = {p for params in KIND_PARAMS.values() for p in params}
    assert set(SHARED_NAMES) <= every


def test_expansion() -> None:
    assert expand_strategy("atr_d_l") == ["atr_d_l"]
    assert expand_strategy("atr_d_ls") == ["atr_d_ls", "atr_d_l"]
    assert expand_strategy("atr_d_duals_ls") == [
        "atr_d_duals_ls",
        "atr_d_duals_l",
        "atr_d_ls",
        "atr_d_l",
    ]
    assert expand_strategy("atr_d_hma_ls") == ["atr_d_hma_ls", "atr_d_hma_l", "atr_d_ls", "atr_d_l"]
    with pytest.raises(ConfigError, match="unknown strategy"):
        expand_strategy("atr_d_x")
    primary = _strategy({**_yaml("strategy", "atr_d_duals_ls"), "commission": 0.02})
    specs = expanded_specs(primary, lambda n: from_plain(StrategyConfig, _yaml("strategy", n)))
    assert [s.name for s in specs] == expand_strategy("atr_d_duals_ls")
    assert all(s.commission == 0.02 for s in specs)


def test_grids_sizes_and_projection() -> None:
    slim = _grid(_yaml("grid", "phase1_slim"))
    full = _grid(_yaml("grid", "full"))
    sizes = {}
    for kind in StrategyKind:
        spec = _strategy(_yaml("strategy", kind.value))
        sizes[kind.value] = grid_for_strategy(slim, spec).size
        assert set(grid_for_strategy(full, spec).names) <= set(spec.param_names)
    assert 0.9e6 <= sizes["atr_d_l"] <= 1.1e6
    assert sizes["atr_d_ls"] > sizes["atr_d_l"]
    l_spec = _strategy(_yaml("strategy", "atr_d_l"))
    assert grid_for_strategy(full, l_spec).size >= 58_000_000
    with pytest.raises(ConfigError, match="hma_fast"):
        grid_for_strategy(slim, l_spec, strict=True)


def test_bad_configs_name_the_key() -> None:
    base = _yaml("strategy", "atr_d_l")
    with pytest.raises(ConfigError, match=r"strategy\.params"):
        _strategy({**base, "params": {k: v for k, v in base["params"].items() if k != "bb_dev"}})
    bad_default = {
        **base,
        "params": {**base["params"], "bb_scaling": {**base["params"]["bb_scaling"], "default": 5}},
    }
    with pytest.raises(ConfigError, match="bb_scaling"):
        _strategy(bad_default)
    with pytest.raises(ConfigError, match="position_fraction"):
        _strategy({**base, "position_fraction": 1.5})
    with pytest.raises(ConfigError, match=r"grid\.params\.atr_period"):
        _grid({"params": {"atr_period": [10, 12.5]}})
    with pytest.raises(ConfigError, match="atr_perod"):
        _grid({"params": {"atr_perod": [10]}})


def test_hydra_composes_strategy_grid_phases() -> None:
    register_configs()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(
            config_name="wfo",
            overrides=["strategy=atr_d_hma_ls", "grid=phase1_slim", "phases=default"],
        )
        spec = _strategy(cfg.strategy)
        grid = grid_for_strategy(_grid(cfg.grid), spec)
        assert spec.kind == "atr_d_hma_ls" and grid.size == 7_682_688
        assert [p.is_years for p in cfg.phases.phases] == [6, 5, 5, 4]
        with pytest.raises(Exception, match="defalt"):
            compose(
                config_name="wfo",
                overrides=["strategy=atr_d_l", "strategy.params.atr_period.defalt=3"],
            )
        with pytest.raises(Exception, match="kind"):
            compose(config_name="wfo", overrides=["strategy=atr_d_l", "strategy.kind=atr_d_zz"])
