from __future__ import annotations

import math

import pytest

from tradelab.search import SearchSpace, optimize_batched, trial_metrics


def test_ranges_values_and_size() -> None:
    space = SearchSpace.from_config(
        {
            "window": [45, 60, 90],
            "z": {"min": 1.0, "max": 2.0, "step": 0.5},
            "n": {"min": 2, "max": 10, "step": 4},
        }
    )
    assert space.size() == 3 * 3 * 3
    assert space.dimensions[1].values == (1.0, 1.5, 2.0)
    assert space.dimensions[2].values == (2, 6, 10)
    grid = list(space.grid())
    assert len(grid) == 27
    assert grid[0] == {"window": 45, "z": 1.0, "n": 2}
    assert grid[1] == {"window": 45, "z": 1.0, "n": 6}


def test_sample_is_seeded_and_within_values() -> None:
    space = SearchSpace.from_config({"a": [1, 2, 3], "b": {"low": 0.1, "high": 0.3}})
    first = space.sample(20, seed=42)
    assert first == space.sample(20, seed=42)
    assert first != space.sample(20, seed=43)
    assert all(r["a"] in (1, 2, 3) and 0.1 <= r["b"] <= 0.3 for r in first)


def test_grid_refuses_continuous() -> None:
    with pytest.raises(ValueError, match="continuous"):
        SearchSpace.from_config({"b": {"low": 0.1, "high": 0.3}}).size()


@pytest.mark.parametrize("bad", [{"values": []}, {"min": 3, "max": 1}, {"foo": 1}])
def test_bad_dimension_names_it(bad) -> None:
    with pytest.raises(ValueError, match="'x'"):
        SearchSpace.from_config({"x": bad})


def test_batched_tpe_finds_the_optimum_and_resumes(tmp_path) -> None:
    space = SearchSpace.from_config({"x": {"low": -5.0, "high": 5.0}, "k": [0, 1]})
    calls: list[int] = []

    def evaluate(batch):
        calls.append(len(batch))
        return [-((p["x"] - 1.5) ** 2) - p["k"] for p in batch], [
            {"x2": p["x"] ** 2} for p in batch
        ]

    storage = f"journal:{tmp_path / 'study.log'}"
    study = optimize_batched(
        space, evaluate, n_trials=40, batch_size=8, storage=storage, study_name="s", seed=1
    )
    assert calls == [8] * 5
    assert abs(study.best_params["x"] - 1.5) < 0.6 and study.best_params["k"] == 0
    assert "x2" in trial_metrics(study.best_trial)
    resumed = optimize_batched(
        space, evaluate, n_trials=44, batch_size=8, storage=storage, study_name="s"
    )
    assert calls[-1] == 4 and len(resumed.trials) == 44


def test_nan_values_are_failed_trials() -> None:
    space = SearchSpace.from_config({"x": [1, 2]})
    study = optimize_batched(space, lambda b: ([math.nan] * len(b), []), n_trials=4, batch_size=2)
    assert all(t.state.name == "FAIL" for t in study.trials)
