"""The `FamilySpec` contract: what every promotion family adapter must do.

A `FamilyCase` is an adapter with a candidate as the product tracks it (ideally found by
`find_candidates` after a tiny real run of the family's job) and bars to predict on. Each
check takes a case and fails with an `AssertionError`::

    @pytest.mark.parametrize("check", FAMILY_CHECKS, ids=check_id)
    def test_family_contract(check, case):
        check(case)

What the checks hold the adapter to: the production config is plain JSON data (numbers the
candidate logged stay numbers), the same on every call, and survives the registry's JSON
round trip unchanged in effect (the overlay and seed files written from the stored copy are
those written from the fresh one); the overlay
dumps as Hydra YAML; seed files are JSON under relative paths; `predict` answers with the
documented columns, one row per input bar (strategies) or per forecast step, without touching
its input; a strategy's last row is the position it holds now, as the answer on more bars holds
it at that bar; the input example a registered version carries is answered; the objective's
and gates' metrics are logged by the family's runs.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tradelab.promotion.families import FamilySpec, family
from tradelab.promotion.registry import plain_config
from tradelab.promotion.rules import GATE_KEYS, Candidate

__all__ = ["APPS", "FAMILY_CHECKS", "GATE_KEYS", "FamilyCase", "FamilyCheck", "check_id"]

APPS = ("ingest", "wfo", "tune", "analyze", "promote", "report")
"""The apps a production overlay can be re-run with (`tradelab-<app> +production=...`)."""

"""The gate keys `FamilySpec.metric_names` may map (see `tradelab.promotion.rules.decide`)."""


@dataclass(frozen=True)
class FamilyCase:
    """A family adapter, a candidate of that family, and bars its model predicts on.

    `columns`: the columns `predict` documents, in order. `rows`: None when `predict` answers
    one row per input bar with the input's index (strategies), else the number of rows
    (forecast steps).
    """

    spec: FamilySpec
    target: str
    candidate: Candidate
    frame: pd.DataFrame
    columns: tuple[str, ...]
    rows: int | None = None

    def __str__(self) -> str:
        return f"{self.spec.name}/{self.target}"


FamilyCheck = Callable[[FamilyCase], None]


def check_id(check: FamilyCheck) -> str:
    """Return a short test id for a check."""
    return check.__name__.removeprefix("check_")


def _plain_data_errors(value: Any, where: str = "config") -> list[str]:
    """Where `value` holds something other than dicts with str keys, lists and JSON scalars."""
    if value is None or isinstance(value, str | bool | int):
        return []
    if isinstance(value, float):
        return [] if math.isfinite(value) else [f"{where} = {value} (not finite)"]
    if isinstance(value, list):
        return [
            e for i, item in enumerate(value) for e in _plain_data_errors(item, f"{where}[{i}]")
        ]
    if isinstance(value, dict):
        errors = [f"{where}: key {k!r} is not a str" for k in value if not isinstance(k, str)]
        for key, item in value.items():
            errors += _plain_data_errors(item, f"{where}.{key}")
        return errors
    return [f"{where} is a {type(value).__name__}"]


def _yaml(obj: Any) -> str:
    return yaml.safe_dump(obj, sort_keys=False)


def _config(case: FamilyCase) -> dict[str, Any]:
    return case.spec.config(case.candidate, case.target)


# -- the checks ------------------------------------------------------------------------------
def check_family_is_registered(case: FamilyCase) -> None:
    """`family(name)` returns the adapter, and its re-run app exists."""
    try:
        registered = family(case.spec.name)
    except KeyError as exc:
        raise AssertionError(f"{case.spec.name} is not registered: {exc}") from exc
    assert registered is case.spec, f"{case.spec.name} is not the registered adapter"
    assert case.spec.app in APPS, f"app {case.spec.app!r} is not one of {APPS}"
    assert case.spec.report_bars is None or callable(case.spec.report_bars)


def check_objective_and_gate_metrics_are_logged(case: FamilyCase) -> None:
    """The objective, its tie-breakers and every mapped gate metric are in a real candidate."""
    spec, metrics = case.spec, case.candidate.metrics
    unknown = sorted(set(spec.metric_names) - set(GATE_KEYS))
    assert not unknown, f"metric_names maps unknown gate keys {unknown}; known: {GATE_KEYS}"
    wanted = [spec.objective.metric, *(name for name, _ in spec.objective.then)]
    wanted += list(spec.metric_names.values())
    missing = [name for name in wanted if name not in metrics]
    assert not missing, f"{case}: candidate has no {missing}; it logged {sorted(metrics)}"
    value = metrics[spec.objective.metric]
    assert not math.isnan(value), f"{case}: objective {spec.objective.metric} is NaN"


def check_config_is_plain_json_data(case: FamilyCase) -> None:
    """The production config is plain data: dicts with str keys, lists, finite JSON scalars."""
    config = _config(case)
    assert isinstance(config, dict), f"config is a {type(config).__name__}, not a dict"
    errors = _plain_data_errors(config)
    assert not errors, f"{case}: config is not plain JSON data: {errors[:5]}"
    assert json.loads(json.dumps(config)) == config


def _number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _leaves_named(value: Any, names: set[str], key: str = "") -> list[tuple[str, Any]]:
    """(key, value) of every leaf under a key in `names` (list items included)."""
    if isinstance(value, dict):
        return [leaf for k, v in value.items() for leaf in _leaves_named(v, names, str(k))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves_named(item, names, key)]
    return [(key, value)] if key in names else []


def check_numeric_params_stay_numbers(case: FamilyCase) -> None:
    """A parameter the candidate logged as a number is a number wherever the config uses it
    under its name (a tracker keeps params as text: `repr(1e-05)` is `'1e-05'`)."""
    numeric = {k for k, v in case.candidate.params.items() if _number(str(v))}
    wrong = [
        f"{key} = {value!r}"
        for key, value in _leaves_named(_config(case), numeric)
        if isinstance(value, str)
    ]
    assert not wrong, f"{case}: numbers logged as params came back as text: {wrong}"


def check_config_is_deterministic_and_leaves_the_candidate_alone(case: FamilyCase) -> None:
    """Two calls give the same config (promotion is idempotent); the candidate is not changed."""
    before = copy.deepcopy((dict(case.candidate.params), dict(case.candidate.context)))
    first, second = _config(case), _config(case)
    assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)
    assert (dict(case.candidate.params), dict(case.candidate.context)) == before


def check_overlay_is_hydra_yaml(case: FamilyCase) -> None:
    """The overlay dumps as YAML, reads back equal, and its `defaults` is a Hydra list."""
    overlay = case.spec.overlay(_config(case), case.target)
    assert isinstance(overlay, Mapping), f"overlay is a {type(overlay).__name__}"
    assert all(isinstance(k, str) for k in overlay), "overlay keys must be str"
    text = _yaml(dict(overlay))  # raises for tuples, objects, ...
    assert yaml.safe_load(text) == dict(overlay)
    defaults = overlay.get("defaults", [])
    assert isinstance(defaults, list), "overlay defaults must be a list"
    for entry in defaults:
        assert isinstance(entry, str) or (isinstance(entry, dict) and len(entry) == 1), entry


def check_seed_files_are_json_under_relative_paths(case: FamilyCase) -> None:
    """Seed files map relative POSIX paths (inside the production folder) to JSON objects."""
    files = case.spec.seed_files(_config(case), case.target)
    assert isinstance(files, Mapping), f"seed_files is a {type(files).__name__}"
    for rel, obj in files.items():
        path = PurePosixPath(rel)
        assert isinstance(rel, str) and not path.is_absolute() and ".." not in path.parts, rel
        assert path.suffix == ".json", f"seed file {rel} is not a .json file"
        text = json.dumps(obj, indent=4)  # what write_production_files does
        assert json.loads(text) == json.loads(json.dumps(obj)), rel


def check_registry_round_trip_writes_the_same_files(case: FamilyCase) -> None:
    """The config as the registry returns it (JSON) gives the same overlay and seed files."""
    fresh = _config(case)
    stored = plain_config(fresh)
    spec, target = case.spec, case.target
    assert _yaml(dict(spec.overlay(stored, target))) == _yaml(dict(spec.overlay(fresh, target)))
    assert json.dumps(spec.seed_files(stored, target), sort_keys=True) == json.dumps(
        spec.seed_files(fresh, target), sort_keys=True
    )


def check_predict_answers_with_the_documented_columns(case: FamilyCase) -> None:
    """`predict` on the stored config: a DataFrame with the documented columns and rows, the
    same on a second call, and the input frame untouched."""
    config = plain_config(_config(case))
    frame = case.frame.copy(deep=True)
    out = case.spec.predict(config, frame)
    assert isinstance(out, pd.DataFrame), f"predict returned a {type(out).__name__}"
    assert tuple(out.columns) == case.columns, f"{case}: columns {list(out.columns)}"
    if case.rows is None:
        assert out.index.equals(case.frame.index), f"{case}: not indexed like the input"
    else:
        assert len(out) == case.rows, f"{case}: {len(out)} rows, expected {case.rows}"
    pd.testing.assert_frame_equal(frame, case.frame)
    pd.testing.assert_frame_equal(out, case.spec.predict(config, frame))


def _held_bars(out: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return (out[columns].to_numpy(dtype=float) != 0.0).any(axis=1)


def check_predict_answers_what_is_held_now(case: FamilyCase) -> None:
    """Strategies: the last row of `predict` on the bars up to a bar holds what the answer on
    all bars holds at that bar (the position held after it: the fill bar counts, the exit bar
    does not, a trade still open at the last bar shows), at the last entry, the last bar held
    before the end and the last exit; the case's bars must hold a position somewhere."""
    if case.rows is not None:
        return  # forecasts answer per step, not per bar
    config = plain_config(_config(case))
    full = case.spec.predict(config, case.frame)
    columns = [c for c in full.columns if c.startswith("position")]
    assert columns, f"{case}: predict answers no position column: {list(full.columns)}"
    held = _held_bars(full, columns)
    assert held[:-1].any(), f"{case}: no position held before the last bar; use bars it trades"
    before = np.concatenate([[False], held[:-1]])
    cuts = {
        int(np.flatnonzero(held & ~before)[-1]),
        int(np.flatnonzero(held[:-1])[-1]),
        *(int(t) for t in np.flatnonzero(~held & before)[-1:]),
    }
    for cut in sorted(cuts):
        prefix = case.spec.predict(config, case.frame.iloc[: cut + 1])
        now, then = prefix[columns].iloc[-1], full[columns].iloc[cut]
        assert now.tolist() == then.tolist(), (
            f"{case}: on the bars up to row {cut} predict holds {now.to_dict()} at the last bar; "
            f"on all bars it holds {then.to_dict()} there"
        )


def check_input_example_is_answered(case: FamilyCase) -> None:
    """The input example a registered version carries (when the family gives one) requires
    only columns the case's bars have, lists its optional columns, and `predict` answers it with
    the documented columns (the version's signature is inferred from that answer)."""
    if case.spec.example is None:
        return
    config = plain_config(_config(case))
    example = case.spec.example(config)
    frame = example.frame
    assert isinstance(frame, pd.DataFrame) and len(frame) > 0, f"{case}: empty input example"
    assert "timestamp" in frame.columns, f"{case}: the input example has no timestamp column"
    extra = sorted(set(example.optional) - set(frame.columns))
    assert not extra, f"{case}: optional columns {extra} are not in the input example"
    missing = sorted(set(frame.columns) - set(example.optional) - set(case.frame.columns))
    assert not missing, f"{case}: the input example requires columns {missing} the bars lack"
    out = case.spec.predict(config, frame.copy())
    assert tuple(out.columns) == case.columns, f"{case}: example answered {list(out.columns)}"


FAMILY_CHECKS: tuple[FamilyCheck, ...] = (
    check_family_is_registered,
    check_objective_and_gate_metrics_are_logged,
    check_config_is_plain_json_data,
    check_numeric_params_stay_numbers,
    check_config_is_deterministic_and_leaves_the_candidate_alone,
    check_overlay_is_hydra_yaml,
    check_seed_files_are_json_under_relative_paths,
    check_registry_round_trip_writes_the_same_files,
    check_predict_answers_with_the_documented_columns,
    check_predict_answers_what_is_held_now,
    check_input_example_is_answered,
)
"""Every check of the family contract, in order."""
