"""Registered models as a user loads them: a tiny real run of each family logged to MLflow, a
real promotion into the model registry, then `mlflow.pyfunc.load_model("models:/...@champion")`
in a fresh process.

Strategy models answer the position held after each bar; on bars that end inside a trade the
answer equals, at every bar, what the simulation wrapped by the model holds (run here on the
version's stored config), the open trade included. Forecasts are stamped on the next trading
session. Every version carries a signature and an input example that passes MLflow's serving
check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tradelab.promotion import Gates, MlflowRegistry, promote_target
from tradelab.settings import from_plain
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .test_family_contract import BUILDERS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:provider=hydra.searchpath:UserWarning"),
]

FAMILIES = ("wfo", "kalman_residual", "kalman_pairs", "forecast")
STRATEGIES = FAMILIES[:3]
REQUIRED = {
    "wfo": ["timestamp", "open", "high", "low", "close"],
    "kalman_residual": ["timestamp", "close"],
    "forecast": ["timestamp", "close"],
}

FRESH = """
import json, sys, warnings
import mlflow, pandas as pd
from mlflow.models import get_model_info
from mlflow.models.utils import validate_serving_input

uri, jobs = sys.argv[1], json.loads(sys.argv[2])
mlflow.set_tracking_uri(uri)
answers = {}
for family, target, path in jobs:
    model_uri = f"models:/tradelab.{family}.{target}@champion"
    model = mlflow.pyfunc.load_model(model_uri)
    bars = pd.read_parquet(path)
    out = model.predict(bars)
    try:
        model.predict(bars.iloc[:3])
        refused = None
    except Exception as exc:
        refused = type(exc).__name__
    local = mlflow.artifacts.download_artifacts(model_uri)
    try:
        with open(f"{local}/serving_input_example.json") as f:
            serving = f.read()
    except FileNotFoundError:
        serving = '{"dataframe_split": {"data": []}}'
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        served = validate_serving_input(model_uri, serving) if "columns" in serving else []
    signature = get_model_info(model_uri).signature
    inputs = signature.inputs.inputs if signature is not None else []
    answers[family] = {
        "columns": list(out.columns),
        "positions": out.filter(like="position").to_numpy().tolist(),
        "timestamps": [t.isoformat() for t in pd.to_datetime(out["timestamp"], utc=True)],
        "refused": refused,
        "inputs": [[c.name, c.to_dict()["type"], c.required] for c in inputs],
        "served_rows": len(served),
        "example_rows": len(json.loads(serving)["dataframe_split"]["data"]),
    }
print(json.dumps(answers))
"""


# -- what the simulations hold (the oracle) ----------------------------------------------------
# Each runs the simulation the model wraps on all of a case's bars and reads what it holds
# after each bar from its own record of closed trades (WFO, residual) or fills (pairs); bars cut
# inside a trade that closes later hold, up to the cut, what these say (the rules are causal).
def _wfo_held(config: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    from tradelab.wfo import Phase, WfoData, simulate_reference, strategy_from_config
    from tradelab.wfo.settings import StrategyConfig

    spec = strategy_from_config(from_plain(StrategyConfig, config["strategy"], "strategy"))
    warmup, n = int(config["phases"]["warmup_bars"]), len(frame)
    times = pd.DatetimeIndex(frame["timestamp"]).tz_localize(None).to_numpy("datetime64[ns]")
    prices = (frame[c].to_numpy() for c in ("open", "high", "low", "close"))
    run = simulate_reference(
        WfoData(times, *prices), spec, config["params"], Phase("p", 0, warmup, n - 1, n - 1)
    )
    return _held(n, run.trades["entry_bar"], run.trades["exit_bar"], run.trades["direction"])


def _residual_held(config: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    from tradelab.strategies.residual import SEARCHABLE, ResidualSettings, backtest_residual

    s = config["settings"]
    settings = ResidualSettings(
        initial_capital=float(s["initial_capital"]),
        warmup_bars=int(s["warmup_bars"]),
        z_lookback=int(s["z_lookback"]),
        trail_activation_pct=float(s["trail_activation_pct"]),
        backend="numpy",
    )
    params = {k: float(v) for k, v in config["params"].items() if k in SEARCHABLE}
    trades = backtest_residual(frame["close"].to_numpy(), params, settings).trades
    closed = trades[trades["reason"] != "end_of_data"]
    return _held(len(frame), closed["entry_bar"], closed["exit_bar"], closed["side"])


def _pairs_held(config: dict[str, Any], frame: pd.DataFrame) -> np.ndarray:
    from tradelab.strategies.pairs import PairData, backtest_pair

    a, b = config["asset_1"], config["asset_2"]
    times = pd.DatetimeIndex(frame["timestamp"])

    def leg(column: str) -> pd.Series:
        return pd.Series(frame[column].to_numpy(), index=times, name=column.split("_")[-1])

    data = PairData.from_series(
        leg(f"close_{a}"), leg(f"close_{b}"), open_a=leg(f"open_{a}"), open_b=leg(f"open_{b}")
    )
    beta0, fill = float(config["hedge_ratio"]), config["study"]["fill"]
    fills = backtest_pair(data, config["params"], beta0=beta0, backend="numpy", fill=fill).fills
    shares = np.zeros((len(frame), 2))
    for row in fills.itertuples(index=False):
        shares[row.bar :, row.leg] += row.size
    return shares


def _held(n: int, entries: Any, exits: Any, sides: Any) -> np.ndarray:
    """Direction held after each bar: from the entry bar up to, not including, the exit bar."""
    out = np.zeros((n, 1))
    for entry, exit_, side in zip(entries, exits, sides):
        out[int(entry) : int(exit_), 0] = np.sign(side)
    return out


HELD = {"wfo": _wfo_held, "kalman_residual": _residual_held, "kalman_pairs": _pairs_held}


def _cut_inside_a_trade(name: str, config: dict[str, Any], frame: pd.DataFrame) -> int:
    """The last bar after which a trade is held and still held a bar later."""
    held = (HELD[name](config, frame) != 0.0).any(axis=1)
    cuts = np.flatnonzero(held[:-1] & held[1:])
    assert cuts.size, f"{name}: the tiny run's champion never holds a trade on these bars"
    return int(cuts[-1])


def _forecast_bars() -> pd.DataFrame:
    """Daily bars at the US close (20:00 UTC) ending Thursday 2026-07-02 (07-03 is a holiday)."""
    days = pd.bdate_range(end="2026-07-02", periods=120)
    close = 100.0 * np.exp(np.cumsum(np.random.default_rng(5).normal(0, 0.01, len(days))))
    stamps = (days + pd.Timedelta(hours=20)).tz_localize("UTC")
    return pd.DataFrame({"timestamp": stamps, "close": close})


# -- the module's one promotion of each family ------------------------------------------------
def _load_in_a_fresh_process(uri: str, jobs: list[list[str]], cwd: Path) -> dict[str, Any]:
    """What `FRESH` answers for `jobs` ([family, target, bars file]) against the store `uri`."""
    fresh = subprocess.run(
        [sys.executable, "-c", FRESH, uri, json.dumps(jobs)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    return json.loads(fresh.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def promoted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("registered")
    tracker = MlflowTracker(f"sqlite:///{root}/mlflow.db", root / "artifacts")
    registry = MlflowRegistry.for_tracker(tracker)
    jobs, configs, bars, expected, versions = [], {}, {}, {}, {}
    for name in FAMILIES:
        case = BUILDERS[name](root / name, tracker=tracker)
        result = promote_target(
            case.spec,
            case.target,
            tracker=tracker,
            registry=registry,
            gates=Gates(),
            conf_dir=root / "conf_production",
            production_dir=root / "production",
            allow_baselines=name == "forecast",  # the tiny forecast sweep tunes baselines only
        )
        assert result.decision.promote and result.champion is not None, result.decision.reason
        configs[name] = registry.config_of(name, case.target, result.champion)
        mv = registry.client.get_model_version(registry.name(name, case.target), result.champion)
        source = str(mv.source)  # models:/<logged model id>
        logged = (
            registry.client.get_logged_model(source.removeprefix("models:/"))
            if source.startswith("models:/")
            else None
        )
        outputs = tracker.client.get_run(mv.run_id).outputs
        versions[name] = {
            "version": mv,
            "logged": logged,
            "run_outputs": [o.model_id for o in (outputs.model_outputs if outputs else [])],
        }
        if name == "forecast":
            frame = _forecast_bars()
        else:
            cut = _cut_inside_a_trade(name, configs[name], case.frame)
            expected[name] = HELD[name](configs[name], case.frame)[: cut + 1]
            frame = case.frame.iloc[: cut + 1].reset_index(drop=True)
        bars[name] = frame
        path = root / f"{name}.parquet"
        frame.to_parquet(path)
        jobs.append([name, case.target, str(path)])
    answers = _load_in_a_fresh_process(tracker.uri, jobs, root)
    return {
        "root": root,
        "jobs": jobs,
        "answers": answers,
        "configs": configs,
        "bars": bars,
        "expected": expected,
        "versions": versions,
    }


@pytest.mark.parametrize("name", STRATEGIES)
def test_registered_model_holds_what_the_simulation_holds(name: str, promoted) -> None:
    answer, frame = promoted["answers"][name], promoted["bars"][name]
    expected = promoted["expected"][name]
    assert (expected[-1] != 0.0).all(), "the bars end inside a trade"
    np.testing.assert_array_equal(np.asarray(answer["positions"]), expected)
    times = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC")
    assert answer["timestamps"] == [t.isoformat() for t in times]


def test_registered_forecast_is_stamped_on_the_next_session(promoted) -> None:
    answer = promoted["answers"]["forecast"]
    horizon = int(promoted["configs"]["forecast"]["study"]["horizon"])
    sessions = ["2026-07-06", "2026-07-07", "2026-07-08", "2026-07-09", "2026-07-10"]
    assert horizon <= len(sessions)
    assert answer["timestamps"] == [f"{d}T20:00:00+00:00" for d in sessions[:horizon]]


@pytest.mark.parametrize("name", FAMILIES)
def test_registered_version_carries_a_signature_and_an_input_example(name: str, promoted) -> None:
    answer, config = promoted["answers"][name], promoted["configs"][name]
    inputs = {col: (kind, required) for col, kind, required in answer["inputs"]}
    if name == "kalman_pairs":
        required = ["timestamp", f"close_{config['asset_1']}", f"close_{config['asset_2']}"]
    else:
        required = REQUIRED[name]
    assert [col for col, (_, needed) in inputs.items() if needed] == required
    assert inputs["timestamp"][0] == "any"
    assert all(kind == "double" for col, (kind, _) in inputs.items() if col != "timestamp")
    assert answer["served_rows"] > 0 and answer["example_rows"] > 0
    if name in STRATEGIES:
        assert answer["served_rows"] == answer["example_rows"]  # one row per example bar
        assert answer["refused"] == "DataValidationError"  # 3 bars: too few for the warmup


@pytest.mark.parametrize("name", FAMILIES)
def test_registered_version_is_a_logged_model_of_its_decision_run(name: str, promoted) -> None:
    """The version links to an MLflow logged model (the run's Models tab) that its promotion
    decision run output; its description and `kind` tag say what it is and which gates it
    passed."""
    found = promoted["versions"][name]
    version, logged = found["version"], found["logged"]
    assert logged is not None, "the version has no logged model"
    assert str(logged.status).endswith("READY") and logged.source_run_id == version.run_id
    assert found["run_outputs"] == [logged.model_id]
    kind = "baseline" if name == "forecast" else "strategy"  # the tiny forecast: baselines only
    assert version.tags["kind"] == logged.tags["kind"] == kind
    assert "Gates passed:" in version.description and version.tags["source_run"] in (
        version.description
    )


def test_a_moved_store_relocated_still_loads_its_registered_models(promoted, tmp_path) -> None:
    """The store (database and artifacts) copied elsewhere, the original out of the way: after
    `relocate`, every record names the new folder and each champion loads and answers as
    before from there."""
    import shutil
    import sqlite3

    root = promoted["root"]
    moved = tmp_path / "moved"
    shutil.copytree(root, moved)
    away = root.with_name(root.name + "-away")
    root.rename(away)
    try:
        tracker = MlflowTracker(f"sqlite:///{moved}/mlflow.db", moved / "artifacts")
        (move,) = tracker.relocate()
        assert move.old == (root / "artifacts").as_uri() and set(FAMILIES) <= set(move.experiments)
        with sqlite3.connect(moved / "mlflow.db") as conn:
            recorded = [
                row[0]
                for query in (
                    "SELECT artifact_location FROM logged_models",
                    "SELECT storage_location FROM model_versions",
                    "SELECT artifact_uri FROM runs",
                )
                for row in conn.execute(query)
            ]
        assert recorded and all(r.startswith(moved.as_uri()) for r in recorded)
        jobs = [[f, t, str(moved / Path(p).name)] for f, t, p in promoted["jobs"]]
        answers = _load_in_a_fresh_process(tracker.uri, jobs, moved)
        for name in FAMILIES:
            assert answers[name]["positions"] == promoted["answers"][name]["positions"]
            assert answers[name]["timestamps"] == promoted["answers"][name]["timestamps"]
    finally:
        away.rename(root)
