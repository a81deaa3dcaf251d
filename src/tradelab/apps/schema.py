"""Hydra schemas of the apps, derived from the domain packages' frozen settings.

Hydra's structured configs must be mutable while Hydra composes them, and the domain settings
are frozen; `hydra_schema(cls)` derives a mutable twin of a settings dataclass (same fields,
same defaults, `tuple` fields as lists, required fields as `???`), so each default is defined
once, in its domain package. Each app declares its primary schema and its groups' option
schemas and registers them with `store_schemas` (only what it composes: an app imports the
settings of the packages it runs, nothing else), in Hydra's config store under the one
internal group `schema/`: `schema/<app>` and `schema/<group>/<option>`, so the groups users
choose from (`grid=`, `model=`, ...) list only their options, in `--help` and tab completion.
Primary configs start with `defaults: [/schema/<app>@_here_, ...]`; a group option starts
with `defaults: [/schema/<group>/<option>@_here_, _self_]`, so an unknown key or a wrong type
fails at compose time.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import importlib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

from tradelab.tracking.settings import TrackingConfig

__all__ = [
    "APPS",
    "SCHEMA_GROUP",
    "AppConfig",
    "PathsConfig",
    "hydra_schema",
    "register_configs",
    "store_schemas",
    "twin_value",
]


@functools.cache
def hydra_schema(cls: type) -> type:
    """Return a mutable dataclass Hydra can compose into, with the fields of settings `cls`."""
    hints = typing.get_type_hints(cls)
    fields = []
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        tp = _twin_type(hints[f.name])
        if f.default is not dataclasses.MISSING:
            spec = _default_field(tp, f.default)
        elif f.default_factory is not dataclasses.MISSING:
            spec = _default_field(tp, f.default_factory())
        else:
            spec = field(default=MISSING)
        fields.append((f.name, tp, spec))
    twin = dataclasses.make_dataclass(cls.__name__, fields)
    twin.__doc__ = cls.__doc__
    twin.__module__ = __name__
    return twin


def _twin_type(tp: Any) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return hydra_schema(tp)  # type: ignore[arg-type]
    if origin in (typing.Union, types.UnionType):
        twins = tuple(_twin_type(a) for a in args)
        return functools.reduce(lambda a, b: typing.Union[a, b], twins)  # noqa: UP007
    if origin in (tuple, list):
        return list[_twin_type(args[0]) if args else Any]  # type: ignore[misc]
    if origin is dict:
        return dict[str, _twin_type(args[1])]  # type: ignore[misc]
    return tp


def _default_field(tp: Any, value: Any) -> Any:
    twin = twin_value(value)
    if isinstance(twin, list | dict) or dataclasses.is_dataclass(twin):
        return field(default_factory=lambda: copy.deepcopy(twin))
    return field(default=twin)


def twin_value(value: Any) -> Any:
    """Return a settings value (a dataclass instance, tuple, ...) as its Hydra twin."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        twin = hydra_schema(type(value))
        return twin(
            **{f.name: twin_value(getattr(value, f.name)) for f in dataclasses.fields(value)}
        )
    if isinstance(value, tuple | list):
        return [twin_value(v) for v in value]
    if isinstance(value, dict):
        return {k: twin_value(v) for k, v in value.items()}
    return value


_Tracking = hydra_schema(TrackingConfig)


@dataclass
class PathsConfig:
    """Where things live, relative to the working directory unless absolute."""

    root_dir: str = "."
    data_dir: str = "${paths.root_dir}/data"
    raw_dir: str = "${paths.data_dir}/raw"
    store_dir: str = "${paths.data_dir}/store"
    results_dir: str = "${paths.root_dir}/results"
    reports_dir: str = "${paths.root_dir}/reports"
    production_dir: str = "${paths.root_dir}/conf/production"
    deploy_dir: str = "${paths.root_dir}/production"
    cache_dir: str = "${paths.root_dir}/.cache/tradelab"


@dataclass
class AppConfig:
    """What every app's primary config holds: paths, tracking, the seed."""

    paths: PathsConfig = field(default_factory=PathsConfig)
    tracking: _Tracking = field(default_factory=_Tracking)
    seed: int = 7


APPS = ("ingest", "wfo", "tune", "analyze", "promote", "report")
"""Every app module under `tradelab.apps`."""

SCHEMA_GROUP = "schema"
"""The config-store group holding every schema (`schema/<app>`, `schema/<group>/<option>`)."""

_stored: set[tuple[str | None, str]] = set()


def store_schemas(
    app: str, schema: type, groups: Mapping[str, Mapping[str, type]] | None = None
) -> None:
    """Register `schema/<app>` and `schema/<group>/<option>` for each settings class of
    `groups` ({group: {option: settings class}}); registering twice does nothing."""
    cs = ConfigStore.instance()
    entries: list[tuple[str | None, str, type]] = [(SCHEMA_GROUP, app, schema)]
    entries.append((f"{SCHEMA_GROUP}/paths", "paths", PathsConfig))
    entries.append((f"{SCHEMA_GROUP}/tracking", "tracking", _Tracking))
    for group, options in (groups or {}).items():
        entries += [
            (f"{SCHEMA_GROUP}/{group}", name, hydra_schema(cls)) for name, cls in options.items()
        ]
    for group, name, node in entries:
        if (group, name) not in _stored:
            cs.store(group=group, name=name, node=node)
            _stored.add((group, name))


def register_configs() -> None:
    """Register the schemas of every app (for tools and tests that compose several apps)."""
    for app in APPS:
        importlib.import_module(f"tradelab.apps.{app}")
