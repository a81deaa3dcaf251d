"""What promotion needs to know about each family: objective, gate metrics, the production
config it writes and how its registered model predicts.

Families register themselves; the four built-in adapters are imported on first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml

from tradelab.promotion.rules import Candidate, Objective

__all__ = ["FAMILY_MODULES", "FamilySpec", "family", "param_value", "register_family"]

# family -> module defining and registering its adapter
FAMILY_MODULES = {
    "wfo": "tradelab.promotion.family_wfo",
    "kalman_residual": "tradelab.promotion.family_kalman",
    "kalman_pairs": "tradelab.promotion.family_kalman",
    "forecast": "tradelab.promotion.family_forecast",
}


@dataclass(frozen=True)
class FamilySpec:
    """A family's promotion adapter.

    `config(candidate, target)` returns the production configuration (plain data: what the
    registered model carries and what the production files are written from).
    `overlay(config, target)` returns the Hydra overlay written to
    `conf/production/<family>/<target>.yaml` (`tradelab-<app> +production=<family>/<target>`
    re-runs it). `seed_files(config, target)` returns the seeds' JSON files
    ({relative path under the production dir: object}). `predict(config, frame)` is what the
    registered pyfunc model answers for a bars frame. `report_bars(config, store)` returns the
    bars a report runs `predict` on to draw the champion's equity curve.
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
