"""Study drivers end to end with the in-memory tracker: trials as child runs, artifacts in the
seeds' formats, reruns identical."""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pandas as pd
import pytest

from tradelab.errors import ConfigError
from tradelab.search.settings import GridSearchConfig, OptunaSearchConfig, RandomSearchConfig
from tradelab.settings import from_plain
from tradelab.strategies.pairs_study import (
    CONFIG_KEYS,
    RESULT_COLUMNS,
    save_pairs_study,
    tune_best_pair,
    tune_pairs,
)
from tradelab.strategies.residual_study import save_residual_study, tune_residual
from tradelab.strategies.settings import (
    KalmanPairsStudyConfig,
    KalmanResidualStudyConfig,
    ObjectiveName,
)
from tradelab.tracking import MemoryTracker
from tradelab.tracking.base import CURVE_POINTS


def _minute_frames(seed: int = 0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    frames = {}
    days = pd.bdate_range("2026-10-01", periods=6, tz="America/New_York")
    times = pd.DatetimeIndex(
        [d + pd.Timedelta(hours=9, minutes=30 + m) for d in days for m in range(390)]
    ).tz_convert("UTC")
    for symbol, start in (("RIOT", 12.0), ("SOFI", 8.0), ("SPY", 450.0)):
        close = start * np.exp(np.cumsum(rng.normal(0, 0.002, len(times))))
        frames[symbol] = pd.DataFrame(
            {
                "timestamp": times,
                "open": close,
                "high": close * 1.001,
                "low": close * 0.999,
                "close": close,
                "volume": 100.0,
            }
        )
    return frames


def _assert_thinned(curve: list[tuple[int, float]], full: np.ndarray) -> None:
    """A logged curve is `full` at its steps: the first and last, at most CURVE_POINTS, and
    its lowest and highest values among them (the deepest drawdown is drawn)."""
    assert len(curve) <= CURVE_POINTS < len(full)
    assert curve[0][0] == 0 and curve[-1][0] == len(full) - 1
    assert all(value == pytest.approx(full[step]) for step, value in curve)
    values = [value for _, value in curve]
    assert min(values) == pytest.approx(full.min()) and max(values) == pytest.approx(full.max())


def test_residual_study_logs_trials_and_seed_json() -> None:
    tracker = MemoryTracker()
    search = RandomSearchConfig(n_trials=12, seed=42)
    with tracker.start_job("kalman_residual/smallcaps", "study") as job:
        result = tune_residual(_minute_frames(), KalmanResidualStudyConfig(), search, job)
    assert set(result.symbols) == {"RIOT", "SOFI"}  # SPY is above $25
    assert "SPY" in result.skipped
    riot = result.symbols["RIOT"]
    assert riot.bar_minutes == 5.0 and riot.bars_per_year == pytest.approx(252 * 78)
    assert riot.n_bars == 6 * 78
    runs = tracker.runs()
    parent = runs[0]
    children = {r.name: r for r in runs if r.parent_id == parent.run_id}
    assert set(children) == {"RIOT", "SOFI"}
    trials = [r for r in runs if r.parent_id == children["RIOT"].run_id]
    assert len(trials) == 10  # the best tracking.max_trial_runs; the curve holds all 12
    assert len(tracker.metric_history(children["RIOT"].run_id, "trials/score")) == 12
    assert {"process_noise_q", "residual_z_entry"} <= set(trials[0].params)
    assert {"total_return", "sharpe", "num_trades"} <= set(trials[0].metrics)
    assert {"trials.parquet", "best_equity.png", "best_trades.csv"} <= set(
        children["RIOT"].artifacts
    )
    table = pd.read_parquet(io.BytesIO(children["RIOT"].artifacts["trials.parquet"]))
    assert len(table) == 12 and "score" in table
    preview = json.loads(children["RIOT"].artifacts["trials_best.json"])  # the UI's table
    scores = [row[preview["columns"].index("score")] for row in preview["data"]]
    assert len(scores) == 12  # 10 significant digits, as mlflow.log_table writes them
    best_first = sorted(table["score"].dropna(), reverse=True)
    assert [s for s in scores if s is not None] == pytest.approx(best_first, rel=1e-9)
    blob = json.loads(parent.artifacts["small_cap_optimization.json"])
    assert list(blob) == [
        "timestamp",
        "n_trials",
        "aggregate_mins",
        "symbols",
        "results",
        "all_trials",
        "summary",
    ]
    assert blob["n_trials"] == 12 and blob["aggregate_mins"] == 5
    for symbol in blob["symbols"]:
        entry = blob["results"][symbol]
        assert list(entry)[:3] == ["symbol", "config", "total_return"]
        assert {"q", "r", "z_entry", "z_exit", "stop_loss", "take_profit"} <= set(entry["config"])
    assert set(blob["summary"]) == {"avg_return", "profitable_pct", "high_return_count"}
    assert "summary.png" in parent.artifacts
    assert parent.status == "FINISHED"
    # the best trial's equity curve as step metrics (the UI draws them), beside buy-and-hold
    best = result.symbols["RIOT"].backtest
    assert best is not None
    curve = tracker.metric_history(children["RIOT"].run_id, "equity")
    _assert_thinned(curve, np.asarray(best.equity))
    held = tracker.metric_history(children["RIOT"].run_id, "buy_and_hold_equity")
    close = _aggregated_close(_minute_frames()["RIOT"])
    assert held[0] == (60, pytest.approx(best.equity[60]))
    assert held[-1][1] == pytest.approx(best.equity[60] * close[-1] / close[60])


def _aggregated_close(frame: pd.DataFrame) -> np.ndarray:
    from tradelab.strategies.bars import aggregate_bars

    return aggregate_bars(frame, 5)["close"].to_numpy()


def test_residual_single_symbol_logs_into_the_job_and_reruns_identically() -> None:
    frames = {"RIOT": _minute_frames(1)["RIOT"]}
    search = RandomSearchConfig(n_trials=8, seed=1)
    cfg = KalmanResidualStudyConfig(objective=ObjectiveName.sharpe)
    tracker = MemoryTracker()
    with tracker.start_job("kalman_residual/RIOT", "study") as job:
        first = tune_residual(frames, cfg, search, job)
    parent = tracker.runs()[0]
    assert len([r for r in tracker.runs() if r.parent_id == parent.run_id]) == 8
    assert "sharpe" in parent.metrics and "trials.parquet" in parent.artifacts
    second = tune_residual(frames, cfg, search)
    pd.testing.assert_frame_equal(first.symbols["RIOT"].trials, second.symbols["RIOT"].trials)


def test_residual_grid_caps_child_runs(tmp_path) -> None:
    frames = {"SOFI": _minute_frames(2)["SOFI"]}
    space = {
        "residual_z_entry": [0.5, 1.0, 1.5],
        "stop_loss_pct": [0.03, 0.05],
        "process_noise_q": [1e-4, 1e-3],
    }
    study = KalmanResidualStudyConfig(space=space, objective=ObjectiveName.total_return)
    tracker = MemoryTracker()
    with tracker.start_job("kalman_residual/SOFI", "grid") as job:
        result = tune_residual(frames, study, GridSearchConfig(), job, max_trial_runs=5)
    study = result.symbols["SOFI"]
    assert len(study.trials) == 12
    parent = tracker.runs()[0].run_id
    children = [r for r in tracker.runs() if r.parent_id == parent]
    assert len(children) == 5
    best_return = study.trials["total_return"].max()
    assert max(r.metrics["total_return"] for r in children) == pytest.approx(best_return)
    # every trial, run or not, is a step of the study's trials/score curve
    history = dict(tracker.metric_history(parent, "trials/score"))
    finite = study.trials["score"].notna()
    assert sorted(history) == sorted(study.trials.loc[finite, "trial"])
    for trial, score in zip(study.trials["trial"], study.trials["score"], strict=True):
        assert np.isnan(score) or history[trial] == pytest.approx(score)
    paths = save_residual_study(result, tmp_path, timestamp="20260101-000000")
    assert paths[0].name == "small_cap_optimization_20260101-000000.json"
    assert json.loads(paths[0].read_text())["n_trials"] == 12
    assert not list(tmp_path.glob(".*tmp"))


def test_residual_config_errors_name_the_key() -> None:
    frames = {"RIOT": _minute_frames(3)["RIOT"]}
    with pytest.raises(ConfigError, match=r"study\.space\.max_positions"):
        tune_residual(frames, KalmanResidualStudyConfig(space={"max_positions": [1, 2]}))
    with pytest.raises(ConfigError, match=r"study\.objective"):
        from_plain(KalmanResidualStudyConfig, {"objective": "calmar"}, "study")
    with pytest.raises(ConfigError, match=r"study\.strategy\.stop_loss"):
        from_plain(KalmanResidualStudyConfig, {"strategy": {"stop_loss": 0.1}}, "study")


def _closes(seed: int = 0, n: int = 400) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2021-01-04", periods=n, tz="UTC")
    spy = 400 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    noise = np.zeros(n)
    for t in range(1, n):
        noise[t] = 0.85 * noise[t - 1] + rng.normal(0, 1.5)
    dia = 0.57 * spy + 88 + noise
    qqq = 300 * np.exp(np.cumsum(rng.normal(0, 0.012, n)))
    return pd.DataFrame({"DIA": dia, "SPY": spy, "QQQ": qqq}, index=idx)


def test_pairs_study_seed_grid_outputs(tmp_path) -> None:
    closes = _closes()
    tracker = MemoryTracker()
    with tracker.start_job("kalman_pairs/DIA-SPY", "grid") as job:
        screened, result = tune_best_pair(closes, KalmanPairsStudyConfig(), GridSearchConfig(), job)
    assert (screened.iloc[0]["asset_1"], screened.iloc[0]["asset_2"]) == ("DIA", "SPY")
    assert result.hedge_ratio == pytest.approx(screened.iloc[0]["hedge_ratio"])
    assert list(result.results.columns) == RESULT_COLUMNS and len(result.results) == 72
    ordered = result.results
    keys = list(zip(-ordered["sharpe_ratio"].fillna(-np.inf), ordered["max_dd_pct"]))
    assert keys == sorted(keys)
    assert result.best_config is not None
    assert list(result.best_config)[: len(CONFIG_KEYS)] == CONFIG_KEYS
    top = ordered.iloc[0]
    assert (result.best_config["window"], result.best_config["stake"]) == (
        top["window"],
        top["stake"],
    )
    assert isinstance(result.best_config["long_only"], bool)
    parent = tracker.runs()[0]
    assert len([r for r in tracker.runs() if r.parent_id == parent.run_id]) == 10
    assert len(tracker.metric_history(parent.run_id, "trials/score")) == 72
    assert {
        "cointegrated_pairs.csv",
        "kalman_param_optimization_results.csv",
        "kalman_prod_config.json",
        "trials.parquet",
        "best_equity.png",
        "best_fills.csv",
    } <= set(parent.artifacts)
    csv = pd.read_csv(io.BytesIO(parent.artifacts["kalman_param_optimization_results.csv"]))
    assert list(csv.columns) == RESULT_COLUMNS
    paths = save_pairs_study(result, tmp_path)
    assert json.loads(paths[1].read_text())["note"].startswith("Auto-generated")


def test_pairs_study_stands_beside_both_legs_held() -> None:
    """Every trial and the parent carry buy-and-hold of the two legs (half each, first close
    to last) and the total return over it."""
    closes = _closes()
    tracker = MemoryTracker()
    with tracker.start_job("kalman_pairs/DIA-SPY", "grid") as job:
        _, result = tune_best_pair(closes, KalmanPairsStudyConfig(), GridSearchConfig(), job)
    dia, spy = closes["DIA"].to_numpy(), closes["SPY"].to_numpy()
    held = 0.5 * (dia[-1] / dia[0] - 1) + 0.5 * (spy[-1] / spy[0] - 1)
    assert held != 0.0
    np.testing.assert_allclose(result.trials["benchmark_return"], held, rtol=1e-12)
    excess = result.trials["total_return"] - held
    np.testing.assert_allclose(result.trials["excess_return"], excess, rtol=1e-12)
    parent = tracker.runs()[0]
    best = result.trials.iloc[result.best_trial]
    assert parent.metrics["excess_return"] == pytest.approx(best["excess_return"])
    children = [r for r in tracker.runs() if r.parent_id == parent.run_id]
    assert all(c.metrics["benchmark_return"] == pytest.approx(held) for c in children)
    assert result.backtest is not None
    values = result.backtest.values.to_numpy()
    _assert_thinned(tracker.metric_history(parent.run_id, "equity"), values)
    legs = tracker.metric_history(parent.run_id, "buy_and_hold_equity")
    assert legs[0] == (0, pytest.approx(values[0])) and legs[-1][0] == len(values) - 1
    assert legs[-1][1] == pytest.approx(values[0] * (1 + held))


def test_pairs_study_optuna_and_fixed_pair() -> None:
    closes = _closes(1)
    cfg = from_plain(
        KalmanPairsStudyConfig,
        {
            "asset_1": "DIA",
            "asset_2": "SPY",
            "hedge_ratio": 0.57,
            "space": {"window": {"min": 20, "max": 90, "step": 10}, "entry_z": [1.5, 2.0, 2.5]},
            "objective": "sharpe",
        },
    )
    search = OptunaSearchConfig(n_trials=16, batch_size=8, seed=0)
    _, first = tune_best_pair(closes, cfg, search)
    _, again = tune_best_pair(closes, cfg, search)
    assert first.hedge_ratio == 0.57 and len(first.trials) == 16
    pd.testing.assert_frame_equal(first.trials, again.trials)
    direct = tune_pairs(closes["DIA"], closes["SPY"], cfg, GridSearchConfig())
    assert len(direct.trials) == 8 * 3
    ols = tune_pairs(
        closes["DIA"],
        closes["SPY"],
        dataclasses.replace(cfg, hedge_ratio=None),
        RandomSearchConfig(n_trials=4),
    )
    slope = np.polyfit(closes["SPY"], closes["DIA"], 1)[0]
    assert ols.hedge_ratio == pytest.approx(slope, rel=1e-9)


def test_optuna_studies_are_named_after_their_target_and_resume(tmp_path) -> None:
    from .test_pairs import _legs

    times, (_, close_a, _, close_b) = _legs(21, 400, opens=False)
    legs = (pd.Series(close_a, index=times, name="A"), pd.Series(close_b, index=times, name="B"))
    study = KalmanPairsStudyConfig(hedge_ratio=0.6)
    search = OptunaSearchConfig(
        n_trials=8, batch_size=4, n_startup_trials=4, storage=f"journal:{tmp_path / 'p.journal'}"
    )
    tracker = MemoryTracker()
    with tracker.start_job("kalman_pairs/A-B", "optuna") as job:
        first = tune_pairs(*legs, study, search, job)
    trial_runs = [r for r in tracker.runs() if r.name.startswith("trial ")]
    names = {r.tags["optuna_study"] for r in trial_runs}
    assert len(trial_runs) == 8 and len(names) == 1
    assert names.pop().startswith("kalman_pairs-A-B-")
    again = tune_pairs(*legs, study, search)  # the finished study, read back: the same table
    pd.testing.assert_frame_equal(first.trials, again.trials)
    assert list(first.trials["trial"]) == list(range(8))

    riot = _minute_frames()["RIOT"]
    residual = OptunaSearchConfig(n_trials=4, batch_size=4, storage=search.storage)
    table = tune_residual({"RIOT": riot}, search=residual).symbols["RIOT"].trials
    resumed = tune_residual({"RIOT": riot}, search=residual).symbols["RIOT"].trials
    pd.testing.assert_frame_equal(table, resumed)
    assert table["num_trades"].dtype == np.int64  # dtypes as the evaluator returns them
