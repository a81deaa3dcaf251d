"""Search drivers: a batch of trials is one evaluation call; grid, random and TPE tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError
from tradelab.search.settings import (
    GridSearchConfig,
    OptunaSearchConfig,
    RandomSearchConfig,
    search_config,
)
from tradelab.strategies.search import run_search

SPACE = {"window": [45, 60, 90], "entry_z": [2.0, 2.5], "long_only": [False, True]}


class Recorder:
    """A fake evaluator: metrics are simple functions of the parameters; calls are recorded."""

    def __init__(self) -> None:
        self.calls: list[dict[str, np.ndarray]] = []

    def __call__(self, columns: dict[str, np.ndarray]) -> pd.DataFrame:
        self.calls.append(columns)
        n = len(next(iter(columns.values())))
        sharpe = columns["window"] / 100.0 - columns["entry_z"] + 0.5 * columns["long_only"]
        return pd.DataFrame(
            {"sharpe": sharpe, "max_drawdown": np.full(n, 0.1), "total_return": sharpe / 10}
        )


def test_grid_enumerates_in_chunks_with_typed_columns() -> None:
    rec = Recorder()
    table = run_search(SPACE, rec, "sharpe", GridSearchConfig(chunk_size=5))
    assert len(table) == 12 and len(rec.calls) == 3
    assert list(table["trial"]) == list(range(12))
    assert table["window"].dtype == np.int64 and table["long_only"].dtype == bool
    assert table.iloc[1][["window", "entry_z", "long_only"]].tolist() == [45, 2.0, True]
    assert {tuple(r) for r in table[["window", "entry_z", "long_only"]].to_numpy()} == {
        (w, z, lo) for w in (45, 60, 90) for z in (2.0, 2.5) for lo in (False, True)
    }
    assert list(table["score"]) == list(table["sharpe"])


def test_random_is_one_call_and_seeded() -> None:
    rec = Recorder()
    first = run_search(SPACE, rec, "sharpe", RandomSearchConfig(n_trials=50, seed=7))
    second = run_search(SPACE, Recorder(), "sharpe", RandomSearchConfig(n_trials=50, seed=7))
    assert len(rec.calls) == 1 and len(first) == 50
    pd.testing.assert_frame_equal(first, second)
    assert set(first["window"]) <= {45, 60, 90}


def test_optuna_evaluates_whole_batches() -> None:
    rec = Recorder()
    settings = OptunaSearchConfig(n_trials=20, batch_size=8, seed=3, n_startup_trials=8)
    table = run_search(SPACE, rec, "sharpe", settings)
    assert [len(c["window"]) for c in rec.calls] == [8, 8, 4]
    assert len(table) == 20 and sorted(table["trial"]) == list(range(20))
    assert table["score"].max() == pytest.approx(90 / 100 - 2.0 + 0.5)


def test_settings_from_config_and_validation() -> None:
    assert isinstance(search_config({"kind": "grid"}), GridSearchConfig)
    got = search_config({"kind": "optuna", "n_trials": 30, "storage": None})
    assert isinstance(got, OptunaSearchConfig)
    assert (got.kind, got.n_trials, got.batch_size) == ("optuna", 30, 8)
    with pytest.raises(ConfigError, match=r"search\.kind"):
        search_config({"kind": "anneal"})
    with pytest.raises(ConfigError, match=r"search\.batch_size"):
        search_config({"kind": "optuna", "batch_size": 0})
    with pytest.raises(ConfigError, match=r"search\.chunk_sise"):
        search_config({"kind": "grid", "chunk_sise": 10})
    with pytest.raises(ValueError, match="continuous"):
        run_search({"x": {"low": 0.0, "high": 1.0}}, Recorder(), "sharpe", GridSearchConfig())
