"""`tradelab-promote`: champion/challenger promotion into the MLflow model registry, production
configs, rollback."""

from __future__ import annotations

import json
from pathlib import Path

from omegaconf import DictConfig

from tradelab.apps._runtime import run_hydra_app, tracker_for
from tradelab.atomic import write_if_changed
from tradelab.errors import ConfigError
from tradelab.promotion import Gates, family, promote_target, rollback_target, targets_of
from tradelab.tracking.mlflow_tracker import MlflowTracker


def run(cfg: DictConfig) -> int:
    """Promote (or roll back) the configured family's targets; return how many were promoted."""
    tracker = tracker_for(cfg)
    if not isinstance(tracker, MlflowTracker):
        raise ConfigError(
            "tracking.backend", "promotion needs the MLflow registry: use tracking=mlflow"
        )
    spec = family(str(cfg.family))
    targets = [str(cfg.target)] if cfg.target else targets_of(tracker.client, spec.name)
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
                spec, target, tracker=tracker, conf_dir=conf_dir, production_dir=deploy_dir
            )
        else:
            g = cfg.gates
            gates = Gates(min_trades=g.min_trades, max_drawdown=g.max_drawdown, min_phases_valid=g.min_phases_valid,
                          max_pbo=g.max_pbo, min_deflated_sharpe=g.min_deflated_sharpe,
                          require_overfitting_stats=bool(g.require_overfitting_stats))  # fmt: skip
            result = promote_target(spec, target, tracker=tracker, gates=gates, margin=float(cfg.margin),
                                    relative=bool(cfg.relative_margin), conf_dir=conf_dir,
                                    production_dir=deploy_dir)  # fmt: skip
        promoted += int(result.decision.promote)
        decisions[target] = {"verdict": result.decision.verdict.value, "reason": result.decision.reason,
                             "champion": result.champion}  # fmt: skip
    write_if_changed(
        deploy_dir / "decisions" / f"{spec.name}.json", json.dumps(decisions, indent=2) + "\n"
    )
    return promoted


def _ensure_dirs(conf_dir: Path, deploy_dir: Path) -> None:
    """Both folders exist after every run (pipeline outputs), each saying what it holds."""
    write_if_changed(conf_dir / "README.md", "Production configs written by `tradelab-promote`: "
                     "`<family>/<target>.yaml`, re-run with `tradelab-<app> +production=<family>/<target>`.\n")  # fmt: skip
    write_if_changed(deploy_dir / "README.md", "Written by `tradelab-promote`: `promotions.jsonl` (append-only audit "
                     "log), the seeds' JSON configs, `decisions/<family>.json` (the latest decision per target).\n")  # fmt: skip


main = run_hydra_app("promote", run)

if __name__ == "__main__":
    main()
