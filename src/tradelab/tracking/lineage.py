"""Lineage tags: what code, config and data produced a run, and which invocation it belongs to.

`git_dirty` says whether the code differs from `git_commit`: the files a DVC pipeline rewrites
itself (every `dvc.lock`, `metrics/`, the outputs its lock files list, and `params.yaml` inside
`dvc exp run`, which writes the experiment's `-S` values there) do not count.

`invocation` groups the parent runs of one app invocation (a `tradelab-wfo` call makes one
parent run per strategy variant); the `dvc_*` tags say which DVC stage and experiment ran it,
from what DVC 3 exports to every stage command (`DVC_STAGE`, and inside `dvc exp run`
`DVC_EXP_NAME` and `DVC_EXP_BASELINE_REV`). Promotion scopes its candidates with them.
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = [
    "DVC_BASELINE_TAG",
    "DVC_EXPERIMENT_TAG",
    "DVC_STAGE_TAG",
    "INVOCATION_ENV",
    "INVOCATION_TAG",
    "PIPELINE_WRITES",
    "DvcContext",
    "Lineage",
    "git_state",
    "package_version",
    "pipeline_outputs",
    "process_invocation",
]

INVOCATION_TAG = "invocation"
DVC_STAGE_TAG = "dvc_stage"
DVC_EXPERIMENT_TAG = "dvc_experiment"
DVC_BASELINE_TAG = "dvc_baseline_rev"
INVOCATION_ENV = "TRADELAB_INVOCATION"
"""Set it to group several app invocations (a script of `tradelab-wfo` calls) as one."""

PIPELINE_WRITES: tuple[str, ...] = ("metrics/",)
"""Paths (a trailing `/`: a folder) the pipeline rewrites besides `dvc.lock` files and the
outputs those lock files list."""

_LOCK = "dvc.lock"


@dataclass(frozen=True)
class DvcContext:
    """What DVC tells a stage command about the run it belongs to (all None outside DVC)."""

    stage: str | None = None
    experiment: str | None = None
    baseline_rev: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> DvcContext:
        """Read `DVC_STAGE`, `DVC_EXP_NAME` and `DVC_EXP_BASELINE_REV` (default: os.environ)."""
        source = os.environ if env is None else env
        return cls(
            stage=source.get("DVC_STAGE") or None,
            experiment=source.get("DVC_EXP_NAME") or None,
            baseline_rev=source.get("DVC_EXP_BASELINE_REV") or None,
        )

    def tags(self) -> dict[str, str]:
        """Return the tags of the values DVC set."""
        values = {
            DVC_STAGE_TAG: self.stage,
            DVC_EXPERIMENT_TAG: self.experiment,
            DVC_BASELINE_TAG: self.baseline_rev,
        }
        return {k: v for k, v in values.items() if v}


def _git(where: str, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=where, capture_output=True, text=True, check=True
    ).stdout


def _read_yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return None


def _stage_wdirs(dvc_yaml: Path) -> dict[str, str]:
    """Return the `wdir` of every stage of a dvc.yaml (`foreach` stages: in `do`; a templated one is
    left out)."""
    stages = (_read_yaml(dvc_yaml) or {}).get("stages") or {}
    out = {}
    for name, stage in stages.items() if isinstance(stages, dict) else []:
        body = stage.get("do", stage) if isinstance(stage, dict) else {}
        wdir = body.get("wdir", ".") if isinstance(body, dict) else "."
        if isinstance(wdir, str) and "${" not in wdir:
            out[str(name)] = wdir
    return out


def _lock_outputs(lock: Path, root: Path) -> set[str]:
    """Return the outputs `lock` records, as paths relative to the repository `root`."""
    stages = (_read_yaml(lock) or {}).get("stages") or {}
    wdirs = _stage_wdirs(lock.with_name("dvc.yaml"))
    out: set[str] = set()
    for name, stage in stages.items() if isinstance(stages, dict) else []:
        base = lock.parent / wdirs.get(str(name).split("@")[0], ".")
        for item in (stage or {}).get("outs") or []:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                path = os.path.relpath(os.path.normpath(base / item["path"]), root)
                if not path.startswith(".."):
                    out.add(PurePosixPath(Path(path)).as_posix())
    return out


def pipeline_outputs(root: str | Path, locks: Iterable[str] | None = None) -> set[str]:
    """Return the paths (relative to `root`) the DVC pipeline of `root` writes:
    `PIPELINE_WRITES` and the outputs every lock file lists (`locks`: their paths relative to
    `root`; default: the lock files git sees)."""
    root = Path(root)
    if locks is None:
        listed = _git(str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard")
        locks = [p for p in listed.split("\0") if PurePosixPath(p).name == _LOCK]
    out = {p.rstrip("/") for p in PIPELINE_WRITES}
    for lock in locks:
        out |= _lock_outputs(root / lock, root)
    return out


def _written_by_pipeline(path: str, outputs: set[str], in_experiment: bool) -> bool:
    if PurePosixPath(path).name == _LOCK or (in_experiment and path == "params.yaml"):
        return True
    return any(path == out or path.startswith(out + "/") for out in outputs)


def _changed_paths(where: str) -> list[str]:
    """Return the tracked files that differ from HEAD (both sides of a rename)."""
    fields = _git(where, "status", "--porcelain", "-z", "--untracked-files=no").split("\0")
    out, renamed = [], False
    for entry in fields:
        if renamed:  # the source path of a rename follows its entry
            out.append(entry)
            renamed = False
        elif entry:
            out.append(entry[3:])
            renamed = entry[0] in "RC"
    return out


@functools.cache
def git_state(cwd: str | None = None, in_experiment: bool = False) -> tuple[str, bool]:
    """Return (commit, dirty) of the repository at `cwd`; ("unknown", False) outside git.

    Files the pipeline rewrites itself do not make it dirty (module doc); `in_experiment`:
    neither does `params.yaml` (inside `dvc exp run`)."""
    where = cwd or str(Path.cwd())
    try:
        commit = _git(where, "rev-parse", "HEAD").strip()
        changed = _changed_paths(where)
        if not changed:
            return commit, False
        root = _git(where, "rev-parse", "--show-toplevel").strip()
        outputs = pipeline_outputs(root)
    except (OSError, subprocess.CalledProcessError):
        return "unknown", False
    return commit, any(not _written_by_pipeline(p, outputs, in_experiment) for p in changed)


def _current_git_state() -> tuple[str, bool]:
    return git_state(None, DvcContext.from_env().experiment is not None)


@functools.cache
def package_version() -> str:
    """Return the installed tradelab version."""
    try:
        return metadata.version("tradelab")
    except metadata.PackageNotFoundError:
        return "0+unknown"


@functools.cache
def _process_id() -> str:
    return uuid.uuid4().hex[:16]


def process_invocation() -> str:
    """Return `$TRADELAB_INVOCATION`, or an id drawn once for this process."""
    return os.environ.get(INVOCATION_ENV) or _process_id()


@dataclass(frozen=True)
class Lineage:
    """Everything needed to say where a result came from."""

    config_hash: str
    data_hash: str = "none"
    seed: int | None = None
    overrides: tuple[str, ...] = ()
    invocation: str = field(default_factory=process_invocation)
    dvc: DvcContext = field(default_factory=DvcContext.from_env)
    git_commit: str = field(default_factory=lambda: _current_git_state()[0])
    git_dirty: bool = field(default_factory=lambda: _current_git_state()[1])
    version: str = field(default_factory=package_version)

    @classmethod
    def collect(
        cls,
        config_hash: str,
        *,
        data_hash: str = "none",
        seed: int | None = None,
        overrides: Sequence[str] = (),
        invocation: str | None = None,
    ) -> Lineage:
        """Gather lineage for the current process (git state, DVC context, package version)."""
        return cls(
            config_hash=config_hash,
            data_hash=data_hash,
            seed=seed,
            overrides=tuple(overrides),
            invocation=invocation or process_invocation(),
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
            INVOCATION_TAG: self.invocation,
            **self.dvc.tags(),
        }
