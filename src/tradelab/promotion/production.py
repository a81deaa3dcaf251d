"""Production files, written atomically, and the append-only promotion audit log."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tradelab.atomic import write_if_changed

__all__ = ["append_audit", "read_audit", "write_if_changed", "write_production_files"]

_HEADER = """# @package _global_
# Written by tradelab-promote: the production configuration of {family}/{target}
# (registered model {model} version {version}, source run {run}).
# Re-run it with: tradelab-{app} +production={family}/{target}
"""


def write_production_files(
    *,
    family: str,
    target: str,
    app: str,
    overlay: Mapping[str, Any],
    seed_files: Mapping[str, Any],
    model: str,
    version: str,
    run: str,
    conf_dir: Path,
    production_dir: Path,
) -> list[Path]:
    """Write `conf/production/<family>/<target>.yaml` and the seeds' JSON; return what changed."""
    header = _HEADER.format(
        family=family, target=target, model=model, version=version, run=run, app=app
    )
    text = header + yaml.safe_dump(dict(overlay), sort_keys=False)
    changed = []
    path = conf_dir / family / f"{target}.yaml"
    if write_if_changed(path, text):
        changed.append(path)
    for rel, obj in seed_files.items():
        file = production_dir / rel
        if write_if_changed(file, json.dumps(obj, indent=4) + "\n"):
            changed.append(file)
    return changed


def append_audit(production_dir: Path, record: Mapping[str, Any]) -> None:
    """Append one decision to `promotions.jsonl` (never rewritten)."""
    production_dir.mkdir(parents=True, exist_ok=True)
    line = json.dumps(
        {"time": datetime.now(UTC).isoformat(timespec="seconds"), **record}, default=str
    )
    with open(production_dir / "promotions.jsonl", "a") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_audit(production_dir: Path) -> list[dict[str, Any]]:
    """Return every audit record, oldest first."""
    path = production_dir / "promotions.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
