"""What every app shares: where the configs are, the tracker, lineage, signal handling, and the
repair of runs that crashed processes left RUNNING (before every app's body)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import signal
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf

from tradelab.apps.schema import store_schemas
from tradelab.data import ParquetStore
from tradelab.data.fetchers import api_fetcher, history_span
from tradelab.data.settings import ApiDataConfig, data_config
from tradelab.errors import TradelabError
from tradelab.settings import config_hash, from_plain
from tradelab.tracking import DatasetRef, Job, Lineage, StaleRun, Tracker, make_tracker
from tradelab.tracking.base import flat_params
from tradelab.tracking.lineage import INVOCATION_ENV, process_invocation
from tradelab.tracking.settings import TrackingConfig

__all__ = [
    "HASH_EXCLUDE",
    "conf_dir",
    "invocation_id",
    "job_for",
    "plain",
    "repair_runs",
    "run_config_hash",
    "run_hydra_app",
    "settings",
    "tracker_for",
]

T = TypeVar("T")

HASH_EXCLUDE: tuple[str, ...] = (
    "hydra",
    "tracking",
    "paths",
    "progress",
    "metrics_file",
    "metrics_dir",
    "log_phase_tables",
    "phase_table_max_rows",
)
"""Top-level keys that change where a run is logged or written, or how it is shown, not what it
computes: a CLI run and the pipeline's stage command for the same job hash the same."""

log = logging.getLogger("tradelab")


UNLOGGED_KEYS = ("hydra", "paths", "tracking")
"""Config sections not logged as params: where this machine keeps things, not what ran."""
USER_ERROR = 2
"""The exit status of an app stopped by a `TradelabError` (bad input, config or data)."""


def conf_dir() -> str:
    """Return the config folder: $TRADELAB_CONF_DIR, ./conf, or the checkout's conf/."""
    env = os.environ.get("TRADELAB_CONF_DIR")
    if env:
        return str(Path(env).resolve())
    local = Path.cwd() / "conf"
    if (local / "wfo.yaml").is_file():
        return str(local.resolve())
    return str((Path(__file__).resolve().parents[3] / "conf").resolve())


def plain(node: Any) -> Any:
    """Return a composed config node as plain dicts, lists and scalars, interpolations resolved."""
    if isinstance(node, DictConfig | ListConfig):
        return OmegaConf.to_container(node, resolve=True, enum_to_str=True)
    return node


def settings(cls: type[T], node: Any, key: str) -> T:
    """Turn the config node at `key` into the domain package's frozen settings `cls`."""
    return from_plain(cls, plain(node), key)


def run_config_hash(cfg: Any) -> str:
    """Identify a run's computation: the config without `HASH_EXCLUDE`, whatever the key order."""
    return config_hash(plain(cfg), exclude=HASH_EXCLUDE)


def data_store(cfg: DictConfig) -> ParquetStore:
    """Return the store a job reads: for a REST source (`data=tradestation|massive`) one that
    fetches what it lacks of `data.start`..`data.end` first (never with `fetch=false`; with the
    API down, the cache stands in with a warning), else the store as ingested."""
    data = data_config(plain(cfg.data))
    if not isinstance(data, ApiDataConfig):
        return ParquetStore(cfg.paths.store_dir, offline=True)
    span = history_span(data)
    if not cfg.get("fetch", True):
        return ParquetStore(cfg.paths.store_dir, offline=True, span=span)
    return ParquetStore(cfg.paths.store_dir, api_fetcher(data), span=span)


def tracker_for(cfg: DictConfig) -> Tracker:
    """Build the tracker `cfg.tracking` describes (a server that does not answer, or a
    relative artifact root with one, is a `TrackingError` saying what to do)."""
    t = settings(TrackingConfig, cfg.tracking, "tracking")
    return make_tracker(
        backend=t.backend.value,
        uri=t.uri,
        artifact_root=t.artifact_root,
        busy_timeout_s=t.busy_timeout_s,
        heartbeat_s=t.heartbeat_s,
        namespace=t.namespace,
    )


def repair_runs(cfg: DictConfig) -> list[StaleRun]:
    """End FAILED the runs of `cfg.tracking`'s store that crashed processes left RUNNING; log
    each one."""
    t = settings(TrackingConfig, cfg.tracking, "tracking")
    repaired = tracker_for(cfg).repair_runs(stale_after_s=t.stale_after_s)
    for item in repaired:
        log.warning(
            "run %s (%s, %s) was left RUNNING: ended FAILED, %s",
            item.run.run_id,
            item.run.experiment,
            item.run.name,
            item.reason,
        )
    return repaired


def hydra_overrides() -> list[str]:
    """Return the command-line overrides of the running Hydra job (empty outside Hydra)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return []
    return list(HydraConfig.get().overrides.task)


def invocation_id() -> str:
    """Return the id every parent run of this app invocation shares: `$TRADELAB_INVOCATION`,
    else one per Hydra multirun (its sweep folder, the same in every job), else one per
    process."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if os.environ.get(INVOCATION_ENV) or not HydraConfig.initialized():
        return process_invocation()
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return process_invocation()
    sweep = str(Path(str(hydra_cfg.sweep.dir)).resolve())
    return "multirun-" + hashlib.sha256(sweep.encode()).hexdigest()[:12]


def job_for(
    tracker: Tracker,
    cfg: DictConfig,
    *,
    experiment: str,
    run_name: str,
    data_hash: str = "none",
    params: dict[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    inputs: Sequence[DatasetRef] = (),
    reads_data: bool | None = None,
) -> Job:
    """Start the parent run of an app: lineage tags on it and its children, config artifact,
    the config flattened into params (dotted keys, without `UNLOGGED_KEYS`), the datasets it
    reads (`inputs`, MLflow's Dataset column).

    `config` is what the run records and is hashed by (default: the whole composed `cfg`); a
    job that runs several variants passes each one's own config. `reads_data`: whether the run
    reads its `data` settings, so that they are params too (default: only an API source does;
    a job on the store read the datasets in `inputs`, and `data.*` params would describe a
    source it never opened; ingestion passes True).
    """
    recorded = dict(config) if config is not None else plain(cfg)
    lineage = Lineage.collect(
        run_config_hash(recorded),
        data_hash=data_hash,
        seed=int(cfg.seed),
        overrides=hydra_overrides(),
        invocation=invocation_id(),
    )
    if reads_data is None:
        reads_data = "data" in cfg and isinstance(data_config(plain(cfg.data)), ApiDataConfig)
    skip = UNLOGGED_KEYS if reads_data else (*UNLOGGED_KEYS, "data")
    flat = {**flat_params(recorded, skip=skip), **(params or {})}
    job = tracker.start_job(experiment, run_name, tags=lineage.tags(), params=flat, config=recorded)
    if inputs:
        job.log_inputs(inputs)
    return job


def _repair_before(cfg: DictConfig) -> None:
    """Repair the runs crashed processes left RUNNING; a store that refuses is the body's
    problem to report (housekeeping never stops the app)."""
    try:
        repair_runs(cfg)
    except Exception as exc:
        log.warning("could not repair runs left RUNNING (%s): %s", type(exc).__name__, exc)


def _help_header(*, _root_: Any) -> str:
    """`--help`'s first lines: the app's own description (its module's docstring)."""
    import importlib

    name = str(_root_.hydra.job.name)
    try:
        doc = importlib.import_module(f"tradelab.apps.{name}").__doc__ or ""
    except ImportError:
        doc = ""
    return doc.strip() or f"tradelab-{name}"


def _help_groups(*, _root_: Any) -> str:
    """`--help`'s config groups: each group the app composes with its options (the YAML files
    of `conf/<group>/` and `./conf/<group>/`; the schemas are config defaults of the internal
    `schema/` group, never a choice)."""
    lines = []
    for group in sorted(str(g) for g in _root_.hydra.runtime.choices):
        if group.startswith("hydra"):
            continue
        options = {
            p.stem
            for folder in (Path(conf_dir()) / group, Path("conf") / group)
            if folder.is_dir()
            for p in folder.glob("*.yaml")
        }
        lines.append(f"{group}: {', '.join(sorted(options))}")
    return "\n".join(lines)


def _register_help_resolvers() -> None:
    OmegaConf.register_new_resolver("tradelab_help_header", _help_header, replace=True)
    OmegaConf.register_new_resolver("tradelab_help_groups", _help_groups, replace=True)


def _in_multirun() -> bool:
    """Say whether this job is one of a `-m` sweep (its launcher reports failures itself)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run_hydra_app(
    config_name: str,
    body: Callable[[DictConfig], Any],
    schema: type,
    groups: Mapping[str, Mapping[str, type]] | None = None,
    *,
    repair: bool = True,
) -> Callable[[], Any]:
    """Wrap `body(cfg)` as a Hydra console entry point using `conf/<config_name>.yaml`, with
    `schema` as its primary schema and the settings classes of `groups` as option schemas.

    Before the body, runs left RUNNING by crashed processes are repaired (`repair_runs`) when
    `repair` and `tracking.repair_on_start` say so. A `TradelabError` (bad input, config or
    data: what, where, what to do) prints one line and exits with `USER_ERROR` (2); its
    traceback only with `HYDRA_FULL_ERROR=1` (and in a `-m` sweep, whose launcher reports it).
    """
    import warnings

    import hydra

    store_schemas(config_name, schema, groups)
    _register_help_resolvers()
    # ./conf of the working directory is an optional extra search path (production configs)
    warnings.filterwarnings(
        "ignore", message="provider=hydra.searchpath in main, path=conf is not available"
    )

    @hydra.main(version_base="1.3", config_path=conf_dir(), config_name=config_name)
    def _main(cfg: DictConfig) -> Any:
        with contextlib.suppress(ValueError):  # not the main thread (some launchers)
            signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        OmegaConf.set_readonly(cfg, True)
        if repair and cfg.tracking.repair_on_start:
            _repair_before(cfg)
        try:
            return body(cfg)
        except TradelabError as exc:
            if os.environ.get("HYDRA_FULL_ERROR") == "1" or _in_multirun():
                raise
            print(f"tradelab-{config_name}: error: {exc}", file=sys.stderr)
            raise SystemExit(USER_ERROR) from None

    return _main
