"""Search spaces of the forecast models (`model.search_space` in conf/model/*.yaml).

`top_k > 0` disables `top_p` upstream (Kronos), so the two are exclusive: `top_p` is only
suggested in trials whose `top_k` is 0, and recorded as None otherwise. Every `aggregate`
value is parsed up front so a typo fails before the study starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradelab.errors import ConfigError
from tradelab.forecast.aggregation import parse_aggregation
from tradelab.search import SearchSpace

__all__ = ["build_space", "make_suggest", "trial_params"]


def build_space(spec: Mapping[str, Any], tunable: Sequence[str]) -> SearchSpace:
    """Parse `model.search_space`, rejecting parameters the model does not tune."""
    unknown = sorted(set(spec) - set(tunable))
    if unknown:
        raise ConfigError(
            "model.search_space", f"unknown parameters {unknown}; tunable: {list(tunable)}"
        )
    try:
        space = SearchSpace.from_config(dict(spec))
    except ValueError as exc:
        raise ConfigError("model.search_space", str(exc)) from exc
    for dim in space.dimensions:
        if dim.name == "aggregate":
            if not dim.discrete:
                raise ConfigError("model.search_space.aggregate", "must be a list of methods")
            for value in dim.values or ():
                try:
                    parse_aggregation(str(value))
                except ValueError as exc:
                    raise ConfigError("model.search_space.aggregate", str(exc)) from exc
    return space


def make_suggest(space: SearchSpace) -> Callable[[Any], dict[str, Any]]:
    """Return `suggest(trial)` for `optimize_batched`, with `top_p` conditional on `top_k == 0`."""
    dims = {d.name: d for d in space.dimensions}
    conditional = "top_p" in dims and "top_k" in dims
    plain = SearchSpace([d for d in space.dimensions if not (conditional and d.name == "top_p")])

    def suggest(trial: Any) -> dict[str, Any]:
        params = plain.suggest(trial)
        if conditional:
            if int(params["top_k"]) == 0:
                params.update(SearchSpace([dims["top_p"]]).suggest(trial))
            else:
                params["top_p"] = None
        return params

    return suggest


def trial_params(defaults: Mapping[str, Any], suggested: Mapping[str, Any]) -> dict[str, Any]:
    """Merge a trial's suggestions over the model defaults (None stays: 'not used')."""
    params = dict(defaults)
    params.update(suggested)
    if int(params.get("top_k") or 0) > 0 and "top_p" in params:
        params["top_p"] = None
    return params
