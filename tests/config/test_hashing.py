from __future__ import annotations

from omegaconf import OmegaConf

from tradelab.config import config_hash


def test_hash_ignores_key_order_and_excluded_groups() -> None:
    a = OmegaConf.create(
        {"symbol": "SMH", "grid": {"x": [1, 2], "y": 0.5}, "tracking": {"uri": "a"}}
    )
    b = OmegaConf.create(
        {"tracking": {"uri": "b"}, "grid": {"y": 0.5, "x": [1, 2]}, "symbol": "SMH"}
    )
    assert config_hash(a) == config_hash(b)
    assert len(config_hash(a)) == 16


def test_hash_changes_with_any_value() -> None:
    a = {"symbol": "SMH", "grid": {"x": [1, 2]}}
    assert config_hash(a) != config_hash({"symbol": "SMH", "grid": {"x": [1, 3]}})
    assert config_hash(a) != config_hash({"symbol": "QQQ", "grid": {"x": [1, 2]}})
