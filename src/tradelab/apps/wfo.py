"""`tradelab-wfo`: walk-forward optimization of the ATR-D family on one symbol (or a dual pair).

Asking for a variant also runs its simpler ancestors (strategy expansion); each is one MLflow
parent run in `wfo/<SYMBOL>` (`wfo/<SYMBOL>-<SYMBOL2>` for dual variants) with a child run per
phase, per plateau and per promotion candidate. `rescore=true` rescores the cached phase
results without running a kernel; `check=bias` runs the look-ahead and warmup checks instead.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from tradelab.apps._runtime import conf_dir, job_for, run_hydra_app, tracker_for
from tradelab.atomic import write_if_changed
from tradelab.data import ParquetStore, validate_symbol
from tradelab.errors import ConfigError, DataError
from tradelab.settings import to_plain
from tradelab.wfo import (
    WfoData,
    expanded_specs,
    grid_for_strategy,
    grid_from_config,
    phases_from_config,
    strategy_from_config,
)
from tradelab.wfo.sweep import run_sweep

log = logging.getLogger("tradelab.wfo")


def _strategy_yaml(name: str) -> dict[str, Any]:
    path = Path(conf_dir()) / "strategy" / f"{name}.yaml"
    data = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    assert isinstance(data, dict)
    data.pop("defaults", None)
    return data


def _choice(group: str) -> str:
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return str(HydraConfig.get().runtime.choices.get(group) or group)
    return group


def load_data(cfg: DictConfig) -> tuple[WfoData, str, str]:
    """Daily bars of `symbol` (and `symbol2`) from the store; return data, target, data hash."""
    store = ParquetStore(cfg.paths.store_dir, offline=True)
    symbol = validate_symbol(cfg.symbol)
    symbol2 = validate_symbol(cfg.symbol2) if cfg.symbol2 else None
    try:
        frame = store.get(symbol, "1day")
        frame2 = store.get(symbol2, "1day") if symbol2 else None
    except DataError as exc:
        raise DataError(f"{exc} (run tradelab-ingest first, or check the symbol)") from exc
    data = WfoData.from_frames(frame, frame2, symbol=symbol, symbol2=symbol2)
    keys = [(symbol, "1day")] + ([(symbol2, "1day")] if symbol2 else [])
    return data, symbol if not symbol2 else f"{symbol}-{symbol2}", store.content_hash(keys)


def run(cfg: DictConfig) -> float:
    """Sweep the strategy (and its expansion); return the primary's best stability score."""
    if cfg.check == "bias":
        from tradelab.apps.wfo_bias import run_bias_check

        return run_bias_check(cfg)
    if cfg.check not in (None, "none"):
        raise ConfigError("check", f"unknown check {cfg.check!r}: use bias")
    data, target, data_hash = load_data(cfg)
    primary = strategy_from_config(to_plain(cfg.strategy))
    specs = expanded_specs(primary, _strategy_yaml) if cfg.expand else [primary]
    if data.close2 is None:
        dual = [s.name for s in specs if s.dual]
        if primary.dual:
            raise ConfigError(
                "symbol2", f"{primary.name} trades data1 with BB width from data2: set symbol2"
            )
        specs = [s for s in specs if s.name not in dual]
    grid_all = grid_from_config(to_plain(cfg.grid)["params"])
    grid_name = str(cfg.grid.name or _choice("grid"))
    phases = phases_from_config(to_plain(cfg.phases), data.timestamps)
    tracker = tracker_for(cfg)
    headline: dict[str, dict[str, float]] = {}
    best = float("nan")
    for spec in specs:
        grid = grid_for_strategy(grid_all, spec)
        with job_for(tracker, cfg, experiment=f"wfo/{target}", run_name=f"{spec.name}-{grid_name}",
                     data_hash=data_hash) as job:  # fmt: skip
            job.set_tags({"family": "wfo", "target": target, "strategy": spec.name, "grid": grid_name,
                          "rescore": str(bool(cfg.rescore)).lower()})  # fmt: skip
            job.log_params({"strategy": spec.name, "grid": grid_name, "grid_size": grid.size,
                            "phases": [p.name for p in phases], "symbol": cfg.symbol, "symbol2": cfg.symbol2})  # fmt: skip
            outcome = run_sweep(
                data, spec, grid, phases, grid_name=grid_name, target=target, results_root=cfg.paths.results_dir,
                chunk_size=int(cfg.search.chunk_size), scoring=cfg.scoring, robustness=cfg.robustness, job=job,
                rescore=bool(cfg.rescore), log_phase_tables=bool(cfg.log_phase_tables), progress=bool(cfg.progress),
                max_candidates=int(cfg.max_candidates), seed=int(cfg.seed),
            )  # fmt: skip
        headline[spec.name] = outcome.headline()
        pbo, dsr = (outcome.statistics.get(k) for k in ("pbo", "deflated_sharpe"))
        log.info("%s %s: %d combinations, %d stable, %d plateaus, PBO %s, DSR %s", target, spec.name, grid.size,
                 outcome.report.scores.n_stable, len(outcome.report.plateaus.plateaus),
                 "n/a" if pbo is None else f"{pbo:.3f}", "n/a" if dsr is None else f"{dsr:.3f}")  # fmt: skip
        if spec is primary:
            best = headline[spec.name]["best_stability_score"]
    if cfg.metrics_file:
        path = Path(cfg.metrics_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        clean = {k: {m: (None if v != v else v) for m, v in d.items()} for k, d in headline.items()}
        write_if_changed(path, json.dumps({target: clean}, indent=2) + "\n")
    return best


main = run_hydra_app("wfo", run)

if __name__ == "__main__":
    main()
