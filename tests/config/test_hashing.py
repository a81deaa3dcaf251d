from __future__ import annotations

from omegaconf import OmegaConf

from tradelab.apps._runtime import run_config_hash
from tradelab.settings import config_hash


def test_hash_ignores_key_order_and_excluded_groups() -> None:
    a = OmegaConf.create(
        {"symbol": "SMH", "grid": {"x": [1, 2], "y": 0.5}, "tracking": {"uri": "a"}}
    )
    b = OmegaConf.create(
        {"tracking": {"uri": "b"}, "grid": {"y": 0.5, "x": [1, 2]}, "symbol": "SMH"}
    )
    assert run_config_hash(a) == run_config_hash(b)
    assert len(run_config_hash(a)) == 16
    assert config_hash(a) != config_hash(b)  # the generic hash excludes nothing


def test_hash_changes_with_any_value() -> None:
    a = {"symbol": "SMH", "grid": {"x": [1, 2]}}
    assert config_hash(a) != config_hash({"symbol": "SMH", "grid": {"x": [1, 3]}})
    assert config_hash(a) != config_hash({"symbol": "QQQ", "grid": {"x": [1, 2]}})
