"""Structured-config schemas (registered with Hydra) and config hashing."""

from __future__ import annotations

from tradelab.config.hashing import config_hash, to_plain
from tradelab.config.store import register_configs

__all__ = ["config_hash", "register_configs", "to_plain"]
