"""Search spaces: exclusive top_k / top_p, unknown parameters and bad aggregations."""

from __future__ import annotations

import optuna
import pytest

from tradelab.errors import ConfigError
from tradelab.forecast.kronos_model import KronosAdapter
from tradelab.forecast.space import build_space, make_suggest, trial_params
from tradelab.forecast.toto_model import TotoAdapter, samples_per_batch


def test_top_p_is_only_suggested_when_top_k_is_zero() -> None:
    space = build_space(
        {"top_k": [0, 16], "top_p": {"low": 0.7, "high": 0.9}, "clip": {"low": 1, "high": 2}},
        KronosAdapter.tunable,
    )
    suggest = make_suggest(space)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        params = suggest(trial)
        seen.add(params["top_k"])
        if params["top_k"] > 0:
            assert params["top_p"] is None and "top_p" not in trial.params
        else:
            assert 0.7 <= params["top_p"] <= 0.9
        study.tell(trial, 0.0)
    assert seen == {0, 16}


def test_trial_params_merge_over_defaults() -> None:
    merged = trial_params({"top_k": 0, "top_p": 0.8, "clip": 2.0}, {"top_k": 20})
    assert merged == {"top_k": 20, "top_p": None, "clip": 2.0}


def test_unknown_parameter_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"model\.search_space"):
        build_space({"num_sample": [64]}, TotoAdapter.tunable)


def test_bad_aggregate_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="aggregate"):
        build_space({"aggregate": ["mean", "trimmed_mean_70"]}, TotoAdapter.tunable)


def test_samples_per_batch_divides_num_samples() -> None:
    assert samples_per_batch(2048, 256) == 256
    assert samples_per_batch(192, 256) == 192
    assert samples_per_batch(100, 64) == 50
    assert samples_per_batch(7, 4) == 1
    with pytest.raises(ValueError):
        samples_per_batch(0, 4)
