"""The forecast job of `tradelab-tune` (`study=forecast`).

Per symbol, one job in `forecast/<SYMBOL>`: the chosen model (`model=...`), or every model of
`study.models` that has weights, tuned with Optuna on `pct_return_mae`, then all of them, the
baselines and the seed's two combinations scored on the same windows. Every scored model and
baseline is a child run tagged `candidate=true` (promotion picks the lowest pct_return_mae);
combinations are logged but not promotable (they need several models at once). A model's
candidate run records its settings as the `model_config` JSON param (what promotion reloads)
and its seed `model_type` (`kronos_standard` for `model=kronos`, whose runs and files go by
that name too). Optuna studies live in the `forecast` journal (`TuneContext.search_for`): a
rerun resumes each model's study, and logs no trial run a finished job already holds.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradelab.atomic import write_if_changed
from tradelab.data import validate_symbol
from tradelab.errors import ModelUnavailableError
from tradelab.forecast import (
    SymbolSummary,
    run_forecast_pipeline,
    summarize_symbol,
    tune_forecaster,
    write_summary,
)
from tradelab.forecast.baselines import RANDOM_WALK
from tradelab.forecast.metrics import skill_score
from tradelab.forecast.registry import check_available, model_name
from tradelab.forecast.settings import (
    BaselinesModelConfig,
    ForecastStudyConfig,
    ModelConfig,
    OnUnavailable,
)
from tradelab.jobs._tune import TuneContext, load_bars, write_metrics
from tradelab.jobs.base import data_lineage
from tradelab.progress import progress_callback
from tradelab.search.settings import OptunaSearchConfig
from tradelab.settings import to_plain
from tradelab.tracking import Job

__all__ = ["run_forecast_job"]

log = logging.getLogger("tradelab.tune.forecast")


def run_forecast_job(
    ctx: TuneContext,
    study: ForecastStudyConfig,
    search: OptunaSearchConfig,
    models: Sequence[ModelConfig],
    *,
    chosen: bool,
    symbol: str | None = None,
) -> float:
    """Tune and score the forecasters for each symbol; return the mean best pct_return_mae.

    `models`: the one chosen with `model=` (`chosen`), or every model of `study.models`;
    `symbol`: one symbol, else `study.symbols`. With a chosen model (not `baselines`) whose
    weights are missing and `study.on_unavailable` = `error`, nothing runs.
    """
    symbols = [validate_symbol(s) for s in ((symbol,) if symbol else study.symbols)]
    explicit = chosen and not isinstance(models[0], BaselinesModelConfig)
    if explicit and study.on_unavailable == OnUnavailable.error:
        reason = check_available(models[0])
        if reason:
            raise ModelUnavailableError(reason)
    run_name = model_name(models[0]) if chosen else "all-models"
    summaries: list[SymbolSummary] = []
    per_target: dict[str, dict[str, Any]] = {}
    for sym in symbols:
        bars = load_bars(ctx.store, sym, study.timeframe)
        with ctx.open_job(
            experiment=f"forecast/{sym}",
            run_name=run_name,
            **data_lineage(ctx.store, [(sym, study.timeframe)]),
        ) as job:
            job.set_tags({"kind": "sweep"})
            summary = _tune_symbol(ctx, job, study, search, models, bars, sym, explicit)
        summaries.append(summary)
        per_target[sym] = _record(ctx, summary)
    if len(symbols) > 1:
        write_summary(summaries, study.summary_file)
    write_metrics(ctx.metrics_file, _headline(per_target))
    return sum(m["best_mae"] for m in per_target.values()) / len(per_target)


def _headline(per_target: dict[str, dict[str, Any]]) -> dict[str, float]:
    """The metrics file: the same keys however many symbols were tuned (each symbol's numbers
    are in `results/forecast/<SYMBOL>/summary.json`): medians over the symbols, and the share
    of symbols whose best candidate beat the zero-return baseline."""

    def median(key: str) -> float:
        values = np.array([m[key] for m in per_target.values()], dtype=float)
        return float(np.nanmedian(values)) if np.isfinite(values).any() else float("nan")

    beats = [m["best_mae"] < m["zero_return_mae"] for m in per_target.values()]
    return {
        "symbols": float(len(per_target)),
        "candidates": median("n_candidates"),
        "median_best_mae": median("best_mae"),
        "median_zero_return_mae": median("zero_return_mae"),
        "median_skill_vs_zero": median("skill_vs_zero"),
        "beats_zero_return_pct": float(np.mean(beats)),
    }


def _tune_symbol(
    ctx: TuneContext,
    job: Job,
    study: ForecastStudyConfig,
    search: OptunaSearchConfig,
    models: Sequence[ModelConfig],
    bars: pd.DataFrame,
    symbol: str,
    explicit: bool,
) -> SymbolSummary:
    """Tune (the chosen model, or every model with weights) and score one symbol's candidates."""
    tunable = [m for m in models if not isinstance(m, BaselinesModelConfig)]
    search = ctx.search_for(search, "forecast")
    trials_job = ctx.trial_runs_once(job)
    if explicit:
        label = f"{symbol} {model_name(models[0])}"
        with progress_callback(label, enabled=ctx.progress, unit="trials") as bar:
            tune_forecaster(
                bars, models[0], study, search, symbol=symbol, job=trials_job, progress=bar
            )
        summary = summarize_symbol(bars, symbol, tunable, study, job=job)
    else:
        _, summary = run_forecast_pipeline(bars, symbol, tunable, study, search, job=trials_job)
    _log_candidates(job, summary, models)
    if summary.skipped:
        job.set_tags({"skipped_models": json.dumps(summary.skipped)[:5000]})
        for name, reason in summary.skipped.items():
            log.warning("%s: %s skipped: %s", symbol, name, reason.splitlines()[0])
    return summary


def _log_candidates(job: Job, summary: SymbolSummary, models: Sequence[ModelConfig]) -> None:
    """A child run per candidate; models and baselines are tagged `candidate=true`."""
    by_name = {model_name(m): m for m in models}
    for name, cand in summary.candidates.items():
        promotable = cand.kind in ("model", "baseline")
        params: dict[str, Any] = {"model": name, "kind": cand.kind}
        if cand.kind == "model":
            params["model_type"] = cand.details.get("model_type", name)
            params.update({f"config.{k}": v for k, v in (cand.details.get("config") or {}).items()})
            model = by_name.get(name)
            params["model_config"] = json.dumps(
                {} if model is None else to_plain(model), default=str
            )
        job.log_trial(
            params,
            {k: v for k, v in cand.metrics.items() if isinstance(v, int | float)},
            name=f"candidate {name}",
            tags={
                "kind": "candidate",
                "model_kind": cand.kind,
                "model": name,
                **({"candidate": "true"} if promotable else {}),
            },
        )


def _record(ctx: TuneContext, summary: SymbolSummary) -> dict[str, Any]:
    """Write `<results>/forecast/<SYMBOL>/summary.json`; return the symbol's headline."""
    best = summary.best
    folder = ctx.results_dir / "forecast" / summary.symbol
    write_if_changed(
        folder / "summary.json", json.dumps(summary.to_dict(), indent=2, default=str) + "\n"
    )
    log.info(
        "%s: best %s (%s), pct_return_mae %.6f",
        summary.symbol,
        best.name,
        best.kind,
        best.metrics["pct_return_mae"],
    )
    zero = summary.candidates[RANDOM_WALK].metrics["pct_return_mae"]
    return {
        "best_mae": best.metrics["pct_return_mae"],
        "zero_return_mae": zero,
        "skill_vs_zero": skill_score(best.metrics["pct_return_mae"], zero),
        "n_candidates": len(summary.candidates),
    }
