"""Typed settings: frozen dataclasses built from plain data, turned back into plain data, hashed.

Each domain package owns the settings it reads (`wfo.settings`, `strategies.settings`, ...):
frozen dataclasses whose defaults are the only definition of each default. The apps turn the
composed Hydra config into plain containers and call `from_plain` once; library code receives
the typed objects. `from_plain` is the one reader: unknown keys, missing keys and values of the
wrong type raise a `ConfigError` naming the dotted key.

Field types understood: `int`, `float`, `bool`, `str`, `StrEnum`/`Enum` subclasses, nested
settings dataclasses, `X | None`, `tuple[X, ...]`, `list[X]`, `dict[str, X]`, `Any`.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import hashlib
import json
import numbers
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from tradelab.errors import ConfigError

__all__ = ["MISSING", "config_hash", "from_plain", "to_plain"]

T = TypeVar("T")

MISSING = "???"
"""How a composed config marks a value the user must give (OmegaConf's marker)."""


def to_plain(obj: Any) -> Any:
    """Return `obj` as plain dicts, lists and scalars (dataclasses by field, enums by value)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, Mapping):
        return {str(k): to_plain(v) for k, v in obj.items()}
    if isinstance(obj, Sequence) and not isinstance(obj, str | bytes):
        return [to_plain(v) for v in obj]
    if isinstance(obj, enum.Enum):
        return obj.value
    return obj


def config_hash(obj: Any, exclude: Iterable[str] = ()) -> str:
    """Hash plain data (or settings): 16 hex digits, the same whatever the key order."""
    plain = to_plain(obj)
    if isinstance(plain, dict):
        skip = set(exclude)
        plain = {k: v for k, v in plain.items() if k not in skip}
    blob = json.dumps(plain, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_plain(cls: type[T], data: Any, key: str = "") -> T:
    """Build the settings dataclass `cls` from a mapping (an instance of `cls` passes through).

    `key` is the dotted name of `data` in the whole config, used in error messages.
    """
    if isinstance(data, cls):
        return data
    if dataclasses.is_dataclass(data) and not isinstance(data, type):
        data = to_plain(data)
    if not isinstance(data, Mapping):
        raise ConfigError(key or cls.__name__, f"expected a mapping, got {_describe(data)}")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if str(k) not in fields)
    if unknown:
        raise ConfigError(_join(key, unknown[0]), f"unknown key (known: {sorted(fields)})")
    hints = _hints(cls)
    values: dict[str, Any] = {}
    for name, f in fields.items():
        if not f.init:
            continue
        sub = _join(key, name)
        if name not in data or data[name] == MISSING:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ConfigError(sub, "missing value: set it in the config or on the command line")
            continue
        values[name] = _convert(hints[name], data[name], sub)
    return cls(**values)


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _describe(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:200]


def _convert(tp: Any, value: Any, key: str) -> Any:
    """Convert `value` to the annotated type `tp` (recursively) or raise ConfigError."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any or tp is object:
        return to_plain(value)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            if type(None) in args:
                return None
            raise ConfigError(key, "must not be null")
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if value is None:
        raise ConfigError(key, "must not be null")
    if dataclasses.is_dataclass(tp):
        return from_plain(tp, value, key)
    if origin in (tuple, list, Sequence):
        if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
            raise ConfigError(key, f"expected a list, got {_describe(value)}")
        item = args[0] if args else Any
        items = [_convert(item, v, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise ConfigError(key, f"expected a mapping, got {_describe(value)}")
        item = args[1] if len(args) == 2 else Any
        return {str(k): _convert(item, v, _join(key, str(k))) for k, v in value.items()}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        raw = getattr(value, "value", value)
        try:
            return tp(raw)
        except ValueError:
            choices = [m.value for m in tp]
            raise ConfigError(key, f"invalid value {raw!r}; use one of {choices}") from None
    return _scalar(tp, value, key)


def _scalar(tp: Any, value: Any, key: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            return int(value)
        if isinstance(value, numbers.Real) and float(value).is_integer():
            return int(value)
    elif tp is float:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return str(value)
    else:
        return value
    raise ConfigError(key, f"expected {tp.__name__}, got {_describe(value)}")
