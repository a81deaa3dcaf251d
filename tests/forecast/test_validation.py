"""Rolling windows, seeded reproducibility and the sample cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError, DataError
from tradelab.forecast.base import SeriesData
from tradelab.forecast.cache import SampleCache
from tradelab.forecast.validation import ValidationPlan, Validator

from .fakes import NoisyWalk


def test_windows_end_at_the_last_bar(bars: pd.DataFrame) -> None:
    data = SeriesData.from_input(bars)
    validator = Validator(data, ValidationPlan(steps=20, horizon=1))
    assert validator.n_windows == 20
    assert validator.origins[-1] == len(bars) - 1
    np.testing.assert_array_equal(np.diff(validator.origins), np.ones(19))
    np.testing.assert_array_equal(validator.actual[:, 0], bars["close"].to_numpy()[-20:])
    assert validator.last[0] == bars["close"].iloc[-21]


def test_too_short_a_series_is_a_data_error() -> None:
    with pytest.raises(DataError, match="need 84 bars"):
        Validator(SeriesData(np.linspace(1, 2, 50)), ValidationPlan(steps=20, min_context=64))


def test_bad_plans_and_bad_data_name_the_field() -> None:
    with pytest.raises(ConfigError, match=r"study\.horizon"):
        ValidationPlan(horizon=0)
    with pytest.raises(DataError, match="row 2"):
        SeriesData.from_input(np.array([1.0, 2.0, -3.0, 4.0]))
    frame = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(["2024-01-02", "2024-01-01", "2024-01-03"]),
            "close": [1.0, 2.0, 3.0],
        }
    )
    with pytest.raises(DataError, match="timestamp"):
        SeriesData.from_input(frame)


def test_evaluation_is_reproducible(bars: pd.DataFrame) -> None:
    data = SeriesData.from_input(bars)
    a = Validator(data, ValidationPlan(), seed=11).evaluate(NoisyWalk(), {"num_samples": 32})
    b = Validator(data, ValidationPlan(), seed=11).evaluate(NoisyWalk(), {"num_samples": 32})
    c = Validator(data, ValidationPlan(), seed=12).evaluate(NoisyWalk(), {"num_samples": 32})
    np.testing.assert_array_equal(a.samples, b.samples)
    assert a.metrics["pct_return_mae"] == b.metrics["pct_return_mae"]
    assert not np.array_equal(a.samples, c.samples)


def test_cache_serves_trials_that_differ_only_in_aggregation(bars: pd.DataFrame) -> None:
    model = NoisyWalk()
    cache = SampleCache()
    validator = Validator(SeriesData.from_input(bars), ValidationPlan(), seed=3, cache=cache)
    first = validator.evaluate(model, {"num_samples": 32, "aggregate": "mean"})
    second = validator.evaluate(model, {"num_samples": 32, "aggregate": "trimmed_mean_20"})
    third = validator.evaluate(model, {"num_samples": 64, "aggregate": "mean"})
    assert (first.model_calls, second.model_calls, third.model_calls) == (20, 0, 20)
    assert second.cache_hit and not third.cache_hit
    assert model.calls == 40
    np.testing.assert_array_equal(first.samples, second.samples)
    # a cached trial reports the latency of the draw it reuses
    assert second.metrics["latency_s"] == first.metrics["latency_s"]
    assert cache.stats.hits == 1 and cache.stats.misses == 2


def test_disk_cache_survives_a_new_process_and_ignores_damage(
    bars: pd.DataFrame, tmp_path: Path
) -> None:
    data = SeriesData.from_input(bars)
    params = {"num_samples": 16}
    first = Validator(data, ValidationPlan(), cache=SampleCache(tmp_path)).evaluate(
        NoisyWalk(), params
    )
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1 and not list(tmp_path.glob(".*"))
    model = NoisyWalk()
    again = Validator(data, ValidationPlan(), cache=SampleCache(tmp_path)).evaluate(model, params)
    assert again.cache_hit and model.calls == 0
    np.testing.assert_array_equal(first.samples, again.samples)
    files[0].write_bytes(b"not an npz file")
    redrawn = Validator(data, ValidationPlan(), cache=SampleCache(tmp_path)).evaluate(model, params)
    assert not redrawn.cache_hit and model.calls == 20
    np.testing.assert_array_equal(first.samples, redrawn.samples)


def test_memory_cache_drops_least_recently_used_entries() -> None:
    cache = SampleCache(max_bytes=2 * 8 * 10)
    for i in range(3):
        cache.put(f"k{i}", np.zeros(10), 1.0)
    assert cache.get("k0") is None and cache.get("k2") is not None and len(cache) == 2


def test_volatility_threshold_uses_only_history_before_the_first_window(
    bars: pd.DataFrame,
) -> None:
    data = SeriesData.from_input(bars)
    validator = Validator(data, ValidationPlan())
    threshold = validator.volatility_threshold(20, 0.5)
    changed = bars.copy()
    changed.loc[changed.index[-10:], "close"] *= 1.5  # inside the validation windows
    later = Validator(SeriesData.from_input(changed), ValidationPlan())
    assert later.volatility_threshold(20, 0.5) == threshold
    vol = validator.recent_volatility(20)
    closes = bars["close"].to_numpy()
    origin = int(validator.origins[0])
    by_hand = np.std(closes[origin - 20 : origin] / closes[origin - 21 : origin - 1] - 1, ddof=1)
    assert vol[0] == pytest.approx(by_hand)
