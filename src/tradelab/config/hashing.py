"""Stable identity of a configuration."""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

__all__ = ["DEFAULT_HASH_EXCLUDE", "config_hash", "to_plain"]

# Where a run is logged and where files go do not change what it computes.
DEFAULT_HASH_EXCLUDE: tuple[str, ...] = ("hydra", "tracking", "paths")


def to_plain(cfg: Any) -> Any:
    """Return `cfg` resolved into plain dicts, lists and scalars (enums by value).

    Takes OmegaConf containers, mappings, sequences and dataclass instances, nested.
    """
    if isinstance(cfg, DictConfig | ListConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, type):
        return {f.name: to_plain(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, Mapping):
        return {str(k): to_plain(v) for k, v in cfg.items()}
    if isinstance(cfg, Sequence) and not isinstance(cfg, str | bytes):
        return [to_plain(v) for v in cfg]
    if isinstance(cfg, enum.Enum):
        return cfg.value
    return cfg


def config_hash(cfg: Any, exclude: Iterable[str] = DEFAULT_HASH_EXCLUDE) -> str:
    """Hash a config: 16 hex digits, the same whatever the key order."""
    plain = to_plain(cfg)
    if isinstance(plain, dict):
        plain = {k: v for k, v in plain.items() if k not in set(exclude)}
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
