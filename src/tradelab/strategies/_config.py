"""Turn config-like inputs (dataclass, mapping, Hydra DictConfig, None) into typed schemas."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from enum import Enum
from typing import Any, TypeVar

from tradelab.errors import ConfigError
from tradelab.settings import to_plain

__all__ = ["coerce_config"]

T = TypeVar("T")


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
            values[name] = to_plain(raw)
    return cls(**values)
