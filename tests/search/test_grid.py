from __future__ import annotations

import itertools

import numpy as np
import pytest

from tradelab.search.grid import Grid


def test_decode_matches_itertools_product_order() -> None:
    grid = Grid.from_config(
        {"a": [1, 2], "b": {"min": 0.5, "max": 1.5, "step": 0.5}, "c": [10, 20, 30, 40]}
    )
    assert grid.size == 24
    decoded = grid.decode(np.arange(grid.size))
    expected = list(itertools.product([1, 2], [0.5, 1.0, 1.5], [10, 20, 30, 40]))
    got = list(zip(decoded["a"], decoded["b"], decoded["c"]))
    assert got == [tuple(float(x) for x in row) for row in expected]


def test_encode_inverts_digits(rng) -> None:
    grid = Grid.from_config({"a": list(range(7)), "b": list(range(3)), "c": list(range(11))})
    combos = rng.integers(0, grid.size, 100)
    assert np.array_equal(grid.encode(grid.digits(combos)), combos)


def test_large_grid_is_expressible_without_materialising() -> None:
    spec = {f"p{k}": list(range(v)) for k, v in enumerate([12, 11, 10, 9, 8, 7, 6, 3, 5])}
    grid = Grid.from_config(spec)
    assert grid.size == 12 * 11 * 10 * 9 * 8 * 7 * 6 * 3 * 5 > 58_000_000
    last = grid.decode(np.array([grid.size - 1]))
    assert all(last[f"p{k}"][0] == v - 1 for k, v in enumerate([12, 11, 10, 9, 8, 7, 6, 3, 5]))


def test_out_of_range_index_and_fingerprint() -> None:
    grid = Grid.from_config({"a": [1, 2]})
    with pytest.raises(IndexError):
        grid.decode(np.array([2]))
    assert grid.fingerprint() != Grid.from_config({"a": [1, 3]}).fingerprint()


def test_continuous_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="'a'"):
        Grid.from_config({"a": {"low": 0.1, "high": 0.2}})
