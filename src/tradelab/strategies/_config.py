"""Turn config-like inputs (dataclass, mapping, Hydra DictConfig, None) into typed schemas."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping, Sequence
from enum import Enum
from typing import Any, TypeVar

from tradelab.errors import ConfigError

__all__ = ["coerce_config", "plain"]

T = TypeVar("T")


def plain(value: Any) -> Any:
    """Convert nested mappings/sequences (including OmegaConf containers) to dicts and lists."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value


def coerce_config(cls: type[T], obj: Any, prefix: str = "") -> T:
    """Build the dataclass `cls` from `obj`; unknown keys and bad enum values raise ConfigError."""
    if obj is None:
        return cls()
    if isinstance(obj, cls):
        return obj
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    if isinstance(obj, Mapping):
        unknown = sorted(set(map(str, obj)) - names)
        if unknown:
            raise ConfigError(f"{prefix}{unknown[0]}", f"unknown key (known: {sorted(names)})")
        source = {str(k): obj[k] for k in obj}
    else:
        source = {n: getattr(obj, n) for n in names if hasattr(obj, n)}
    values: dict[str, Any] = {}
    for name, raw in source.items():
        hint = hints[name]
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(hint):
            values[name] = coerce_config(hint, raw, prefix=f"{key}.")  # type: ignore[arg-type]
        elif isinstance(hint, type) and issubclass(hint, Enum):
            raw = getattr(raw, "value", raw)
            try:
                values[name] = hint(raw)
            except ValueError:
                choices = [m.value for m in hint]
                raise ConfigError(key, f"invalid value {raw!r}; use one of {choices}") from None
        else:
            values[name] = plain(raw)
    return cls(**values)
