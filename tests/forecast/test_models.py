"""Tiny random Toto and Kronos built from the real classes, loaded by the production loaders."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ModelUnavailableError
from tradelab.forecast import (
    KronosAdapter,
    KronosEnsembleAdapter,
    SeriesData,
    TotoAdapter,
    load_forecaster,
    read_result,
    run_forecast_pipeline,
    tune_forecaster,
)
from tradelab.forecast.settings import (
    ForecastStudyConfig,
    KronosEnsembleModelConfig,
    KronosModelConfig,
    TotoModelConfig,
)
from tradelab.search.settings import OptunaSearchConfig
from tradelab.tracking import MemoryTracker

torch = pytest.importorskip("torch")


def _toto_cfg(folder: Path, **kw) -> TotoModelConfig:
    return TotoModelConfig(weights_dir=str(folder), context_length=64, **kw)


def _kronos_cfg(dirs: tuple[Path, Path], cls=KronosModelConfig, **kw):
    return cls(weights_dir=str(dirs[0]), tokenizer_dir=str(dirs[1]), max_context=48, **kw)


def _context(bars: pd.DataFrame, length: int = 80):
    return SeriesData.from_input(bars).context(len(bars) - 3, length, 3)


def test_toto_samples_are_seeded_and_leave_torch_state_alone(
    toto_dir: Path, bars: pd.DataFrame
) -> None:
    model = load_forecaster(_toto_cfg(toto_dir))
    assert isinstance(model, TotoAdapter)
    assert model.device == ("cuda" if torch.cuda.is_available() else "cpu")
    state = torch.get_rng_state()
    ctx = _context(bars)
    a = model.sample_paths(ctx, 3, {"num_samples": 12, "samples_per_batch": 8}, seed=4)
    b = model.sample_paths(ctx, 3, {"num_samples": 12, "samples_per_batch": 8}, seed=4)
    assert a.shape == (12, 3) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, b)
    assert torch.equal(state, torch.get_rng_state())
    c = model.sample_paths(ctx, 3, {"num_samples": 12, "samples_per_batch": 8}, seed=5)
    assert not np.array_equal(a, c)
    # 8 does not divide 12: 6 is used
    assert (
        model.resolved_params({"num_samples": 12, "samples_per_batch": 8})["samples_per_batch"] == 6
    )


def test_one_pass_distribution_is_upstreams_first_patch(toto_dir: Path, bars: pd.DataFrame) -> None:
    from tradelab.forecast.toto_model import masked_inputs

    model = load_forecaster(_toto_cfg(toto_dir))
    data = SeriesData.from_input(bars)
    inputs = masked_inputs([data.context(o, 60, 3) for o in (200, 230)], 60, model.device)
    distr = model.first_patch_distribution(inputs, 3)
    upstream = model._forecaster.forecast(inputs, prediction_length=3, num_samples=None)
    np.testing.assert_allclose(
        distr.mean[:, 0].cpu().numpy(), upstream.mean[:, 0].cpu().numpy(), rtol=1e-4, atol=1e-4
    )


def test_one_pass_samples_match_upstream_decoding(toto_dir: Path, bars: pd.DataFrame) -> None:
    from scipy.stats import ks_2samp

    fast = load_forecaster(_toto_cfg(toto_dir))
    slow = load_forecaster(_toto_cfg(toto_dir, one_pass_sampling=False))
    assert fast.identity() != slow.identity()  # the cache keeps them apart
    ctx = _context(bars, 60)
    params = {"num_samples": 1500, "samples_per_batch": 500}
    a = fast.sample_paths(ctx, 1, params, seed=1)[:, 0]
    b = slow.sample_paths(ctx, 1, params, seed=1)[:, 0]
    assert ks_2samp(a, b).pvalue > 1e-3
    assert np.median(a) == pytest.approx(np.median(b), rel=0.01)


def test_toto_window_batches_give_one_row_per_window(toto_dir: Path, bars: pd.DataFrame) -> None:
    model = load_forecaster(_toto_cfg(toto_dir, window_batch=2))
    data = SeriesData.from_input(bars)
    contexts = [data.context(o, 64, 1) for o in (200, 201, 202)]
    out = model.sample_batch(contexts, 1, {"num_samples": 4}, seed=0)
    assert out.shape == (3, 4, 1)


def test_toto_config_that_does_not_match_the_weights_is_unavailable(
    toto_dir: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "toto"
    shutil.copytree(toto_dir, broken)
    cfg = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**cfg, "embed_dim": 24}))
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        load_forecaster(_toto_cfg(broken))


def test_kronos_draws_independent_paths(kronos_dirs: tuple[Path, Path], bars: pd.DataFrame) -> None:
    model = load_forecaster(_kronos_cfg(kronos_dirs))
    assert isinstance(model, KronosAdapter)
    assert not model.predictor.model.training and not model.predictor.tokenizer.training
    ctx = _context(bars)
    params = {"sample_count": 6, "temperature": 1.0, "top_k": 0, "top_p": 0.95}
    a = model.sample_paths(ctx, 2, params, seed=1)
    assert a.shape == (6, 2) and np.all(np.isfinite(a)) and np.all(a > 0)
    np.testing.assert_array_equal(a, model.sample_paths(ctx, 2, params, seed=1))
    assert np.unique(a[:, 0]).size > 1  # copies of the context give different paths
    top_k = model.sample_paths(ctx, 2, {**params, "top_k": 3}, seed=1)
    assert top_k.shape == (6, 2)
    assert model.resolved_params({**params, "top_k": 3})["top_p"] is None


def test_kronos_batches_are_split_by_batch_size(
    kronos_dirs: tuple[Path, Path], bars: pd.DataFrame
) -> None:
    model = load_forecaster(_kronos_cfg(kronos_dirs, batch_size=5))
    data = SeriesData.from_input(bars)
    contexts = [data.context(o, 48, 1) for o in (200, 201)]
    out = model.sample_batch(contexts, 1, {"sample_count": 4}, seed=0)
    assert out.shape == (2, 4, 1) and np.all(np.isfinite(out))


def test_kronos_needs_timestamps(kronos_dirs: tuple[Path, Path], bars: pd.DataFrame) -> None:
    model = load_forecaster(_kronos_cfg(kronos_dirs))
    ctx = SeriesData.from_input(bars["close"].to_numpy()).context(200, 48, 1)
    from tradelab.errors import DataError

    with pytest.raises(DataError, match="timestamp"):
        model.sample_paths(ctx, 1, {"sample_count": 2}, seed=0)


def test_kronos_ensemble_pools_temperatures(
    kronos_dirs: tuple[Path, Path], bars: pd.DataFrame
) -> None:
    model = load_forecaster(_kronos_cfg(kronos_dirs, KronosEnsembleModelConfig))
    assert isinstance(model, KronosEnsembleAdapter)
    params = {"num_samples": 3, "paths_per_temperature": 2, "temperature": 0.1, "temp_max": 0.3}
    np.testing.assert_allclose(model.temperatures(params), [0.1, 0.2, 0.3])
    out = model.sample_paths(_context(bars), 1, params, seed=2)
    assert out.shape == (6, 1)


def test_mismatched_tokenizer_is_refused(kronos_dirs: tuple[Path, Path], tmp_path: Path) -> None:
    from sktime.libs.kronos import KronosTokenizer

    from .conftest import KRONOS_TOKENIZER

    KronosTokenizer(**{**KRONOS_TOKENIZER, "s1_bits": 2, "s2_bits": 2}).save_pretrained(tmp_path)
    with pytest.raises(ModelUnavailableError, match="does not match"):
        load_forecaster(_kronos_cfg((kronos_dirs[0], tmp_path)))


def test_kronos_from_a_checkout(
    kronos_dirs: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelUnavailableError, match=r"model/__init__\.py"):
        load_forecaster(_kronos_cfg(kronos_dirs, repo_path=str(tmp_path)))
    package = tmp_path / "model"
    package.mkdir()
    # a stand-in checkout exposing the upstream names the way the Kronos repository does
    (package / "__init__.py").write_text(
        "from sktime.libs.kronos import Kronos, KronosPredictor, KronosTokenizer\n"
    )
    monkeypatch.delitem(sys.modules, "model", raising=False)
    model = load_forecaster(_kronos_cfg(kronos_dirs, repo_path=str(tmp_path)))
    assert sys.modules["model"].__file__ == str(package / "__init__.py")
    assert isinstance(model, KronosAdapter)
    monkeypatch.delitem(sys.modules, "model")


def test_full_tuning_path_with_ensemble_and_summary(
    toto_dir: Path, kronos_dirs: tuple[Path, Path], bars: pd.DataFrame, tmp_path: Path
) -> None:
    models = [
        _toto_cfg(toto_dir, search_space={"num_samples": [8, 16], "aggregate": ["mean", "median"]}),
        _kronos_cfg(
            kronos_dirs,
            sample_count=4,
            search_space={
                "temperature": {"low": 0.1, "high": 0.3},
                "top_k": [0, 4],
                "top_p": {"low": 0.7, "high": 0.9},
            },
        ),
        _kronos_cfg(
            kronos_dirs,
            KronosEnsembleModelConfig,
            num_samples=3,
            search_space={"num_samples": [3, 4], "aggregate": ["mean", "trimmed_mean_20"]},
        ),
    ]
    study = ForecastStudyConfig(output_dir=str(tmp_path / "out"), cache_dir=str(tmp_path / "c"))
    search = OptunaSearchConfig(n_trials=2, batch_size=2, seed=3)
    tracker = MemoryTracker()
    job = tracker.start_job("forecast/AAPL", "pipeline")
    results, summary = run_forecast_pipeline(bars, "AAPL", models, study, search, job=job)
    job.end()

    assert [r.model for r in results] == ["toto", "kronos_standard", "kronos_ensemble"]
    for res in results:
        assert res.available and len(res.trials) == 2
        doc = read_result(tmp_path / "out" / res.model / "AAPL.json")
        assert doc["model_type"] == res.model  # seed 002's folder and model_type agree
        assert doc["validation"]["pct_return_mae"] == pytest.approx(
            res.best_metrics["pct_return_mae"]
        )
        assert res.model_calls <= res.model_calls_uncached == 2 * 20
        trial_runs = [
            r
            for r in tracker.runs()
            if r.name.startswith("trial ") and r.tags.get("model") == res.model
        ]
        assert len(trial_runs) == 2 and all("model_calls" in r.metrics for r in trial_runs)
    candidates = summary.candidates
    assert {"ensemble_of_ensembles", "regime_switch", "zero_return", "toto"} <= set(candidates)
    weights = candidates["ensemble_of_ensembles"].details["weights"]
    assert sum(weights.values()) == pytest.approx(1.0)
    assert summary.best.metrics["pct_return_mae"] == min(
        c.metrics["pct_return_mae"] for c in candidates.values()
    )
    # the summary re-scored the tuned configs from the cache: the same numbers as the study
    assert candidates["toto"].metrics["pct_return_mae"] == pytest.approx(
        results[0].best_metrics["pct_return_mae"]
    )

    # the same study again resumes nothing (memory storage) but draws nothing new either
    again = tune_forecaster(
        bars, models[0], study, search, symbol="AAPL", output_dir=tmp_path / "out2"
    )
    assert again.model_calls == 0
