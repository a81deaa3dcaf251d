"""`study.fill`: `close` is seed 001 (its feed is built from closes); `next_open`, real opens."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hydra.errors import ConfigCompositionException

from tradelab.apps._runtime import settings
from tradelab.strategies.pairs_study import tune_pairs
from tradelab.strategies.reference import run_backtrader
from tradelab.strategies.settings import KalmanPairsStudyConfig, PairsFill

from .test_config import _study
from .test_pairs import SEED_GRID, _legs


def _series(times: pd.DatetimeIndex, legs: tuple[np.ndarray, ...]) -> dict[str, pd.Series]:
    open_a, close_a, open_b, close_b = legs
    return {
        "closes_a": pd.Series(close_a, index=times, name="A"),
        "closes_b": pd.Series(close_b, index=times, name="B"),
        "opens_a": pd.Series(open_a, index=times, name="A"),
        "opens_b": pd.Series(open_b, index=times, name="B"),
    }


def test_the_default_study_is_seed_001_even_with_real_opens() -> None:
    times, legs = _legs(21, 400, opens=True)
    _, close_a, _, close_b = legs
    series = _series(times, legs)
    study = KalmanPairsStudyConfig(hedge_ratio=0.6)
    assert study.fill is PairsFill.close
    result = tune_pairs(**series, study=study)
    closes_only = tune_pairs(series["closes_a"], series["closes_b"], study)
    pd.testing.assert_frame_equal(result.trials, closes_only.trials)

    best = result.backtest
    assert best is not None and not best.fills.empty
    params = {k: best.params[k] for k in (*SEED_GRID, "delta", "R")}
    params.update(window=int(params["window"]), stake=int(params["stake"]))
    params["long_only"] = bool(params["long_only"])
    ref = run_backtrader(
        times,
        (close_a, close_a, close_b, close_b),  # seed 001's make_ohlc_from_close
        cash=best.params["initial_cash"],
        commission=best.params["commission"],
        hedge_ratio=0.6,
        **params,
    )
    ours = best.fills[["bar", "leg", "size", "price"]].to_numpy(dtype=float)
    np.testing.assert_allclose(ours, np.array([f[:4] for f in ref["fills"]]), rtol=1e-12)
    assert best.metrics["final_value"] == pytest.approx(ref["value"], abs=0.01)
    assert best.metrics["sharpe"] == pytest.approx(ref["sharpe"], rel=1e-8)


def test_next_open_fills_at_the_real_opens() -> None:
    times, legs = _legs(22, 400, opens=True)
    open_a, _, open_b, _ = legs
    series = _series(times, legs)
    seed = KalmanPairsStudyConfig(hedge_ratio=0.6)
    study = dataclasses.replace(seed, fill=PairsFill.next_open)
    result = tune_pairs(**series, study=study)
    at_close = tune_pairs(**series, study=seed)
    assert not np.allclose(result.trials["final_value"], at_close.trials["final_value"])
    best = result.backtest
    assert best is not None and not best.fills.empty
    for fill in best.fills.itertuples():
        assert fill.price == (open_a if fill.leg == 0 else open_b)[fill.bar]


def test_close_fill_keeps_bars_whose_open_is_missing() -> None:
    times, legs = _legs(23, 200, opens=True)
    series = _series(times, legs)
    series["opens_a"].iloc[50] = np.nan
    small = KalmanPairsStudyConfig(hedge_ratio=0.6, space={"window": [20]})
    assert tune_pairs(**series, study=small).n_bars == 200
    opens = dataclasses.replace(small, fill=PairsFill.next_open)
    assert tune_pairs(**series, study=opens).n_bars == 199


def test_the_config_option_defaults_to_close_and_names_a_bad_value() -> None:
    cfg = _study("kalman_pairs")
    assert settings(KalmanPairsStudyConfig, cfg.study, "study").fill is PairsFill.close
    cfg = _study("kalman_pairs", ["study.fill=next_open"])
    assert settings(KalmanPairsStudyConfig, cfg.study, "study").fill is PairsFill.next_open
    with pytest.raises(ConfigCompositionException) as info:
        _study("kalman_pairs", ["study.fill=vwap"])
    assert "fill" in f"{info.value} {info.value.__cause__}"
