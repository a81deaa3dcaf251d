"""PBO by CSCV: acceptance matrices, agreement with a brute-force reference, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import rankdata

from tradelab.robustness import (
    block_sums,
    equal_blocks,
    pbo_from_block_sums,
    pbo_from_returns,
    top_k_rows,
)
from tradelab.robustness.synthetic import planted_returns


def _zero_total_blocks(rng: np.random.Generator, n_cfg: int, n_blocks: int) -> np.ndarray:
    values = rng.normal(0.0, 1.0, (n_cfg, n_blocks))
    return values - values.mean(axis=1, keepdims=True)


def test_pbo_is_one_when_is_best_is_always_oos_worst_mean() -> None:
    # every configuration sums to zero over all blocks: the IS-best mean is the OOS-worst mean
    rng = np.random.default_rng(1)
    ret_sum = _zero_total_blocks(rng, 6, 8)
    res = pbo_from_block_sums(ret_sum, ret_sum**2, np.full(8, 5), metric="mean")
    assert res.pbo == 1.0
    assert res.n_splits == math.comb(8, 4)
    np.testing.assert_allclose(res.oos_perf, -res.is_perf, atol=1e-12)
    assert res.prob_oos_loss == np.mean(res.is_perf > 0)
    assert res.degradation_slope == pytest.approx(-1.0)
    assert np.all(res.logits == pytest.approx(math.log((1 / 7) / (6 / 7))))


def test_pbo_is_one_for_mirrored_sharpe_pair() -> None:
    # B = -A and A sums to zero: whichever wins IS has negative OOS Sharpe, the other positive
    rng = np.random.default_rng(2)
    n_obs = 320
    a = rng.normal(0.0, 0.01, n_obs)
    block_id = equal_blocks(n_obs, 16)
    for b in range(16):
        a[block_id == b] -= a[block_id == b].mean() - rng.normal(0.0, 0.002)
    a -= a.mean()
    res = pbo_from_returns(np.column_stack([a, -a]), n_blocks=16)
    assert res.n_splits == 12_870
    assert res.pbo == 1.0
    assert res.prob_oos_loss == 1.0


def test_pbo_is_zero_when_one_configuration_dominates() -> None:
    returns = planted_returns(800, 20, edge=0.01, n_edge=1, vol=0.01, seed=3)
    res = pbo_from_returns(returns, n_blocks=16)
    assert res.pbo == 0.0
    assert np.all(res.best == 0)
    assert res.prob_oos_loss == 0.0
    assert np.all(res.logits == pytest.approx(math.log(20 / 21 / (1 / 21))))


@pytest.mark.parametrize("metric", ["sharpe", "mean"])
def test_kernel_matches_brute_force(metric: str) -> None:
    rng = np.random.default_rng(4)
    n_obs, n_cfg, n_blocks = 240, 9, 8
    returns = rng.normal(0.0005, 0.01, (n_obs, n_cfg))
    returns[:, 3] += 0.001
    block_id = equal_blocks(n_obs, n_blocks)
    expected = []
    for is_blocks in itertools.combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.isin(block_id, is_blocks)
        halves = returns[is_rows], returns[~is_rows]
        if metric == "sharpe":
            perf_is, perf_oos = (h.mean(0) / h.std(0, ddof=1) for h in halves)
        else:
            perf_is, perf_oos = (h.mean(0) for h in halves)
        best = int(np.argmax(perf_is))
        omega = rankdata(perf_oos)[best] / (n_cfg + 1)
        expected.append((math.log(omega / (1 - omega)), perf_is[best], perf_oos[best]))
    exp = np.array(sorted(expected))
    res = pbo_from_returns(returns, n_blocks=n_blocks, metric=metric)
    got = np.array(sorted(zip(res.logits, res.is_perf, res.oos_perf)))
    np.testing.assert_allclose(got, exp, rtol=1e-9, atol=1e-12)
    assert res.pbo == pytest.approx(np.mean(exp[:, 0] <= 0))


def test_split_subset_is_drawn_from_the_full_set() -> None:
    returns = planted_returns(400, 12, edge=0.0005, n_edge=2, seed=5)
    full = pbo_from_returns(returns, n_blocks=12)
    part = pbo_from_returns(returns, n_blocks=12, max_splits=200, seed=9)
    assert part.n_splits == 200
    full_pairs = set(zip(np.round(full.is_perf, 12), np.round(full.oos_perf, 12)))
    assert set(zip(np.round(part.is_perf, 12), np.round(part.oos_perf, 12))) <= full_pairs
    again = pbo_from_returns(returns, n_blocks=12, max_splits=200, seed=9)
    assert np.array_equal(part.logits, again.logits)


def test_noise_gives_a_middling_pbo_and_an_edge_a_low_one() -> None:
    noise = pbo_from_returns(planted_returns(1000, 40, seed=6), n_blocks=10)
    edge = pbo_from_returns(planted_returns(1000, 40, edge=0.002, n_edge=3, seed=6), n_blocks=10)
    assert 0.2 < noise.pbo < 0.9
    assert edge.pbo < 0.1
    assert edge.pbo < noise.pbo


def test_block_sums_and_equal_blocks() -> None:
    rng = np.random.default_rng(7)
    returns = rng.normal(size=(103, 4))
    block_id = equal_blocks(103, 8)
    counts = np.bincount(block_id)
    assert counts.sum() == 103 and counts.max() - counts.min() <= 1
    assert np.all(np.diff(block_id) >= 0)
    block_id[:5] = -1
    s, q, n = block_sums(returns, block_id, 8)
    for b in range(8):
        rows = block_id == b
        np.testing.assert_allclose(s[:, b], returns[rows].sum(0))
        np.testing.assert_allclose(q[:, b], (returns[rows] ** 2).sum(0))
        assert n[b] == rows.sum()


def test_top_k_rows_orders_best_first_with_stable_ties() -> None:
    scores = np.array([1.0, 3.0, np.nan, 3.0, 2.0])
    assert top_k_rows(scores, 3).tolist() == [1, 3, 4]
    assert top_k_rows(scores, 10).tolist() == [1, 3, 4, 0, 2]


@pytest.mark.parametrize(
    ("ret_sum", "block_n", "match"),
    [
        (np.zeros((3, 7)), np.ones(7), "even"),
        (np.zeros((1, 8)), np.ones(8), "at least 2"),
        (np.zeros((3, 8)), np.ones(6), "block_n"),
        (np.full((3, 8), np.nan), np.ones(8), "finite"),
        (np.zeros((3, 8)), np.zeros(8), "at least one bar"),
    ],
)
def test_bad_block_sums_are_rejected(ret_sum: np.ndarray, block_n: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pbo_from_block_sums(ret_sum, np.abs(np.nan_to_num(ret_sum)), block_n)


def test_bad_metric_and_shapes_are_rejected() -> None:
    with pytest.raises(ValueError, match="metric"):
        pbo_from_block_sums(np.zeros((3, 4)), np.zeros((3, 4)), np.ones(4), metric="sortino")
    with pytest.raises(ValueError, match="differs"):
        pbo_from_block_sums(np.zeros((3, 4)), np.zeros((3, 6)), np.ones(4))
    with pytest.raises(ValueError, match="block_id"):
        block_sums(np.zeros((10, 2)), np.full(10, 9), 8)
