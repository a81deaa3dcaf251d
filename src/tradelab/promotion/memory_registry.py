"""In-memory model registry for unit tests: what `MlflowRegistry` does, without MLflow.

Versions are numbered from 1 per registered model; each keeps its configuration as the MLflow
registry stores it (a JSON round trip), its tags (`source_run`, `metric.<name>`, lineage) and
the decision run that made it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tradelab.promotion.registry import (
    CHAMPION,
    PREVIOUS,
    champion_from_tags,
    model_name,
    plain_config,
    version_tags,
)
from tradelab.promotion.rules import Champion

__all__ = ["MemoryModelVersion", "MemoryRegistry"]


@dataclass(frozen=True)
class MemoryModelVersion:
    """One registered version: its number, configuration, tags and the run that made it."""

    version: str
    config: Mapping[str, Any]
    tags: Mapping[str, str]
    run_id: str


@dataclass
class _Model:
    versions: dict[str, MemoryModelVersion] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)


class MemoryRegistry:
    """`ModelRegistry` in a dict; `versions()` and `aliases()` let tests inspect it."""

    def __init__(self) -> None:
        self._models: dict[str, _Model] = {}

    def _version(self, family: str, target: str, version: str) -> MemoryModelVersion:
        name = model_name(family, target)
        model = self._models.get(name)
        if model is None or str(version) not in model.versions:
            raise KeyError(f"registered model {name} has no version {version!r}")
        return model.versions[str(version)]

    def champion(self, family: str, target: str) -> Champion | None:
        """Return the current `@champion` (its metrics as recorded at promotion), if any."""
        version = self.alias_version(family, target, CHAMPION)
        if version is None:
            return None
        return champion_from_tags(version, self._version(family, target, version).tags)

    def alias_version(self, family: str, target: str, alias: str) -> str | None:
        """Return the version `alias` points at, if any."""
        model = self._models.get(model_name(family, target))
        return None if model is None else model.aliases.get(alias)

    def version_of_run(self, family: str, target: str, source_run: str) -> str | None:
        """Return the version already registered for `source_run` (promotion is idempotent)."""
        model = self._models.get(model_name(family, target))
        for mv in model.versions.values() if model else ():
            if mv.tags.get("source_run") == source_run:
                return mv.version
        return None

    def register(
        self,
        *,
        family: str,
        target: str,
        config: Mapping[str, Any],
        run_id: str,
        source_run: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> str:
        """Register a new version carrying `config`, made by decision run `run_id`; return it."""
        stored = plain_config(config)  # fails here, as in MLflow, before anything is recorded
        model = self._models.setdefault(model_name(family, target), _Model())
        version = str(len(model.versions) + 1)
        model.versions[version] = MemoryModelVersion(
            version, stored, version_tags(tags, source_run, metrics), run_id
        )
        return version

    def set_aliases(self, family: str, target: str, champion: str, previous: str | None) -> None:
        """Point `@champion` at `champion` and `@previous` at `previous` (removed when None)."""
        for version in (champion, previous):
            if version is not None:
                self._version(family, target, version)  # KeyError for an unknown version
        aliases = self._models[model_name(family, target)].aliases
        if previous is None:
            aliases.pop(PREVIOUS, None)
        else:
            aliases[PREVIOUS] = str(previous)
        aliases[CHAMPION] = str(champion)

    def config_of(self, family: str, target: str, version: str) -> dict[str, Any]:
        """Return the production configuration `version` carries."""
        return plain_config(self._version(family, target, version).config)

    def versions(self, family: str, target: str) -> list[MemoryModelVersion]:
        """Return every version of the (family, target) model, oldest first."""
        model = self._models.get(model_name(family, target))
        return [] if model is None else list(model.versions.values())

    def aliases(self, family: str, target: str) -> dict[str, str]:
        """Return the aliases of the (family, target) model."""
        model = self._models.get(model_name(family, target))
        return {} if model is None else dict(model.aliases)
