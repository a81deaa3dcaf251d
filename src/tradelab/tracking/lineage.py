"""Lineage tags: what code, config and data produced a run."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

__all__ = ["Lineage", "git_state", "package_version"]


@functools.cache
def git_state(cwd: str | None = None) -> tuple[str, bool]:
    """Return (commit, dirty) of the repository at `cwd`; ("unknown", False) outside git."""
    where = cwd or str(Path.cwd())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, bool(status.strip())


@functools.cache
def package_version() -> str:
    """Return the installed tradelab version."""
    try:
        return metadata.version("tradelab")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@dataclass(frozen=True)
class Lineage:
    """Everything needed to say where a result came from."""

    config_hash: str
    data_hash: str = "none"
    seed: int | None = None
    overrides: tuple[str, ...] = ()
    git_commit: str = field(default_factory=lambda: git_state()[0])
    git_dirty: bool = field(default_factory=lambda: git_state()[1])
    version: str = field(default_factory=package_version)

    @classmethod
    def collect(
        cls,
        config_hash: str,
        *,
        data_hash: str = "none",
        seed: int | None = None,
        overrides: Sequence[str] = (),
    ) -> Lineage:
        """Gather lineage for the current process (git state, package version)."""
        return cls(
            config_hash=config_hash, data_hash=data_hash, seed=seed, overrides=tuple(overrides)
        )

    def tags(self) -> dict[str, str]:
        """Return the tags every run of a job carries."""
        return {
            "git_commit": self.git_commit,
            "git_dirty": str(self.git_dirty).lower(),
            "config_hash": self.config_hash,
            "data_hash": self.data_hash,
            "seed": "none" if self.seed is None else str(self.seed),
            "hydra_overrides": " ".join(self.overrides) if self.overrides else "(none)",
            "tradelab_version": self.version,
            "mlflow.source.git.commit": self.git_commit,
        }
