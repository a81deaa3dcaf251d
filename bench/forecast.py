"""Forecast tuning cost: the sample cache, and Toto's one-pass sampling.

1. A Toto study with the seed's search space (num_samples 64..2048 x 12 aggregations) on 20
   rolling windows; baseline: the same study without the cache, in this process. Both runs
   use the same seeds, so their trials score identically; only the cost differs.
2. One validation draw (20 windows x 512 paths, horizon 1): one-pass sampling vs upstream
   `TotoForecaster.forecast` decoding every path from its own copy of the context.
With torch + toto-ts installed (/work/venv-forecast) the model is a tiny randomly initialised
Toto built from the real classes; without them a NumPy stand-in with the same interface is used
(the call counts are the same; the timings then only show the bookkeeping).
Run: /work/venv-forecast/bin/python bench/forecast.py [n_trials]
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradelab.forecast import Context, Forecaster, tune_forecaster
from tradelab.forecast.settings import ForecastStudyConfig, TotoModelConfig
from tradelab.forecast.toto_model import samples_per_batch
from tradelab.search.settings import OptunaSearchConfig

SEED_SPACE = {
    "num_samples": [64, 128, 256, 512, 1024, 2048],
    "aggregate": [
        "trimmed_mean_5",
        "trimmed_mean_10",
        "trimmed_mean_15",
        "trimmed_mean_20",
        "lower_trimmed_mean_10",
        "lower_trimmed_mean_15",
        "lower_trimmed_mean_20",
        "quantile_0.15",
        "quantile_0.20",
        "quantile_0.25",
        "mean",
        "median",
    ],
}

TINY_TOTO = {
    "patch_size": 8,
    "stride": 8,
    "embed_dim": 16,
    "num_layers": 2,
    "num_heads": 2,
    "mlp_hidden_dim": 32,
    "dropout": 0.0,
    "spacewise_every_n_layers": 2,
    "scaler_cls": "<class 'model.scaler.CausalPatchStdMeanScaler'>",
    "output_distribution_classes": ["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
    "output_distribution_kwargs": {"k_components": 2},
    "spacewise_first": True,
    "use_memory_efficient_attention": False,
    "stabilize_with_global": True,
    "scale_factor_exponent": 10.0,
}


class StandIn(Forecaster):
    """Random-walk paths with Toto's parameters (used when torch is absent)."""

    name = model_type = "toto"

    @classmethod
    def load(cls, cfg: TotoModelConfig | None = None, *, device: str | None = None) -> StandIn:
        return cls()

    def resolved_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        p = {"samples_per_batch": 256, "context_length": 256, **params}
        p["samples_per_batch"] = samples_per_batch(p["num_samples"], p["samples_per_batch"])
        return p

    def sample_paths(
        self, context: Context, horizon: int, params: Mapping[str, Any], seed: int
    ) -> np.ndarray:
        n = int(params["num_samples"])
        steps = np.random.default_rng(seed).standard_t(4, size=(n, horizon)) * 0.01
        return context.last * np.exp(np.cumsum(steps, axis=1))


def bars(n: int = 600, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0002, 0.015, n)))
    stamps = pd.bdate_range("2022-01-03", periods=n, tz="UTC")
    return pd.DataFrame({"timestamp": stamps, "close": close})


def make_model(folder: Path, one_pass: bool = True) -> tuple[Forecaster, str]:
    try:
        import torch
        from safetensors.torch import save_file
        from toto.model.toto import Toto
    except ImportError:
        return StandIn(), "NumPy stand-in (torch/toto-ts not installed)"
    from tradelab.forecast import load_forecaster

    if not (folder / "model.safetensors").is_file():
        torch.manual_seed(0)
        save_file(Toto(**TINY_TOTO).state_dict(), folder / "model.safetensors")
        (folder / "config.json").write_text(json.dumps(TINY_TOTO))
    cfg = TotoModelConfig(weights_dir=str(folder), context_length=64, one_pass_sampling=one_pass)
    return load_forecaster(cfg), "tiny random Toto (real toto-ts classes), CPU"


def run(model: Forecaster, data: pd.DataFrame, n_trials: int, cache: bool, out: Path) -> dict:
    cfg = TotoModelConfig(search_space=SEED_SPACE)
    study = ForecastStudyConfig(sample_cache=cache)
    search = OptunaSearchConfig(n_trials=n_trials, batch_size=8, seed=7, n_startup_trials=10)
    start = time.perf_counter()
    res = tune_forecaster(
        data, cfg, study, search, symbol="BENCH", output_dir=out, forecaster=model
    )
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "calls_per_trial": res.calls_per_trial,
        "calls_per_trial_uncached": res.calls_per_trial_uncached,
        "values": [t.value for t in res.trials],
    }


def time_draw(model: Forecaster, data: pd.DataFrame, num_samples: int) -> float:
    """Seconds for one validation draw (20 windows) at `num_samples` paths."""
    from tradelab.forecast import SeriesData, ValidationPlan, Validator

    validator = Validator(SeriesData.from_input(data), ValidationPlan(), seed=0)
    start = time.perf_counter()
    validator.draw(model, {"num_samples": num_samples})
    return time.perf_counter() - start


def main() -> None:
    n_trials = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    data = bars()
    with tempfile.TemporaryDirectory() as tmp:
        model, label = make_model(Path(tmp))
        print(f"model: {label}; {n_trials} trials, 20 windows, horizon 1")
        base = run(model, data, n_trials, cache=False, out=Path(tmp) / "a")
        fast = run(model, data, n_trials, cache=True, out=Path(tmp) / "b")
        assert base["values"] == fast["values"], "the cache changed a score"
        for name, r in (("without cache", base), ("with cache", fast)):
            print(
                f"{name:>14}: {r['calls_per_trial']:7.2f} model calls/trial, "
                f"{n_trials / r['seconds']:8.2f} trials/s, {r['seconds']:7.2f} s"
            )
        print(
            f"ratio: {base['calls_per_trial'] / fast['calls_per_trial']:.2f}x fewer model "
            f"calls, {base['seconds'] / fast['seconds']:.2f}x faster"
        )
        if isinstance(model, StandIn):
            return
        upstream, _ = make_model(Path(tmp), one_pass=False)
        time_draw(model, data, 64)  # warm up both paths
        time_draw(upstream, data, 64)
        one = time_draw(model, data, 512)
        slow = time_draw(upstream, data, 512)
        print(
            f"one draw of 20 windows x 512 paths: one-pass {one:.3f} s, upstream decoding "
            f"{slow:.3f} s, ratio {slow / one:.1f}x"
        )


if __name__ == "__main__":
    main()
