"""Bias-check logic: a peeking strategy is caught, a causal one passes, warmup differences are
measured exactly, reports serialise; bad inputs raise."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from tradelab.apps.wfo import bias_settings
from tradelab.errors import ConfigError
from tradelab.robustness.bias import (
    BiasReport,
    Decisions,
    LookaheadReport,
    SeriesDiff,
    WarmupReport,
    cut_points,
    lookahead_check,
    perturb_after,
    series_diffs,
    warmup_check,
)
from tradelab.settings import to_plain


def _walk(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))


def _perturb(close: np.ndarray, t: int, rng: np.random.Generator) -> np.ndarray:
    return perturb_after(t, rng, close)[0]


def _momentum(close: np.ndarray) -> Decisions:
    """Causal: at bar b go long when close[b] > close[b - 1], flat otherwise."""
    up = np.r_[False, close[1:] > close[:-1]]
    return Decisions([[(int(b), "long") for b in np.flatnonzero(up)]])


def _peeking(close: np.ndarray) -> Decisions:
    """Looks one bar ahead: at bar b go long when close[b + 1] > close[b]."""
    up = np.r_[close[1:] > close[:-1], False]
    return Decisions([[(int(b), "long") for b in np.flatnonzero(up)]])


def _normalised_equity(close: np.ndarray) -> Decisions:
    """Same events as `_momentum` but a path scaled by the full-sample mean (a hidden peek)."""
    return Decisions(_momentum(close).events, (close / close.mean())[None, :])


def test_causal_strategy_passes_and_compares_events() -> None:
    close = _walk(300, seed=1)
    report = lookahead_check(_momentum, close, _perturb, [100, 200, 250], name="momentum")
    assert report.passed and not report.vacuous
    assert report.n_events > 100 and report.n_combos == 1 and report.cuts == (100, 200, 250)


def test_peeking_strategy_is_caught() -> None:
    close = _walk(300, seed=2)
    cuts = cut_points(50, 300, 10)
    report = lookahead_check(_peeking, close, _perturb, cuts, seed=3)
    # the decision at t - 1 changes whenever the new bar t flips the sign of the move
    assert not report.passed
    assert 3 <= report.violations <= 10
    assert report.examples and "events before the cut" in report.examples[0]


def test_path_that_uses_the_full_sample_is_caught() -> None:
    close = _walk(300, seed=4)
    report = lookahead_check(_normalised_equity, close, _perturb, [150])
    assert report.violations == 1
    assert "path" in report.examples[0]


def test_perturb_after_keeps_the_past_and_changes_the_future() -> None:
    rng = np.random.default_rng(5)
    close = _walk(200, seed=5)
    open_ = close * np.exp(rng.normal(0, 0.002, 200))
    high = np.maximum(open_, close) * 1.01
    low = np.minimum(open_, close) * 0.99
    c, o, h, lo = perturb_after(120, np.random.default_rng(6), close, open_, high, low)
    for new, old in ((c, close), (o, open_), (h, high), (lo, low)):
        np.testing.assert_array_equal(new[:120], old[:120])
        assert not np.allclose(new[120:], old[120:])
    assert np.all(h >= np.maximum(o, c)) and np.all(lo <= np.minimum(o, c))
    assert np.all(c > 0)


def test_cut_points_are_spread_inside_the_window() -> None:
    assert cut_points(100, 400, 3) == [175, 250, 324]
    assert cut_points(0, 5, 10) == [1, 2, 3, 4]  # no duplicates
    with pytest.raises(ValueError, match="n_cuts"):
        cut_points(0, 100, 0)
    with pytest.raises(ValueError, match="first"):
        cut_points(99, 100, 2)


def _sma(x: np.ndarray, n: int) -> np.ndarray:
    """Exact window means (a running sum would carry rounding from earlier bars)."""
    out = np.full(x.shape[0], np.nan)
    out[n - 1 :] = np.lib.stride_tricks.sliding_window_view(x, n).mean(axis=1)
    return out


def _ema(x: np.ndarray, period: int) -> np.ndarray:
    alpha = 2.0 / (period + 1.0)
    out = np.empty_like(x)
    out[0] = x[0]
    for t in range(1, x.shape[0]):
        out[t] = out[t - 1] + alpha * (x[t] - out[t - 1])
    return out


def test_windowed_indicator_is_history_independent() -> None:
    close = _walk(800, seed=7)
    report = warmup_check(
        lambda first: {"sma": _sma(close[first:], 20)}, 400, 20, 300, tolerance=0.0, name="sma"
    )
    assert report.passed and not report.skipped
    assert report.max_rel_diff == 0.0 and report.series[0].n_bars == 400


def test_ema_warmup_difference_matches_the_geometric_decay() -> None:
    close = _walk(1200, seed=8)
    period = 30
    alpha = 2.0 / (period + 1.0)

    def series(first: int) -> dict[str, np.ndarray]:
        return {"ema": _ema(close[first:], period)}

    short = warmup_check(series, 700, 10, 600, tolerance=0.01)
    long = warmup_check(series, 700, 150, 500, tolerance=0.01)
    assert not short.passed and long.passed
    # the seed's error is multiplied by (1 - alpha) every bar: exactly, for the EMA
    for report, warm in ((short, 10), (long, 150)):
        first = 700 - warm
        seed_error = abs(close[first] - _ema(close[first - report.extra :], period)[report.extra])
        bound = seed_error * (1 - alpha) ** warm / report.series[0].scale
        assert report.max_rel_diff == pytest.approx(bound, rel=1e-6)
        assert report.series[0].worst_bar == 700


def test_decision_changes_are_counted() -> None:
    close = _walk(600, seed=9)

    def decisions(first: int) -> Decisions:
        ema = _ema(close[first:], 50)
        above = np.flatnonzero(close[first:] > ema) + first
        return Decisions([[(int(b), "long") for b in above]])

    report = warmup_check(
        lambda first: {"ema": _ema(close[first:], 50)},
        300,
        5,
        250,
        tolerance=1.0,
        decisions_from=decisions,
    )
    assert report.n_combos == 1 and report.decision_changes == 1


def test_no_extra_history_skips_the_check() -> None:
    report = warmup_check(lambda first: {"x": np.zeros(10)}, 5, 5, 0, tolerance=0.1)
    assert report.skipped and report.passed and report.max_rel_diff == 0.0


def test_warmup_check_rejects_impossible_windows() -> None:
    with pytest.raises(ValueError, match="start - warmup - extra"):
        warmup_check(lambda first: {}, 10, 8, 5, tolerance=0.1)
    with pytest.raises(ValueError, match="tolerance"):
        warmup_check(lambda first: {}, 10, 2, 2, tolerance=-1.0)


def test_series_diffs_columns_and_one_sided_nan() -> None:
    ref = {"m": np.array([[1.0, 2.0], [1.0, np.nan], [3.0, 4.0]])}
    cand = {"m": np.array([[1.0, 2.0], [1.5, 1.0], [3.0, 4.0]])}
    diffs = series_diffs(ref, cand, offset=10)
    assert [d.name for d in diffs] == ["m[0]", "m[1]"]
    assert diffs[0].max_abs_diff == 0.5 and diffs[0].worst_bar == 11
    assert diffs[0].max_rel_diff == pytest.approx(0.5 / (5.0 / 3.0))
    assert math.isinf(diffs[1].max_rel_diff)
    with pytest.raises(ValueError, match="shapes differ"):
        series_diffs({"a": np.zeros(3)}, {"a": np.zeros(4)})


def _report(violations: int, rel: float) -> BiasReport:
    look = LookaheadReport("atr_d_l", (10, 20), 4, 37, violations, ("combination 0, cut 10",))
    warm = WarmupReport(
        "atr_d_l phase1",
        99,
        99,
        400,
        0.05,
        (SeriesDiff("atr[0]", 0.0, 0.0, 2.0, 99, 50), SeriesDiff("trend", 0.1, rel, 0.2, 101, 50)),
        n_combos=4,
        decision_changes=1,
    )
    skipped = WarmupReport("atr_d_l phase0", 99, 99, 0, 0.05, ())
    return BiasReport("SMH", "atr_d_l", (look,), (warm, skipped), {"seed": 0})


def test_report_metrics_rows_and_json() -> None:
    good = _report(0, 0.01)
    assert good.passed and good.n_failed == 0
    m = good.metrics()
    assert m["lookahead_violations"] == 0.0 and m["lookahead_checks"] == 8.0
    assert m["lookahead_events"] == 37.0 and m["warmup_max_rel_diff"] == 0.01
    assert m["warmup_checks"] == 1.0 and m["warmup_decision_changes"] == 1.0
    assert m["bias_passed"] == 1.0
    results = [row[2] for row in good.rows()]
    assert results == ["PASS", "PASS", "SKIP"]

    bad = _report(2, 0.2)
    assert not bad.passed and bad.n_failed == 2
    assert bad.metrics()["bias_checks_failed"] == 2.0
    assert [row[2] for row in bad.rows()] == ["FAIL", "FAIL", "SKIP"]
    assert "trend" in bad.rows()[1][3]
    text = json.dumps(bad.to_dict())
    back = json.loads(text)
    assert back["passed"] is False and back["warmup"][0]["max_rel_diff"] == 0.2
    assert back["warmup"][1]["skipped"] is True


def test_json_has_no_nan() -> None:
    empty = BiasReport("X", "s", (), (WarmupReport("w", 5, 5, 0, 0.1, ()),))
    data = empty.to_dict()
    assert data["metrics"]["warmup_max_rel_diff"] is None
    json.dumps(data, allow_nan=False)


def test_app_settings_read_the_optional_block() -> None:
    cfg = OmegaConf.create({"seed": 3})
    expected = {"n_combos": 16, "n_cuts": 3, "extra_bars": 500, "tolerance": 0.05, "seed": 3}
    assert to_plain(bias_settings(cfg)) == expected
    cfg = OmegaConf.create({"seed": 3, "bias": {"n_combos": 4, "tolerance": 0.1}})
    settings = bias_settings(cfg)
    assert settings.n_combos == 4 and settings.tolerance == 0.1
    with pytest.raises(ConfigError, match=r"bias\.bogus"):
        bias_settings(OmegaConf.create({"seed": 0, "bias": {"bogus": 1}}))
    with pytest.raises(ConfigError, match=r"bias\.n_cuts"):
        bias_settings(OmegaConf.create({"seed": 0, "bias": {"n_cuts": 0}}))
    with pytest.raises(ConfigError, match=r"bias\.tolerance"):
        bias_settings(OmegaConf.create({"seed": 0, "bias": {"tolerance": "x"}}))
