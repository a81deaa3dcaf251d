"""Parameter columns for the batched strategy kernels: one float array per searchable name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

__all__ = ["param_arrays"]


def param_arrays(
    strategy: str,
    columns: Mapping[str, object],
    defaults: Mapping[str, object] | None,
    *,
    searchable: Iterable[str],
    base: Mapping[str, float],
) -> tuple[int, dict[str, np.ndarray]]:
    """Return `(n_sets, {name: float64[n_sets]})` for every searchable parameter.

    `columns` holds the searched values (equal lengths); a name it lacks takes its value from
    `defaults`, then from `base`. A column that is not searchable, or columns of different
    lengths, raise ValueError naming the strategy and the parameter.
    """
    names = tuple(searchable)
    unknown = sorted(set(columns) - set(names))
    if unknown:
        raise ValueError(
            f"{strategy} parameter '{unknown[0]}' cannot be searched; searchable: {sorted(names)}"
        )
    arrays = {k: np.atleast_1d(np.asarray(v, dtype=np.float64)) for k, v in columns.items()}
    sizes = {a.shape[0] for a in arrays.values()}
    if len(sizes) > 1:
        raise ValueError(f"{strategy} parameter columns differ in length: {sorted(sizes)}")
    n_sets = sizes.pop() if sizes else 1
    fixed = {**base, **{k: v for k, v in (defaults or {}).items() if k in names}}
    full = {k: arrays.get(k, np.full(n_sets, float(fixed[k]))) for k in names}  # type: ignore[arg-type]
    return n_sets, full
