"""The `ModelRegistry` contract: what every registry must do for the promotion service.

Each check takes a tracker and the registry of the same backend (a version is made by a
decision run, which must exist in the tracker) and fails with an `AssertionError`::

    @pytest.mark.parametrize("check", REGISTRY_CHECKS, ids=check_id)
    def test_registry_contract(check, tracker, registry):
        check(tracker, registry)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath
from typing import Any

from tradelab.promotion.registry import CHAMPION, PREVIOUS, ModelRegistry
from tradelab.testing._assert import raises
from tradelab.tracking.base import Tracker

__all__ = ["REGISTRY_CHECKS", "RegistryCheck", "check_id"]

RegistryCheck = Callable[[Tracker, ModelRegistry], None]
_FAMILY = "contractfam"


def check_id(check: RegistryCheck) -> str:
    """Return a short test id for a check."""
    return check.__name__.removeprefix("check_")


def _register(
    tracker: Tracker,
    registry: ModelRegistry,
    target: str,
    source_run: str,
    config: Mapping[str, Any],
    metrics: Mapping[str, float] | None = None,
    data_hash: str = "d1",
) -> str:
    with tracker.start_job(f"promotion/{_FAMILY}.{target}", "promote") as job:
        return registry.register(
            family=_FAMILY,
            target=target,
            config=config,
            run_id=job.run_id,
            source_run=source_run,
            metrics=metrics or {"score": 1.0},
            tags={"data_hash": data_hash, "git_commit": "c1", "config_hash": "h1"},
        )


def check_empty_registry_has_no_champion(tracker: Tracker, registry: ModelRegistry) -> None:
    """Nothing registered: no champion, no aliases, no version of any run."""
    assert isinstance(registry, ModelRegistry)
    assert registry.champion(_FAMILY, "AAA") is None
    assert registry.alias_version(_FAMILY, "AAA", CHAMPION) is None
    assert registry.alias_version(_FAMILY, "AAA", PREVIOUS) is None
    assert registry.version_of_run(_FAMILY, "AAA", "run-1") is None


def check_versions_count_up_and_remember_their_run(
    tracker: Tracker, registry: ModelRegistry
) -> None:
    """Versions are "1", "2", ... per model; each is found again by its source run."""
    first = _register(tracker, registry, "AAA", "run-1", {"window": 5})
    second = _register(tracker, registry, "AAA", "run-2", {"window": 7})
    other = _register(tracker, registry, "BBB", "run-3", {"window": 9})
    assert (first, second, other) == ("1", "2", "1")
    assert registry.version_of_run(_FAMILY, "AAA", "run-1") == "1"
    assert registry.version_of_run(_FAMILY, "AAA", "run-2") == "2"
    assert registry.version_of_run(_FAMILY, "AAA", "run-3") is None  # another model's run
    assert registry.champion(_FAMILY, "AAA") is None  # registering moves no alias
    assert registry.config_of(_FAMILY, "AAA", "2") == {"window": 7}
    assert registry.config_of(_FAMILY, "BBB", "1") == {"window": 9}


def check_config_is_stored_as_json(tracker: Tracker, registry: ModelRegistry) -> None:
    """A version's config reads back as JSON data (tuples as lists); a config that JSON cannot
    hold is refused before anything is registered."""
    config = {"pair": ("DIA", "SPY"), "nested": {"n": 3, "x": 0.5, "no": None}, "ok": True}
    version = _register(tracker, registry, "AAA", "run-1", config)
    assert registry.config_of(_FAMILY, "AAA", version) == {
        "pair": ["DIA", "SPY"],
        "nested": {"n": 3, "x": 0.5, "no": None},
        "ok": True,
    }
    with raises(Exception):
        _register(tracker, registry, "AAA", "run-2", {"path": PurePosixPath("/w/x")})
    assert registry.version_of_run(_FAMILY, "AAA", "run-2") is None
    assert _register(tracker, registry, "AAA", "run-3", {"w": 1}) == "2"


def check_aliases_move_and_champion_carries_its_metrics(
    tracker: Tracker, registry: ModelRegistry
) -> None:
    """`set_aliases` moves `@champion`/`@previous`; the champion reads back its metrics."""
    metrics = {"score": 2.5, "num_trades": 20.0, "pbo": math.nan}
    first = _register(tracker, registry, "AAA", "run-1", {"w": 1}, metrics, data_hash="d9")
    second = _register(tracker, registry, "AAA", "run-2", {"w": 2}, {"score": 3.0})
    registry.set_aliases(_FAMILY, "AAA", first, None)
    champion = registry.champion(_FAMILY, "AAA")
    assert champion is not None
    assert (champion.version, champion.source_run, champion.data_hash) == ("1", "run-1", "d9")
    assert dict(champion.metrics) == {"score": 2.5, "num_trades": 20.0}  # NaN is not recorded
    assert registry.alias_version(_FAMILY, "AAA", PREVIOUS) is None

    registry.set_aliases(_FAMILY, "AAA", second, first)
    assert registry.alias_version(_FAMILY, "AAA", CHAMPION) == "2"
    assert registry.alias_version(_FAMILY, "AAA", PREVIOUS) == "1"
    assert registry.champion(_FAMILY, "AAA").metrics == {"score": 3.0}  # type: ignore[union-attr]

    registry.set_aliases(_FAMILY, "AAA", first, None)  # a rollback with nothing before it
    assert registry.alias_version(_FAMILY, "AAA", CHAMPION) == "1"
    assert registry.alias_version(_FAMILY, "AAA", PREVIOUS) is None
    assert registry.champion(_FAMILY, "BBB") is None


def check_unknown_versions_are_errors(tracker: Tracker, registry: ModelRegistry) -> None:
    """An alias cannot point at a version that does not exist; its config cannot be read."""
    version = _register(tracker, registry, "AAA", "run-1", {"w": 1})
    registry.set_aliases(_FAMILY, "AAA", version, None)
    with raises(Exception):
        registry.set_aliases(_FAMILY, "AAA", "7", None)
    with raises(Exception):
        registry.config_of(_FAMILY, "AAA", "7")
    assert registry.alias_version(_FAMILY, "AAA", CHAMPION) == version


REGISTRY_CHECKS: tuple[RegistryCheck, ...] = (
    check_empty_registry_has_no_champion,
    check_versions_count_up_and_remember_their_run,
    check_config_is_stored_as_json,
    check_aliases_move_and_champion_carries_its_metrics,
    check_unknown_versions_are_errors,
)
"""Every check of the registry contract, in order."""
