"""Read config-like objects (dataclasses, DictConfig, mappings) as plain dicts."""

from __future__ import annotations

from typing import Any

from tradelab.settings import to_plain

__all__ = ["as_plain", "option"]


def as_plain(cfg: Any) -> dict[str, Any]:
    """Return `cfg` as a plain dict (enums by value); None gives {}."""
    if cfg is None:
        return {}
    plain = to_plain(cfg)
    if not isinstance(plain, dict):
        raise TypeError(f"expected a mapping or dataclass config, got {type(cfg).__name__}")
    return plain


def option(cfg: Any, key: str, default: Any = None) -> Any:
    """Return `cfg[key]` (or the attribute), `default` when absent or None."""
    if cfg is None:
        return default
    value = cfg.get(key, None) if hasattr(cfg, "get") else getattr(cfg, key, None)
    return default if value is None else value
