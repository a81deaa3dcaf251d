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
    Gates,
    MlflowRegistry,
    PromotionResult,
    family,
    promote_target,
    rollback_target,
    targets_of,
)
from tradelab.promotion.settings import DEFAULT_GATES, PromotionConfig
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
    """

    family: str = "wfo"
    target: str | None = None
    action: PromoteAction = PromoteAction.promote
    margin: float = PromotionConfig.margin
    relative_margin: bool = PromotionConfig.relative_margin
    gates: _Gates = field(default_factory=lambda: twin_value(DEFAULT_GATES))


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
        if str(cfg.action) == "rollback":
            result = rollback_target(
                spec,
                target,
                tracker=tracker,
                registry=registry,
                conf_dir=conf_dir,
                production_dir=deploy_dir,
            )
        else:
            g = cfg.gates
            gates = Gates(
                min_trades=g.min_trades,
                max_drawdown=g.max_drawdown,
                min_phases_valid=g.min_phases_valid,
                max_pbo=g.max_pbo,
                min_deflated_sharpe=g.min_deflated_sharpe,
                require_overfitting_stats=bool(g.require_overfitting_stats),
            )
            result = promote_target(
                spec,
                target,
                tracker=tracker,
                registry=registry,
                gates=gates,
                margin=float(cfg.margin),
                relative=bool(cfg.relative_margin),
                conf_dir=conf_dir,
                production_dir=deploy_dir,
            )
        print_result(result)
        promoted += int(result.decision.promote)
        decisions[target] = {
            "verdict": result.decision.verdict.value,
            "reason": result.decision.reason,
            "champion": result.champion,
        }
    write_if_changed(
        deploy_dir / "decisions" / f"{spec.name}.json", json.dumps(decisions, indent=2) + "\n"
    )
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
        "Written by `tradelab-promote`: `promotions.jsonl` (append-only audit log), the seeds' "
        "JSON configs, `decisions/<family>.json` (the latest decision per target).\n",
    )


main = run_hydra_app("promote", run, PromoteAppConfig)

if __name__ == "__main__":
    main()
