"""What promotion needs to know about each family: objective, gate metrics, the production
config it writes and how its registered model predicts.

Families register themselves; the four built-in adapters are imported on first use.
`check_bars` is the input check every family's `predict` runs first; `example_bars` builds the
synthetic bars a registered version shows as its input example.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tradelab.data.bars import EXCHANGE_TZ
from tradelab.data.calendar import SESSION_CLOSE, SESSION_OPEN, sessions
from tradelab.errors import DataValidationError
from tradelab.promotion.rules import Candidate, Objective

__all__ = [
    "FAMILY_MODULES",
    "FamilySpec",
    "InputExample",
    "check_bars",
    "example_bars",
    "family",
    "param_value",
    "register_family",
]

# family -> module defining and registering its adapter
FAMILY_MODULES = {
    "wfo": "tradelab.promotion.family_wfo",
    "kalman_residual": "tradelab.promotion.family_kalman",
    "kalman_pairs": "tradelab.promotion.family_kalman",
    "forecast": "tradelab.promotion.family_forecast",
}


@dataclass(frozen=True)
class InputExample:
    """Bars a registered model is shown with: every column its `predict` reads and enough bars
    to answer (the warmup and a few more). `optional`: columns it can do without."""

    frame: pd.DataFrame
    optional: tuple[str, ...] = ()


@dataclass(frozen=True)
class FamilySpec:
    """A family's promotion adapter.

    `config(candidate, target)` returns the production configuration (plain data: what the
    registered model carries and what the production files are written from).
    `overlay(config, target)` returns the Hydra overlay written to
    `conf/production/<family>/<target>.yaml` (`tradelab-<app> +production=<family>/<target>`
    re-runs it). `seed_files(config, target)` returns the seeds' JSON files
    ({relative path under the production dir: object}). `predict(config, frame)` is what the
    registered pyfunc model answers for a bars frame: strategies answer, for each bar, the
    position held after it (a trade still open at the last bar included). `report_bars(config,
    store)` returns the bars a report runs `predict` on to draw the champion's equity curve.
    `example(config)` returns the input example a registered version carries (its signature is
    inferred from it and from `predict`'s answer); None: versions carry neither.
    `baseline(candidate)` names the reference a candidate is (a forecast baseline such as
    zero_return), None for a real model: baselines compete only with `allow_baselines`.
    `reference_baseline`: (name, what it is) of the baseline a model must beat before anything
    else (the forecasts' `("zero_return", "the random walk")`); a refusal names it.
    `model_kind`: what a registered version is (`strategy`, `forecaster`; a baseline is
    `baseline` whatever the family), its tag `kind`.
    """

    name: str
    objective: Objective
    config: Callable[[Candidate, str], dict[str, Any]]
    overlay: Callable[[Mapping[str, Any], str], dict[str, Any]]
    predict: Callable[[Mapping[str, Any], pd.DataFrame], pd.DataFrame]
    seed_files: Callable[[Mapping[str, Any], str], dict[str, Any]] = lambda config, target: {}
    metric_names: Mapping[str, str] = field(default_factory=dict)
    app: str = "tune"
    # bars the champion is shown on in reports: (config, store) -> frame for `predict`
    report_bars: Callable[[Mapping[str, Any], Any], pd.DataFrame] | None = None
    example: Callable[[Mapping[str, Any]], InputExample] | None = None
    baseline: Callable[[Candidate], str | None] = lambda candidate: None
    reference_baseline: tuple[str, str] | None = None
    model_kind: str = "strategy"


def param_value(text: Any) -> Any:
    """Read back a parameter a tracker stored as text: numbers as numbers (`repr(1e-05)` is
    '1e-05', which YAML would keep as a string), then YAML (booleans, lists, null), else text."""
    if not isinstance(text, str):
        return text
    for parse in (int, float):
        try:
            return parse(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


_FAMILIES: dict[str, FamilySpec] = {}


def register_family(spec: FamilySpec) -> FamilySpec:
    """Make `spec` available to promotion and to the registered models."""
    _FAMILIES[spec.name] = spec
    return spec


def family(name: str) -> FamilySpec:
    """Return the adapter of family `name` (importing the built-in one when needed)."""
    if name not in _FAMILIES and name in FAMILY_MODULES:
        try:
            importlib.import_module(FAMILY_MODULES[name])
        except ModuleNotFoundError as exc:
            if exc.name != FAMILY_MODULES[name]:
                raise
            raise KeyError(f"family {name!r} has no promotion adapter in this version") from exc
    if name not in _FAMILIES:
        known = sorted(set(_FAMILIES) | set(FAMILY_MODULES))
        raise KeyError(f"unknown family {name!r}; known: {known}")
    return _FAMILIES[name]


# -- what every predict checks first ------------------------------------------------------------
def _timestamps(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """The `timestamp` column as UTC times (naive times are taken as UTC, text is parsed)."""
    try:
        times = pd.DatetimeIndex(pd.to_datetime(frame["timestamp"], utc=True))
    except (TypeError, ValueError) as exc:
        raise DataValidationError(f"cannot read the bar times: {exc}", field="timestamp") from exc
    missing = np.flatnonzero(times.isna())
    if missing.size:
        raise DataValidationError("bar time is missing", row=int(missing[0]), field="timestamp")
    return times.as_unit("ns")


def _check_order(times: pd.DatetimeIndex) -> None:
    steps = np.diff(times.asi8)
    bad = np.flatnonzero(steps <= 0)
    if not bad.size:
        return
    row = int(bad[0]) + 1
    if steps[bad[0]] == 0:
        message = f"duplicate bar time {times[row]} (rows {row - 1} and {row}): one row per bar"
    else:
        message = (
            f"bar times must increase: {times[row]} is earlier than {times[row - 1]} "
            f"(row {row - 1}); sort the bars by time"
        )
    raise DataValidationError(message, row=row, field="timestamp")


def check_bars(
    frame: Any, prices: Sequence[str], *, min_bars: int, model: str, why: str
) -> pd.DatetimeIndex:
    """Check a model's input bars and return their times (UTC); raise `DataValidationError`
    naming the column or row when a column of `prices` (or `timestamp`) is missing, a price is
    not finite and positive, times are unsorted or repeated, or there are fewer than
    `min_bars` bars (`why` says what they are needed for)."""
    if not isinstance(frame, pd.DataFrame):
        raise DataValidationError(f"{model} model: expected a bars DataFrame, got {type(frame)}")
    needed = ["timestamp", *prices]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{model} model: the bars lack column(s) {missing}; it needs {needed}",
            field=missing[0],
        )
    times = _timestamps(frame)
    _check_order(times)
    for name in prices:
        try:
            values = frame[name].to_numpy(dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise DataValidationError(f"not a number: {exc}", field=name) from exc
        bad = np.flatnonzero(~np.isfinite(values) | (values <= 0.0))
        if bad.size:
            raise DataValidationError(
                f"price {values[bad[0]]!r} is not finite and positive", row=int(bad[0]), field=name
            )
    if len(frame) < min_bars:
        raise DataValidationError(
            f"{model} model needs at least {min_bars} bars ({why}), got {len(frame)}",
            field="timestamp",
        )
    return times


# -- input examples ---------------------------------------------------------------------------
_EXAMPLE_END = pd.Timestamp("2025-12-31")


def _example_times(n: int, minutes: int | None) -> pd.DatetimeIndex:
    """The last `n` bar times up to the end of 2025: daily bars at midnight New York of each
    session (the store's convention), or `minutes`-minute bars of the regular sessions."""
    if minutes is None:
        offsets = [pd.Timedelta(0)]
    else:
        per_day = max(1, (SESSION_CLOSE - SESSION_OPEN) // pd.Timedelta(minutes=minutes))
        offsets = [SESSION_OPEN + k * pd.Timedelta(minutes=minutes) for k in range(per_day)]
    n_days = -(-n // len(offsets))
    days = sessions(_EXAMPLE_END - pd.Timedelta(days=2 * n_days + 10), _EXAMPLE_END)[-n_days:]
    local = pd.DatetimeIndex([day + offset for day in days for offset in offsets])
    return local[-n:].tz_localize(EXCHANGE_TZ).tz_convert("UTC").as_unit("ns")


def example_bars(
    n: int, *, minutes: int | None = None, names: Sequence[str] = ("",), seed: int = 0
) -> pd.DataFrame:
    """Return `n` synthetic OHLCV bars (a seeded random walk from 100) with columns `open`,
    `high`, `low`, `close`, `volume`, suffixed `_<name>` for each of `names` ('' for none)."""
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({"timestamp": _example_times(n, minutes)})
    for name in names:
        close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
        open_ = np.concatenate([[100.0], close[:-1]])
        cols = {
            "open": open_,
            "high": np.maximum(open_, close) * 1.004,
            "low": np.minimum(open_, close) * 0.996,
            "close": close,
            "volume": np.full(n, 1e6),
        }
        for col, values in cols.items():
            out[f"{col}_{name}" if name else col] = values
    return out
