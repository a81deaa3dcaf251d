"""`tradelab-promote`: champion/challenger promotion into the MLflow model registry, production
configs, rollback."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from omegaconf import DictConfig

from tradelab.apps._runtime import run_hydra_app, tracker_for
from tradelab.apps.schema import AppConfig, hydra_schema, twin_value
from tradelab.atomic import write_if_changed
from tradelab.errors import ConfigError
from tradelab.promotion import (
    FamilySpec,
    Gates,
    MlflowRegistry,
    PromotionResult,
    family,
    promote_target,
    rollback_target,
    targets_of,
)
from tradelab.promotion.settings import DEFAULT_GATES, CandidateScope, PromotionConfig, Scope
from tradelab.tracking.lineage import DvcContext
from tradelab.tracking.mlflow_tracker import MlflowTracker

_COLOURS = {"promote": "green", "refuse": "yellow", "keep": "cyan"}
_Gates = hydra_schema(Gates)


class PromoteAction(StrEnum):
    promote = "promote"
    rollback = "rollback"


@dataclass
class PromoteAppConfig(AppConfig):
    """`tradelab-promote`: champion/challenger gate, registry aliases, production configs.

    `target` null promotes every target of `family` that has candidate runs. The candidate must
    beat the champion by `margin` (x |champion| when `relative_margin`, else absolute).
    `candidates`: `latest` (per target, the latest sweep: the latest `tradelab-<app>`
    invocation or multirun; inside `dvc exp run` that experiment's runs, inside `dvc repro` the
    pipeline stages' latest runs) or `all` (every finished candidate on the latest data).
    A sweep of fewer than `min_grid_size` combinations is a verification run, never a candidate.
    A baseline (forecasts: zero return, drift, median) is registered only with `allow_baselines`.
    """

    family: str = "wfo"
    target: str | None = None
    action: PromoteAction = PromoteAction.promote
    margin: float = PromotionConfig.margin
    relative_margin: bool = PromotionConfig.relative_margin
    candidates: CandidateScope = PromotionConfig.candidates
    min_grid_size: int = PromotionConfig.min_grid_size
    allow_baselines: bool = PromotionConfig.allow_baselines
    gates: _Gates = field(default_factory=lambda: twin_value(DEFAULT_GATES))


def scope_of(cfg: DictConfig, env: DvcContext | None = None) -> Scope:
    """Return the scope of `cfg.candidates` in the DVC run this process belongs to (if any)."""
    dvc = env if env is not None else DvcContext.from_env()
    return Scope(
        CandidateScope(str(cfg.candidates)),
        dvc_experiment=dvc.experiment,
        pipeline=dvc.stage is not None,
        min_grid_size=int(cfg.min_grid_size),
    )


def _gates(g: DictConfig) -> Gates:
    return Gates(
        min_trades=g.min_trades,
        max_drawdown=g.max_drawdown,
        min_phases_valid=g.min_phases_valid,
        max_pbo=g.max_pbo,
        min_deflated_sharpe=g.min_deflated_sharpe,
        max_dm_pvalue=g.get("max_dm_pvalue"),
        min_excess_return=g.get("min_excess_return"),
        min_sharpe_2x_costs=g.get("min_sharpe_2x_costs"),
        require_overfitting_stats=bool(g.require_overfitting_stats),
    )


def write_decisions(path: Path, decisions: dict[str, dict[str, str | None]]) -> None:
    """Merge `decisions` into `path`: the file keeps the latest decision of every target."""
    try:
        known = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        known = {}
    merged = {**(known if isinstance(known, dict) else {}), **decisions}
    write_if_changed(path, json.dumps(dict(sorted(merged.items())), indent=2) + "\n")


def _one(
    cfg: DictConfig,
    spec: FamilySpec,
    target: str,
    tracker: MlflowTracker,
    registry: MlflowRegistry,
    conf_dir: Path,
    deploy_dir: Path,
) -> PromotionResult:
    """Promote or roll back one target as `cfg.action` says."""
    if str(cfg.action) == "rollback":
        return rollback_target(
            spec,
            target,
            tracker=tracker,
            registry=registry,
            conf_dir=conf_dir,
            production_dir=deploy_dir,
        )
    return promote_target(
        spec,
        target,
        tracker=tracker,
        registry=registry,
        gates=_gates(cfg.gates),
        margin=float(cfg.margin),
        relative=bool(cfg.relative_margin),
        conf_dir=conf_dir,
        production_dir=deploy_dir,
        scope=scope_of(cfg),
        allow_baselines=bool(cfg.allow_baselines),
    )


def run(cfg: DictConfig) -> int:
    """Promote (or roll back) the configured family's targets; return how many were promoted."""
    tracker = tracker_for(cfg)
    if not isinstance(tracker, MlflowTracker):
        raise ConfigError(
            "tracking.backend", "promotion needs the MLflow registry: use tracking=mlflow"
        )
    registry = MlflowRegistry.for_tracker(tracker)
    spec = family(str(cfg.family))
    targets = [str(cfg.target)] if cfg.target else targets_of(tracker, spec.name)
    if not targets:
        print(f"no {spec.name} targets with tracked runs: run a {spec.name} sweep first")
        return 0
    conf_dir, deploy_dir = Path(cfg.paths.production_dir), Path(cfg.paths.deploy_dir)
    _ensure_dirs(conf_dir, deploy_dir)
    decisions: dict[str, dict[str, str | None]] = {}
    promoted = 0
    for target in targets:
        result = _one(cfg, spec, target, tracker, registry, conf_dir, deploy_dir)
        print_result(result)
        promoted += int(result.decision.promote)
        decisions[target] = {
            "verdict": result.decision.verdict.value,
            "reason": result.decision.reason,
            "champion": result.champion,
        }
    write_decisions(deploy_dir / "decisions" / f"{spec.name}.json", decisions)
    return promoted


def print_result(result: PromotionResult) -> None:
    """Print a decision and its checks to stderr, coloured by verdict."""
    from rich.console import Console

    console = Console(stderr=True)
    verdict = result.decision.verdict.value
    console.print(
        f"[bold {_COLOURS[verdict]}]{verdict.upper()}[/] {result.family}/{result.target}: "
        f"{result.decision.reason}"
        + (f" (champion: version {result.champion})" if result.champion else "")
        + (" (completed after a crash)" if result.recovered else "")
    )
    for check in result.decision.checks:
        console.print(f"   {'ok ' if check.passed else 'NO '} {check.name}: {check.detail}")


def _ensure_dirs(conf_dir: Path, deploy_dir: Path) -> None:
    """Both folders exist after every run (pipeline outputs), each saying what it holds."""
    write_if_changed(
        conf_dir / "README.md",
        "Production configs written by `tradelab-promote`: `<family>/<target>.yaml`, "
        "re-run with `tradelab-<app> +production=<family>/<target>`.\n",
    )
    write_if_changed(
        deploy_dir / "README.md",
        "Written by `tradelab-promote`: `promotions.jsonl` (append-only audit log), "
        "`promotions.wal.jsonl` (its write-ahead journal: a crashed promotion is finished by the "
        "next run), the seeds' JSON configs, `decisions/<family>.json` (the latest decision per "
        "target).\n",
    )


main = run_hydra_app("promote", run, PromoteAppConfig)

if __name__ == "__main__":
    main()
