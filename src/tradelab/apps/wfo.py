"""`tradelab-wfo`: walk-forward optimization of the ATR-D family on one symbol (or a dual pair).

Asking for a variant also runs its simpler ancestors (strategy expansion), each with the
user's overrides of the strategy where the ancestor has the key; each is one MLflow parent run
in `wfo/<SYMBOL>` (`wfo/<SYMBOL>-<SYMBOL2>` for dual variants) with a child run per phase, per
plateau and per promotion candidate. Every file and the phase cache are keyed by the grid and
the phase layout (`<grid>-<phases>`), so sweeps of other grids or layouts coexist.
`rescore=true` rescores the cached phase results of this sweep without running a kernel and
refuses (ConfigError naming what differs) when the grid, phases, data, strategy parameters or
costs, or code differ from the cache; only `scoring.*`, `robustness.*` and `max_candidates`
may. `check=bias` runs the look-ahead and warmup checks instead (a pass/fail table on the
terminal, one `bias-check` run; a failed check exits with 1).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field, replace
from typing import Any

from omegaconf import MISSING, DictConfig

from tradelab.apps._runtime import (
    data_store,
    hydra_overrides,
    job_for,
    plain,
    run_hydra_app,
    settings,
    tracker_for,
)
from tradelab.apps.schema import AppConfig, hydra_schema
from tradelab.atomic import write_metrics_json
from tradelab.data.settings import DATA_SOURCES
from tradelab.errors import ConfigError
from tradelab.jobs.base import store_inputs
from tradelab.jobs.wfo import (
    Variant,
    WfoJobConfig,
    load_wfo_data,
    run_bias_job,
    run_wfo_job,
    sweep_that_found,
    trials_tried_before,
)
from tradelab.reports.files import write_wfo_headline
from tradelab.robustness.bias import BiasReport
from tradelab.robustness.settings import RobustnessConfig
from tradelab.search.settings import GridSearchConfig, OptunaSearchConfig, RandomSearchConfig
from tradelab.settings import from_plain
from tradelab.wfo import (
    SHARED_FIELDS,
    expand_strategy,
    grid_from_config,
    phases_from_config,
    strategy_from_config,
)
from tradelab.wfo.executor import open_executor
from tradelab.wfo.settings import (
    BiasCheckConfig,
    ExecutorConfig,
    GridConfig,
    PhasesConfig,
    ScoringConfig,
    StrategyConfig,
    StrategyKind,
)

__all__ = ["GROUPS", "WfoAppConfig", "bias_settings", "run", "variant_configs"]

_BiasCheck = hydra_schema(BiasCheckConfig)


@dataclass
class WfoAppConfig(AppConfig):
    """`tradelab-wfo`: walk-forward sweep of one strategy family on one symbol (or pair).

    `expand`: also run the variant's simpler ancestors. `rescore`: rescore cached phase results
    without running kernels. `check=bias`: run the look-ahead and warmup checks instead.
    `log_phase_tables`: full per-phase tables as Parquet artifacts (above
    `phase_table_max_rows` combinations, a manifest of the phase cache instead; that cache then
    keeps the scoring metrics only, and the candidates' other metrics are re-simulated).
    `max_candidates`: child runs tagged for promotion (the best combination and each plateau's
    best). `fetch`: with a REST data source, fetch what the store lacks before the run (false:
    the cache only).
    """

    data: Any = MISSING
    symbol: str = "SMH"
    symbol2: str | None = None
    strategy: Any = MISSING
    grid: Any = MISSING
    phases: Any = MISSING
    search: Any = MISSING
    scoring: Any = MISSING
    robustness: Any = MISSING
    executor: Any = MISSING
    rescore: bool = False
    check: str | None = None
    expand: bool = True
    log_phase_tables: bool = True
    phase_table_max_rows: int = 2_000_000
    max_candidates: int = 5
    progress: bool = True
    metrics_file: str | None = None
    fetch: bool = True
    bias: _BiasCheck = field(default_factory=_BiasCheck)


GROUPS: dict[str, dict[str, type]] = {
    "data": dict(DATA_SOURCES),
    "strategy": {"strategy": StrategyConfig, **{k.value: StrategyConfig for k in StrategyKind}},
    "grid": {name: GridConfig for name in ("grid", "phase1_slim", "smoke", "single", "full")},
    "phases": {name: PhasesConfig for name in ("phases", "default", "compact")},
    "search": {
        "grid": GridSearchConfig,
        "random": RandomSearchConfig,
        "optuna": OptunaSearchConfig,
    },
    "scoring": {"v4": ScoringConfig},
    "robustness": {"default": RobustnessConfig},
    "executor": {"local": ExecutorConfig, "dask": ExecutorConfig},
}

log = logging.getLogger("tradelab.wfo")

# strategy keys that name a variant rather than set it up: never carried to an ancestor
_IDENTITY = {"name", "kind", "ts_name", "description"}


def _choice(group: str) -> str | None:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return HydraConfig.get().runtime.choices.get(group)
    return None


def _leaves(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, dict):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out.update(_leaves(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def _set_leaf(tree: dict[str, Any], dotted: str, value: Any) -> bool:
    *path, last = dotted.split(".")
    for key in path:
        tree = tree.get(key)  # type: ignore[assignment]
        if not isinstance(tree, dict):
            return False
    if last not in tree:
        return False
    tree[last] = value
    return True


def variant_configs(cfg: DictConfig, names: list[str]) -> dict[str, StrategyConfig]:
    """The strategy configs of `names` (the primary's is `cfg.strategy`) with every change the
    user made to the primary's strategy (command line, experiment overlays) applied where the
    variant has that key."""
    primary = plain(cfg.strategy)
    out = {primary["name"]: from_plain(StrategyConfig, primary, "strategy")}
    others = [n for n in names if n not in out]
    if not others:
        return out
    from hydra import compose

    keep = [o for o in hydra_overrides() if not o.lstrip("+~").startswith("strategy")]
    choice = _choice("strategy") or primary["name"]
    pristine = plain(compose(config_name="wfo", overrides=[*keep, f"strategy={choice}"]).strategy)
    base = _leaves(pristine)
    changed = {
        k: v
        for k, v in _leaves(primary).items()
        if base.get(k, object()) != v and k.split(".")[0] not in _IDENTITY
    }
    for name in others:
        variant = plain(compose(config_name="wfo", overrides=[*keep, f"strategy={name}"]).strategy)
        for key, value in changed.items():
            _set_leaf(variant, key, value)
        out[name] = from_plain(StrategyConfig, variant, "strategy")
    return out


def bias_settings(cfg: DictConfig) -> BiasCheckConfig:
    """The `bias` block as settings, its seed defaulting to the job's seed."""
    given = settings(BiasCheckConfig, cfg.get("bias") or {}, "bias")
    return given if given.seed is not None else replace(given, seed=int(cfg.seed))


def _variants(cfg: DictConfig, has_symbol2: bool) -> list[Variant]:
    primary_cfg = settings(StrategyConfig, cfg.strategy, "strategy")
    primary = strategy_from_config(primary_cfg)
    if primary.dual and not has_symbol2:
        raise ConfigError(
            "symbol2", f"{primary.name} trades data1 with BB width from data2: set symbol2"
        )
    names = expand_strategy(primary.kind) if cfg.expand else [primary.name]
    configs = variant_configs(cfg, names)
    variants = [Variant(primary, primary_cfg)]
    for name in names[1:]:
        # the primary's costs, sizing and capital: a fair comparison whatever the files say
        shared = {field: getattr(primary_cfg, field) for field in SHARED_FIELDS}
        config = replace(configs[name], **shared)
        spec = strategy_from_config(config)
        if has_symbol2 or not spec.dual:
            variants.append(Variant(spec, config))
    return variants


def _print_bias_reports(reports: list[BiasReport]) -> None:
    from rich.console import Console
    from rich.table import Table

    colour = {"PASS": "green", "FAIL": "bold red", "SKIP": "yellow"}
    for report in reports:
        table = Table(title=f"bias checks: {report.target} {report.strategy}", show_lines=False)
        for column in ("check", "subject", "result", "detail"):
            table.add_column(column, overflow="fold")
        for check, subject, result, detail in report.rows():
            style = colour.get(result.split(" ")[0], "")
            table.add_row(check, subject, f"[{style}]{result}[/]" if style else result, detail)
        Console(width=160).print(table)
    failed = [r.strategy for r in reports if not r.passed]
    verdict = f"[bold red]FAIL[/] ({', '.join(failed)})" if failed else "[bold green]PASS[/]"
    Console().print(f"bias checks: {verdict}")


def _write_metrics_file(path: str, primary: dict[str, float]) -> None:
    """The DVC metrics file: the requested strategy's headline numbers, flat, under the same
    keys for every target (`dvc metrics show`: one row per target, one column per number)."""
    write_metrics_json(path, primary)


def run(cfg: DictConfig) -> float:
    """Sweep the strategy (and its expansion); return the primary's best stability score.

    With `check=bias`, run the bias checks instead and return the number of failed checks.
    """
    if cfg.check not in (None, "none", "bias"):
        raise ConfigError("check", f"unknown check {cfg.check!r}: use bias")
    store = data_store(cfg)
    data, target, data_hash = load_wfo_data(store, cfg.symbol, cfg.symbol2)
    variants = _variants(cfg, data.close2 is not None)
    grid_cfg = settings(GridConfig, cfg.grid, "grid")
    grid = grid_from_config(grid_cfg)
    grid_name = grid_cfg.name or _choice("grid") or "grid"
    phases = phases_from_config(settings(PhasesConfig, cfg.phases, "phases"), data.timestamps)
    tracker = tracker_for(cfg)
    keys = [(data.symbol, "1day")] + ([(data.symbol2, "1day")] if data.symbol2 else [])
    open_job = functools.partial(job_for, tracker, cfg, inputs=store_inputs(store, keys))
    if cfg.check == "bias":
        reports, totals = run_bias_job(
            data,
            [v.spec for v in variants],
            grid,
            phases,
            bias_settings(cfg),
            target=target,
            grid_name=grid_name,
            data_hash=data_hash,
            open_job=open_job,
            base_config=plain(cfg),
        )
        _print_bias_reports(reports)
        failed = int(totals["bias_checks_failed"])
        if failed:
            log.error("%s: %d bias check(s) failed", target, failed)
            raise SystemExit(1)
        return float(failed)
    job_settings = WfoJobConfig(
        grid_name=grid_name,
        phases_name=_choice("phases") or "phases",
        results_dir=cfg.paths.results_dir,
        scoring=settings(ScoringConfig, cfg.scoring, "scoring"),
        robustness=settings(RobustnessConfig, cfg.robustness, "robustness"),
        chunk_size=settings(GridSearchConfig, cfg.search, "search").chunk_size,
        rescore=bool(cfg.rescore),
        log_phase_tables=bool(cfg.log_phase_tables),
        phase_table_max_rows=int(cfg.phase_table_max_rows),
        max_candidates=int(cfg.max_candidates),
        progress=bool(cfg.progress),
        seed=int(cfg.seed),
    )
    executor_cfg = settings(ExecutorConfig, cfg.executor, "executor")
    with open_executor(executor_cfg if not cfg.rescore else ExecutorConfig()) as executor:
        headline = run_wfo_job(
            data,
            variants,
            grid,
            phases,
            job_settings,
            target=target,
            data_hash=data_hash,
            open_job=open_job,
            base_config=plain(cfg),
            trials_before=trials_tried_before(tracker, f"wfo/{target}", data_hash),
            found_by=sweep_that_found(tracker, f"wfo/{target}", data_hash),
            executor=executor,
        )
    primary = headline[variants[0].spec.name]
    write_wfo_headline(cfg.paths.results_dir, target, headline)
    if cfg.metrics_file:
        _write_metrics_file(cfg.metrics_file, primary)
    return primary["best_stability_score"]


main = run_hydra_app("wfo", run, WfoAppConfig, GROUPS)

if __name__ == "__main__":
    main()
