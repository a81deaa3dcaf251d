"""Best model per symbol, with the seed's two combinations scored as extra candidates.

Notation
    point_m:  (steps, horizon) point forecast of candidate m on the shared windows
    mae_m     its pct_return_mae on those windows

    ensemble_of_ensembles   sum_m w_m point_m over `study.ensemble_members`,
                            w_m = (1 / mae_m) / sum_j (1 / mae_j)
                            (for two members: w_a = mae_b / (mae_a + mae_b), the seed's rule)
    regime_switch           per window: `regime.high_vol_model` (its samples re-aggregated with
                            `high_vol_aggregate`) when the std of the last `vol_lookback`
                            returns exceeds the threshold, else `regime.low_vol_model`;
                            threshold = `vol_quantile` quantile of the rolling std over the
                            history before the first window.

Caveat, as in the seed: the ensemble weights come from the same windows they are scored on,
so its score is optimistic; use it to shortlist, not as an out-of-sample estimate.
Every candidate, baselines included, competes for `best_model`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tradelab.data.symbols import validate_symbol
from tradelab.errors import ModelUnavailableError
from tradelab.forecast.aggregation import aggregate
from tradelab.forecast.base import Forecaster
from tradelab.forecast.baselines import RANDOM_WALK
from tradelab.forecast.cache import SampleCache
from tradelab.forecast.outputs import read_result, result_path, write_strict_json
from tradelab.forecast.registry import check_available, load_forecaster, model_name
from tradelab.forecast.settings import (
    BaselinesModelConfig,
    ForecastStudyConfig,
    ModelConfig,
    ModelType,
    OnUnavailable,
    RegimeSwitchConfig,
)
from tradelab.forecast.tuning import (
    ForecastStudyResult,
    make_validator,
    score_baselines,
    tune_forecaster,
)
from tradelab.forecast.validation import Evaluation, Validator
from tradelab.search.settings import OptunaSearchConfig
from tradelab.tracking import Job

__all__ = [
    "Candidate",
    "SymbolSummary",
    "run_forecast_pipeline",
    "summarize_symbol",
    "write_summary",
]

log = logging.getLogger(__name__)


@dataclass
class Candidate:
    """One scored forecast on the shared windows: a tuned model, a combination or a baseline."""

    name: str
    kind: str
    metrics: dict[str, float]
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class SymbolSummary:
    """All candidates of a symbol and the best one (lowest pct_return_mae)."""

    symbol: str
    candidates: dict[str, Candidate]
    skipped: dict[str, str]
    windows: str

    @property
    def best(self) -> Candidate:
        return min(self.candidates.values(), key=lambda c: c.metrics["pct_return_mae"])

    def to_dict(self) -> dict[str, Any]:
        """The entry written to the summary file (seed: symbol, best_model, best_mae)."""
        best = self.best
        return {
            "symbol": self.symbol,
            "best_model": best.name,
            "best_kind": best.kind,
            "best_mae": best.metrics["pct_return_mae"],
            "candidates": {
                name: {"kind": c.kind, **c.metrics, **({"details": c.details} if c.details else {})}
                for name, c in self.candidates.items()
            },
            "skipped": dict(self.skipped),
            "windows": self.windows,
        }


def summarize_symbol(
    data: Any,
    symbol: str,
    models: Sequence[ModelConfig],
    study: ForecastStudyConfig | None = None,
    *,
    output_dir: str | Path | None = None,
    forecasters: Mapping[str, Forecaster] | None = None,
    cache: SampleCache | None = None,
    job: Job | None = None,
) -> SymbolSummary:
    """Score every tuned model's best config, the baselines and the two combinations.

    Best configs are read from `<output_dir>/<model>/<SYMBOL>.json` (`output_dir` defaults
    to `study.output_dir`); each is evaluated again on the same windows (a shared or on-disk
    `cache` makes that free). A model that cannot run (weights or libraries missing) or has no
    result file is listed in `skipped` with the reason, the missing weights first (they
    explain a missing file). Model candidates record their seed `model_type` in `details`.
    """
    symbol = validate_symbol(symbol)
    study = study or ForecastStudyConfig()
    out_dir = Path(output_dir if output_dir is not None else study.output_dir)
    validator = make_validator(data, study, cache)
    candidates = {
        name: Candidate(name, "baseline", metrics)
        for name, metrics in score_baselines(validator, study.baselines).items()
    }
    reference = candidates[RANDOM_WALK].metrics["pct_return_mae"]
    evaluations, skipped = _score_models(
        validator, symbol, models, out_dir, forecasters or {}, reference
    )
    types = {model_name(m): ModelType(m.type).seed_name for m in models}
    for name, (_, ev) in evaluations.items():
        details = {"model_type": types[name], "config": ev.params}
        candidates[name] = Candidate(name, "model", ev.metrics, details)
    combos = (
        _ensemble_of_ensembles(validator, evaluations, study.ensemble_members, reference),
        _regime_switch(validator, evaluations, study.regime, reference),
    )
    for combo in combos:
        if isinstance(combo, Candidate):
            candidates[combo.name] = combo
        else:
            skipped.update(combo)
    summary = SymbolSummary(symbol, candidates, skipped, validator.fingerprint())
    if job is not None:
        job.set_tags({"best_model": summary.best.name})
        job.log_metrics(
            {f"{n}_pct_return_mae": c.metrics["pct_return_mae"] for n, c in candidates.items()}
        )
        job.log_dict(summary.to_dict(), f"forecast/summary_{symbol}.json")
    return summary


def _score_models(
    validator: Validator,
    symbol: str,
    models: Sequence[ModelConfig],
    out_dir: Path,
    forecasters: Mapping[str, Forecaster],
    reference: float,
) -> tuple[dict[str, tuple[Forecaster, Evaluation]], dict[str, str]]:
    """Evaluate each model's stored best config; the others are skipped with the reason.

    A model that cannot run is skipped for that reason (missing weights or libraries) before
    its result file is looked for: a missing file is only the consequence.
    """
    evaluations: dict[str, tuple[Forecaster, Evaluation]] = {}
    skipped: dict[str, str] = {}
    for model in models:
        if isinstance(model, BaselinesModelConfig):
            continue
        name = model_name(model)
        forecaster = forecasters.get(name)
        reason = check_available(model) if forecaster is None else None
        path = result_path(out_dir, name, symbol)
        if reason is None and not path.is_file():
            reason = f"no result file {path} (run the study first)"
        if reason is not None:
            skipped[name] = reason
            continue
        stored = read_result(path)
        try:
            forecaster = forecaster or load_forecaster(model)
        except ModelUnavailableError as exc:
            skipped[name] = str(exc)
            continue
        ev = validator.evaluate(forecaster, stored["config"], reference_mae=reference)
        evaluations[name] = (forecaster, ev)
    return evaluations, skipped


def _ensemble_of_ensembles(
    validator: Validator,
    evaluations: Mapping[str, tuple[Forecaster, Evaluation]],
    members: Sequence[str],
    reference: float,
) -> Candidate | dict[str, str]:
    name = "ensemble_of_ensembles"
    scored = [m for m in members if m in evaluations]
    if len(scored) < 2:
        return {name: f"needs two scored members of {list(members)}"}
    maes = np.array([evaluations[m][1].metrics["pct_return_mae"] for m in scored])
    if np.any(maes <= 0):
        return {name: "a member has zero error; inverse-MAE weights are undefined"}
    weights = (1.0 / maes) / np.sum(1.0 / maes)
    point = sum(w * evaluations[m][1].point for w, m in zip(weights, scored))
    metrics = validator.score_points(np.asarray(point), reference)
    return Candidate(name, "combination", metrics, {"weights": dict(zip(scored, weights.tolist()))})


def _regime_switch(
    validator: Validator,
    evaluations: Mapping[str, tuple[Forecaster, Evaluation]],
    regime: RegimeSwitchConfig,
    reference: float,
) -> Candidate | dict[str, str]:
    name = "regime_switch"
    high, low = regime.high_vol_model, regime.low_vol_model
    missing = [m for m in (high, low) if m not in evaluations]
    if missing:
        return {name: f"needs scored models {missing}"}
    vol = validator.recent_volatility(regime.vol_lookback)
    threshold = validator.volatility_threshold(regime.vol_lookback, regime.vol_quantile)
    high_ev = evaluations[high][1]
    high_agg = regime.high_vol_aggregate
    high_point = aggregate(high_ev.samples, high_agg) if high_agg else high_ev.point
    is_high = vol > threshold
    point = np.where(is_high[:, None], high_point, evaluations[low][1].point)
    metrics = validator.score_points(point, reference)
    details = {
        "threshold": threshold,
        "high_vol_windows": int(is_high.sum()),
        "high_vol_model": high,
        "high_vol_aggregate": high_agg,
        "low_vol_model": low,
    }
    return Candidate(name, "combination", metrics, details)


def write_summary(summaries: Sequence[SymbolSummary], path: str | Path) -> Path:
    """Write `{"results": [...]}` (one entry per symbol) atomically."""
    return write_strict_json(path, {"results": [s.to_dict() for s in summaries]})


def run_forecast_pipeline(
    data: Any,
    symbol: str,
    models: Sequence[ModelConfig],
    study: ForecastStudyConfig | None = None,
    search: OptunaSearchConfig | None = None,
    *,
    job: Job | None = None,
    output_dir: str | Path | None = None,
) -> tuple[list[ForecastStudyResult], SymbolSummary]:
    """Tune every available model for one symbol, then summarize; unavailable ones are skipped.

    Models without weights are reported (log and `skipped`), never faked; with none available
    the summary holds the baselines only.
    """
    study = dataclasses.replace(
        study or ForecastStudyConfig(), on_unavailable=OnUnavailable.baselines
    )
    cache = SampleCache(study.cache_dir) if study.sample_cache else None
    results: list[ForecastStudyResult] = []
    loaded: dict[str, Forecaster] = {}
    for model in models:
        name = model_name(model)
        if not isinstance(model, BaselinesModelConfig):
            # when loading fails, tune_forecaster records why and scores the baselines only
            with contextlib.suppress(ModelUnavailableError):
                loaded[name] = load_forecaster(model)
        child = job.child(name) if job is not None else None
        with child if child is not None else contextlib.nullcontext():
            res = tune_forecaster(
                data,
                model,
                study,
                search,
                symbol=symbol,
                job=child,
                output_dir=output_dir,
                forecaster=loaded.get(name),
                cache=cache,
            )
        results.append(res)
        if not res.available:
            log.warning("%s: %s unavailable, baselines only: %s", symbol, res.model, res.reason)
    summary = summarize_symbol(
        data, symbol, models, study, output_dir=output_dir, forecasters=loaded, cache=cache, job=job
    )
    return results, summary
