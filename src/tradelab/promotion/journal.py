"""The write-ahead journal of promotions: every change of `@champion` or of the production files
is an intent carried to its end, by the run that journaled it or, after a crash, by the next one.

The steps of an intent (the fault points of each in brackets):

1. the `intent` line, fsync'd: action, family, target, the version that becomes `@champion`
   (null until registered), `@previous` afterwards, the version replaced, the source run, the
   decision's verdict, reason and checks, what to register, the files it writes
   [`promotion.intent`];
2. a promotion registers its version, or reuses the one its source run already has
   [`promotion.registry.model`, `promotion.registry.version`];
3. the aliases move [`promotion.registry.previous`, `promotion.registry.champion`];
4. the `ready` line: the version and the files that differ from what `@champion` says
   [`promotion.ready`];
5. the files are written from `@champion` [`promotion.file` @k];
6. the audit line, carrying the intent's id [`promotion.audit.before`, `promotion.audit.after`];
7. the `done` line [`promotion.done`].

`complete` runs steps 2-7 and each step first looks at what is done (the version by its source
run, the aliases set to the same values again, files written only where they differ, the audit
line found by the intent's id), so finishing an intent after a crash at any step leaves the
registry, the files and the audit log as the uninterrupted run would have.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tradelab import faults
from tradelab.promotion.families import FamilySpec
from tradelab.promotion.production import (
    append_audit,
    append_journal,
    changed_files,
    plan_production_files,
    production_paths,
    read_audit,
    read_journal,
    write_planned,
)
from tradelab.promotion.registry import ModelRegistry, model_name

__all__ = ["Intent", "begin", "complete", "plan_from_champion", "planned_paths", "unfinished"]

INTENT = faults.declare(
    "promotion.intent", "a promotion, rollback or reconciliation after its intent is journaled"
)
READY = faults.declare(
    "promotion.ready", "an intent after the aliases moved and the files to change are journaled"
)
AUDIT_BEFORE = faults.declare(
    "promotion.audit.before", "an intent after the production files, before the audit line"
)
AUDIT_AFTER = faults.declare(
    "promotion.audit.after", "an intent after the audit line, before the journal says done"
)
DONE = faults.declare(
    "promotion.done", "an intent after the journal says done, before its decision run ends"
)

ACTIONS = ("promote", "rollback", "reconcile")


@dataclass
class Intent:
    """One journaled change: what it does, and (`changed`) the files it found to change."""

    action: str
    family: str
    target: str
    champion: str | None  # the version that becomes @champion (promote: null until registered)
    previous: str | None  # @previous afterwards
    replaced: str | None  # @champion before
    verdict: str
    reason: str
    decision_run: str
    source_run: str | None = None
    checks: list[list[Any]] = field(default_factory=list)  # [name, passed, detail]
    register: dict[str, Any] | None = None  # promote: config, metrics, tags of the new version
    files: list[str] = field(default_factory=list)
    changed: list[str] | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"unknown promotion action {self.action!r}: one of {ACTIONS}")

    def audit_record(self) -> dict[str, Any]:
        """Return the audit line this intent ends with (its fields as before the journal, plus
        the intent's id)."""
        record: dict[str, Any] = {
            "action": self.action,
            "family": self.family,
            "target": self.target,
            "champion": self.champion,
            "previous": self.previous,
        }
        if self.action == "rollback":
            record["replaced"] = self.replaced
        else:
            record["source_run"] = self.source_run
        record.update(reason=self.reason, files=list(self.changed or []), intent=self.id)
        return record


def _fold(records: list[dict[str, Any]]) -> tuple[dict[str, Intent], set[str]]:
    """Replay the journal: every intent as its latest lines say, and the ids that are done."""
    intents: dict[str, Intent] = {}
    done: set[str] = set()
    names = set(Intent.__dataclass_fields__)
    for record in records:
        op, key = record.get("op"), record.get("id")
        if op == "intent" and key:
            intents[key] = Intent(**{k: v for k, v in record.items() if k in names})
        elif op == "ready" and key in intents:
            intents[key].champion = record.get("champion")
            intents[key].changed = list(record.get("changed") or [])
        elif op == "done" and key:
            done.add(key)
    return intents, done


def unfinished(production_dir: Path, family: str, target: str) -> list[Intent]:
    """Return the intents of (`family`, `target`) the journal has no `done` line for, oldest
    first."""
    intents, done = _fold(read_journal(production_dir))
    return [
        i
        for key, i in intents.items()
        if key not in done and (i.family, i.target) == (family, target)
    ]


def begin(production_dir: Path, intent: Intent) -> Intent:
    """Journal `intent` (fsync'd) before anything it changes; return it."""
    append_journal(production_dir, {"op": "intent", **asdict(intent)})
    faults.fault(INTENT)
    return intent


def plan_from_champion(
    spec: FamilySpec, target: str, registry: ModelRegistry, conf_dir: Path, production_dir: Path
) -> dict[Path, str]:
    """Return {path: text} of the production files as `@champion` says (empty: no champion)."""
    champion = registry.champion(spec.name, target)
    if champion is None:
        return {}
    config = registry.config_of(spec.name, target, champion.version)
    return plan_production_files(
        family=spec.name,
        target=target,
        app=spec.app,
        overlay=spec.overlay(config, target),
        seed_files=spec.seed_files(config, target),
        model=model_name(spec.name, target),
        version=champion.version,
        run=champion.source_run,
        conf_dir=conf_dir,
        production_dir=production_dir,
    )


def planned_paths(
    spec: FamilySpec, target: str, config: Mapping[str, Any], conf_dir: Path, production_dir: Path
) -> list[str]:
    """Return the files a production configuration `config` of `target` is written to."""
    paths = production_paths(
        family=spec.name,
        target=target,
        seed_files=spec.seed_files(config, target),
        conf_dir=conf_dir,
        production_dir=production_dir,
    )
    return [str(p) for p in paths]


def _version(intent: Intent, registry: ModelRegistry, run_id: str) -> str:
    """Return the version `intent` promotes: known, registered before a crash, or registered now
    (on run `run_id`) from what the intent recorded."""
    if intent.champion is not None:
        return intent.champion
    family, target, source = intent.family, intent.target, intent.source_run or ""
    found = registry.version_of_run(family, target, source)
    if found is not None:
        return found
    if intent.register is None:
        raise ValueError(f"intent {intent.id} names no version and nothing to register")
    return registry.register(
        family=family,
        target=target,
        config=intent.register["config"],
        run_id=run_id,
        source_run=source,
        metrics=intent.register["metrics"],
        tags=intent.register["tags"],
    )


def _audited(production_dir: Path, intent_id: str) -> bool:
    return any(record.get("intent") == intent_id for record in read_audit(production_dir))


def complete(
    intent: Intent,
    spec: FamilySpec,
    registry: ModelRegistry,
    *,
    run_id: str,
    conf_dir: Path,
    production_dir: Path,
) -> Intent:
    """Carry `intent` through steps 2-7 (module doc), skipping what is already done; a new
    version is registered on run `run_id`. Return the intent, `champion` and `changed` filled."""
    if intent.action != "reconcile":
        version = _version(intent, registry, run_id)
        registry.set_aliases(intent.family, intent.target, version, intent.previous)
        intent.champion = version
    plan = plan_from_champion(spec, intent.target, registry, conf_dir, production_dir)
    if intent.changed is None:
        intent.changed = [str(p) for p in changed_files(plan)]
        ready = {"op": "ready", "id": intent.id, "champion": intent.champion}
        append_journal(production_dir, {**ready, "changed": intent.changed})
        faults.fault(READY)
    write_planned(plan)
    if not _audited(production_dir, intent.id):
        faults.fault(AUDIT_BEFORE)
        append_audit(production_dir, intent.audit_record())
        faults.fault(AUDIT_AFTER)
    append_journal(production_dir, {"op": "done", "id": intent.id})
    faults.fault(DONE)
    return intent
