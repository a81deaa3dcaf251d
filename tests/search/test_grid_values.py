"""Grid.encode_values: parameter values back to combination indices."""

from __future__ import annotations

import numpy as np
import pytest

from tradelab.search.grid import Grid


def test_encode_values_inverts_decode(rng) -> None:
    grid = Grid.from_config(
        {"a": [1, 2, 3], "b": {"min": 0.1, "max": 0.5, "step": 0.1}, "c": [10, 20]}
    )
    combos = rng.integers(0, grid.size, 50)
    np.testing.assert_array_equal(grid.encode_values(grid.decode(combos)), combos)
    one = grid.encode_values({"a": 2, "b": 0.30000000000000004, "c": 20})
    assert one.tolist() == [grid.encode(np.array([[1, 2, 1]]))[0]]


def test_encode_values_rejects_off_grid_and_missing() -> None:
    grid = Grid.from_config({"a": [1, 2, 3], "b": [0.5, 1.0]})
    with pytest.raises(ValueError, match="'b'"):
        grid.encode_values({"a": [1], "b": [0.75]})
    with pytest.raises(KeyError, match="'b'"):
        grid.encode_values({"a": [1]})
