"""Register every schema with Hydra's ConfigStore.

Primary configs start with `defaults: [<app>_schema, ...]`; a group option starts with
`defaults: [<option>_schema, _self_]` so an unknown key or a wrong type fails at compose time.
"""

from __future__ import annotations

from hydra.core.config_store import ConfigStore

from tradelab.config.apps import (
    AnalyzeAppConfig,
    IngestAppConfig,
    PromoteAppConfig,
    ReportAppConfig,
    TuneAppConfig,
    WfoAppConfig,
)
from tradelab.config.common import PathsConfig, TrackingConfig
from tradelab.config.search import GridSearchConfig, OptunaSearchConfig, RandomSearchConfig

__all__ = ["register_configs"]

_registered = False


# Modules under tradelab.config that contribute schemas: each defines
# GROUP_SCHEMAS = {"<group>": {"<option>": <dataclass>, ...}, ...}.
_AREA_MODULES = ("wfo", "kalman", "forecast", "results", "promotion", "robustness")


def _group_schemas() -> dict[str, dict[str, type]]:
    import importlib

    from tradelab.config.data import DATA_SCHEMAS, UniverseConfig

    groups: dict[str, dict[str, type]] = {
        "paths": {"paths": PathsConfig},
        "tracking": {"tracking": TrackingConfig},
        "search": {
            "grid": GridSearchConfig,
            "random": RandomSearchConfig,
            "optuna": OptunaSearchConfig,
        },
        "data": DATA_SCHEMAS,
        "universe": {"universe": UniverseConfig},
    }
    for area in _AREA_MODULES:
        try:
            module = importlib.import_module(f"tradelab.config.{area}")
        except ModuleNotFoundError as exc:
            if exc.name != f"tradelab.config.{area}":
                raise
            continue
        for group, options in getattr(module, "GROUP_SCHEMAS", {}).items():
            groups.setdefault(group, {}).update(options)
    return groups


def register_configs() -> None:
    """Store app and group schemas (idempotent)."""
    global _registered
    if _registered:
        return
    cs = ConfigStore.instance()
    for name, node in {
        "ingest": IngestAppConfig,
        "wfo": WfoAppConfig,
        "tune": TuneAppConfig,
        "analyze": AnalyzeAppConfig,
        "promote": PromoteAppConfig,
        "report": ReportAppConfig,
    }.items():
        cs.store(name=f"{name}_schema", node=node)
    for group, options in _group_schemas().items():
        for name, node in options.items():
            cs.store(group=group, name=f"{name}_schema", node=node)
    _registered = True
