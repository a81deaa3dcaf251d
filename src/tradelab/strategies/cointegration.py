"""Engle-Granger screening of every pair in a universe, and top non-overlapping pair choice.

`closes` is a (date x ticker) frame of prices. Each pair (asset_1, asset_2), in column order,
is tested on the dates both have: statsmodels' `coint(asset_1, asset_2)` (constant trend,
lag order by AIC) gives the t statistic, p-value and 1/5/10% critical values; an OLS fit
asset_1 = intercept + hedge_ratio * asset_2 gives the starting hedge ratio.
"""

from __future__ import annotations

import itertools
import logging
import warnings

import numpy as np
import pandas as pd

from tradelab.errors import DataValidationError

__all__ = ["SCREEN_COLUMNS", "engle_granger", "ols_hedge_ratio", "screen_pairs", "select_pairs"]

log = logging.getLogger(__name__)

SCREEN_COLUMNS = [
    "asset_1",
    "asset_2",
    "corr",
    "pvalue",
    "coint_t",
    "crit_1pct",
    "crit_5pct",
    "crit_10pct",
    "hedge_ratio",
    "intercept",
    "n_obs",
]


def ols_hedge_ratio(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """Return (hedge_ratio, intercept) of the OLS fit a = intercept + hedge_ratio * b."""
    x = np.asarray(b, dtype=np.float64)
    design = np.column_stack([np.ones_like(x), x])
    (intercept, slope), *_ = np.linalg.lstsq(design, np.asarray(a, dtype=np.float64), rcond=None)
    return float(slope), float(intercept)


def engle_granger(a: pd.Series, b: pd.Series) -> dict[str, float]:
    """Test one pair on its common dates; return the screening row's numbers."""
    from statsmodels.tsa.stattools import coint

    joined = pd.concat([a, b], axis=1, join="inner").dropna()
    y = joined.iloc[:, 0].to_numpy(dtype=np.float64)
    x = joined.iloc[:, 1].to_numpy(dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_stat, pvalue, crit = coint(y, x)
    slope, intercept = ols_hedge_ratio(y, x)
    return {
        "corr": float(np.corrcoef(y, x)[0, 1]),
        "pvalue": float(pvalue),
        "coint_t": float(t_stat),
        "crit_1pct": float(crit[0]),
        "crit_5pct": float(crit[1]),
        "crit_10pct": float(crit[2]),
        "hedge_ratio": float(slope),
        "intercept": float(intercept),
        "n_obs": len(joined),
    }


def screen_pairs(
    closes: pd.DataFrame, *, pvalue_max: float | None = 0.05, min_obs: int = 60
) -> pd.DataFrame:
    """Test every pair of columns; keep p-values below `pvalue_max` (None: all), best first."""
    if not isinstance(closes, pd.DataFrame) or closes.shape[1] < 2:
        raise DataValidationError("screening needs a (date x ticker) frame with 2+ tickers")
    rows = []
    for first, second in itertools.combinations(list(closes.columns), 2):
        pair = closes[[first, second]].dropna()
        if len(pair) < min_obs:
            continue
        if pair[first].nunique() < 2 or pair[second].nunique() < 2:
            log.warning("skipping %s-%s: a constant price series", first, second)
            continue
        try:
            stats = engle_granger(pair[first], pair[second])
        except (ValueError, np.linalg.LinAlgError) as exc:
            log.warning("skipping %s-%s: %s", first, second, exc)
            continue
        rows.append({"asset_1": str(first), "asset_2": str(second), **stats})
    table = pd.DataFrame(rows, columns=SCREEN_COLUMNS)
    if pvalue_max is not None:
        table = table[table["pvalue"] < pvalue_max]
    table = table.sort_values("pvalue", kind="stable").reset_index(drop=True)
    table["n_obs"] = table["n_obs"].astype(np.int64)
    return table


def select_pairs(
    screened: pd.DataFrame, max_pairs: int = 3, sort_by: str | None = "pvalue"
) -> pd.DataFrame:
    """Pick up to `max_pairs` pairs sharing no ticker, best first by p-value or correlation."""
    key = getattr(sort_by, "value", sort_by)
    if key == "pvalue":
        ordered = screened.sort_values("pvalue", ascending=True, kind="stable")
    elif key == "corr":
        ordered = screened.sort_values("corr", ascending=False, kind="stable")
    elif key is None:
        ordered = screened
    else:
        raise ValueError(f"sort_by: unknown {sort_by!r}; use 'pvalue', 'corr' or None")
    used: set[str] = set()
    keep = []
    for idx, row in ordered.iterrows():
        if len(keep) >= max_pairs:
            break
        if row["asset_1"] in used or row["asset_2"] in used:
            continue
        keep.append(idx)
        used.update((row["asset_1"], row["asset_2"]))
    return ordered.loc[keep].reset_index(drop=True)
