"""The forecast study of `tradelab-tune` (`study=forecast`).

Per symbol, one job in `forecast/<SYMBOL>`: the chosen model (`model=...`), or every model of
`study.models` that has weights, tuned with Optuna on `pct_return_mae`, then all of them, the
baselines and the seed's two combinations scored on the same windows. Every scored model and
baseline is a child run tagged `candidate=true` (promotion picks the lowest pct_return_mae);
combinations are logged but not promotable (they need several models at once).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from tradelab.apps._runtime import hydra_overrides, job_for
from tradelab.apps.tune import _bars, _store, _write_metrics_file
from tradelab.atomic import write_if_changed
from tradelab.data import validate_symbol
from tradelab.forecast import (
    run_forecast_pipeline,
    summarize_symbol,
    tune_forecaster,
    write_summary,
)
from tradelab.forecast.registry import check_available
from tradelab.progress import progress_callback
from tradelab.settings import to_plain
from tradelab.tracking import Job, Tracker

__all__ = ["model_configs", "run_forecast"]

log = logging.getLogger("tradelab.tune.forecast")


def model_configs(cfg: DictConfig) -> list[dict[str, Any]]:
    """The chosen model's config, or those of every model in `study.models` (conf/model/),
    composed with this job's other overrides so their interpolations resolve alike."""
    if cfg.model is not None:
        return [to_plain(cfg.model)]
    from hydra import compose

    keep = [o for o in hydra_overrides() if not o.lstrip("+~").startswith("model")]
    return [to_plain(compose(config_name="tune", overrides=[*keep, f"model={name}"]).model)
            for name in cfg.study.models]  # fmt: skip


def _log_candidates(job: Job, summary: Any, models: list[dict[str, Any]]) -> None:
    by_name = {m.get("name"): m for m in models}
    for name, cand in summary.candidates.items():
        promotable = cand.kind in ("model", "baseline")
        params: dict[str, Any] = {"model": name, "kind": cand.kind}
        if cand.kind == "model":
            params.update({f"config.{k}": v for k, v in (cand.details.get("config") or {}).items()})
            params["model_config"] = json.dumps(by_name.get(name, {}), default=str)
        job.log_trial(
            params,
            {k: v for k, v in cand.metrics.items() if isinstance(v, int | float)},
            name=f"candidate-{name}",
            tags={
                "kind": cand.kind,
                "model": name,
                **({"candidate": "true"} if promotable else {}),
            },
        )


def run_forecast(cfg: DictConfig, tracker: Tracker) -> float:
    """Tune and score the forecasters for each symbol; return the mean best pct_return_mae."""
    store = _store(cfg)
    study = to_plain(cfg.study)
    symbols = (
        [validate_symbol(cfg.symbol)]
        if cfg.symbol
        else [validate_symbol(s) for s in study["symbols"]]
    )
    models = model_configs(cfg)
    explicit = cfg.model is not None and models[0].get("name") != "baselines"
    if explicit and study.get("on_unavailable", "error") == "error":
        reason = check_available(models[0])
        if reason:
            from tradelab.errors import ModelUnavailableError

            raise ModelUnavailableError(reason)
    summaries, per_target = [], {}
    for symbol in symbols:
        bars = _bars(store, symbol, str(study["timeframe"]))
        data_hash = store.content_hash([(symbol, str(study["timeframe"]))])
        run_name = models[0]["name"] if cfg.model is not None else "all-models"
        with job_for(
            tracker, cfg, experiment=f"forecast/{symbol}", run_name=run_name, data_hash=data_hash
        ) as job:
            job.set_tags({"family": "forecast", "target": symbol})
            tunable = [m for m in models if m.get("name") != "baselines"]
            if explicit:
                with progress_callback(f"{symbol} {models[0]['name']}", enabled=bool(cfg.progress),
                                       unit="trials") as bar:  # fmt: skip
                    tune_forecaster(
                        bars, models[0], cfg.study, cfg.search, symbol=symbol, job=job, progress=bar
                    )
                summary = summarize_symbol(bars, symbol, tunable, cfg.study, job=job)
            else:
                _, summary = run_forecast_pipeline(
                    bars, symbol, tunable, cfg.study, cfg.search, job=job
                )
            _log_candidates(job, summary, models)
            if summary.skipped:
                job.set_tags({"skipped_models": json.dumps(summary.skipped)[:5000]})
                for name, reason in summary.skipped.items():
                    log.warning("%s: %s skipped: %s", symbol, name, reason.splitlines()[0])
        summaries.append(summary)
        best = summary.best
        per_target[symbol] = {"best_mae": best.metrics["pct_return_mae"],
                              "zero_return_mae": summary.candidates["zero_return"].metrics["pct_return_mae"],
                              "n_candidates": len(summary.candidates)}  # fmt: skip
        folder = Path(cfg.paths.results_dir) / "forecast" / symbol
        write_if_changed(
            folder / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str) + "\n"
        )
        log.info(
            "%s: best %s (%s), pct_return_mae %.6f",
            symbol,
            best.name,
            best.kind,
            best.metrics["pct_return_mae"],
        )
    if len(symbols) > 1:
        write_summary(summaries, study["summary_file"])
    _write_metrics_file(cfg, per_target)
    return sum(m["best_mae"] for m in per_target.values()) / len(per_target)
