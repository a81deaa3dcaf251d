"""Crash `tradelab-promote` at the promotion fault points, rerun it, and compare with a twin
that was never interrupted: the audit log (times and journal ids aside), `@champion`,
`@previous`, the registered versions and the production files are the same, no run is left
RUNNING, and a rollback afterwards works.

The scenario: a real WFO sweep on a small store is promoted (version 1); a second sweep beats
it; its promotion (version 2 over 1) is the one crashed. Then the twin's rollback is crashed the
same way. Every case starts from a copy of the same working directory (the MLflow store
included, so run ids and reasons match the twin's). Real CLI runs, hard exits (status 137).
Left out to keep the file short: `promotion.audit.before` (the state `promotion.file@2`, the
last file, leaves; crashed in tests/promotion/test_service.py) and a rollback's
`promotion.registry.previous` (completion sets both aliases again, as in the promotion case).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from tests.faults.harness import crash, digest, run_app, running_runs
from tradelab.testing.mlflow_store import store_runs
from tradelab.tracking.liveness import REPAIRED_TAG

pytestmark = pytest.mark.slow
WFO = ["symbol=SMH", "strategy=atr_d_l", "grid=smoke", "phases=compact", "progress=false"]
GATES = [
    f"gates.{gate}=null"
    for gate in ("min_deflated_sharpe", "max_pbo", "min_phases_valid", "min_trades", "max_drawdown")
]
PROMOTE = ["family=wfo", "target=SMH", *GATES]
ROLLBACK = ["family=wfo", "target=SMH", "action=rollback"]
MODEL = "tradelab.wfo.SMH"
JOURNALS = ("promotions.jsonl", "promotions.wal.jsonl", "decisions/")


def _ok(app: str, *args: str, cwd: Path) -> None:
    result = run_app(app, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr[-3000:]


def _copy(source: Path, to: Path) -> Path:
    return Path(shutil.copytree(source, to))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Version 1 promoted from a first sweep; a better second sweep logged, not promoted."""
    root = tmp_path_factory.mktemp("promotion_base")
    store = [
        "data.mode=planted",
        "data.daily_years=8.5",
        "data.minute_days=0",
        "data.symbols=[SMH]",
        "timeframes=[1day]",
        "tracking=memory",
        "progress=false",
    ]
    _ok("ingest", *store, cwd=root)
    _ok("wfo", *WFO, "strategy.slippage=0.1", cwd=root)  # costlier trading: a weaker champion
    _ok("promote", *PROMOTE, cwd=root)
    _ok("wfo", *WFO, cwd=root)
    return root


def outcome(cwd: Path) -> dict:
    """What a promotion leaves: audit log, aliases, versions, production files, champion."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    aliases = {}
    for alias in ("champion", "previous"):
        try:
            aliases[alias] = str(client.get_model_version_by_alias(MODEL, alias).version)
        except MlflowException:
            aliases[alias] = None
    audit = [
        {k: v for k, v in json.loads(line).items() if k not in ("time", "intent")}
        for line in (cwd / "production/promotions.jsonl").read_text().splitlines()
    ]
    decisions = json.loads((cwd / "production/decisions/wfo.json").read_text())
    return {
        "audit": audit,
        "aliases": aliases,
        "versions": sorted(
            str(v.version) for v in client.search_model_versions(f"name = '{MODEL}'")
        ),
        "files": digest(cwd, ("conf/production/**/*", "production/**/*"), exclude=JOURNALS),
        "champion": decisions["SMH"]["champion"],
        "running": running_runs(cwd),
    }


@pytest.fixture(scope="module")
def twin(base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The second promotion, uninterrupted."""
    root = _copy(base, tmp_path_factory.mktemp("promotion_twin") / "w")
    _ok("promote", *PROMOTE, cwd=root)
    return root


@pytest.fixture(scope="module")
def promoted(twin: Path) -> dict:
    found = outcome(twin)
    assert [(r["action"], r["champion"], r["previous"]) for r in found["audit"]] == [
        ("promote", "1", None),
        ("promote", "2", "1"),
    ]
    assert found["aliases"] == {"champion": "2", "previous": "1"} and found["running"] == 0
    return found


@pytest.fixture(scope="module")
def rolled_back(twin: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The twin after an uninterrupted rollback."""
    root = _copy(twin, tmp_path_factory.mktemp("promotion_twin_rollback") / "w")
    _ok("promote", *ROLLBACK, cwd=root)
    found = outcome(root)
    assert found["audit"][-1]["action"] == "rollback"
    assert found["aliases"] == {"champion": "1", "previous": None}
    return found


def _assert_repaired(cwd: Path) -> None:
    """The decision run the crash killed ended FAILED with the reason."""
    client = MlflowClient(f"sqlite:///{cwd}/mlruns/mlflow.db")
    failed = store_runs(client, "promotion/wfo.SMH", "attributes.status = 'FAILED'")
    assert any("is gone" in r.data.tags.get(REPAIRED_TAG, "") for r in failed)


PROMOTE_POINTS = [
    ("promotion.intent", 1),
    ("promotion.registry.model", 1),
    ("promotion.registry.version", 1),
    ("promotion.registry.previous", 1),
    ("promotion.registry.champion", 1),
    ("promotion.ready", 1),
    ("promotion.file", 1),
    ("promotion.file", 2),  # the last file: the state `promotion.audit.before` leaves too
    ("promotion.audit.after", 1),
    ("promotion.done", 1),
]


@pytest.mark.parametrize(
    ("point", "nth"), PROMOTE_POINTS, ids=[f"{p}@{n}" for p, n in PROMOTE_POINTS]
)
def test_a_crashed_promotion_ends_as_the_uninterrupted_one(
    base: Path, promoted: dict, rolled_back: dict, tmp_path: Path, point: str, nth: int
) -> None:
    work = _copy(base, tmp_path / "w")
    crash("promote", point, *PROMOTE, cwd=work, nth=nth)
    _ok("promote", *PROMOTE, cwd=work)
    _assert_repaired(work)
    assert outcome(work) == promoted
    # the rollback history: `@previous` and the audit log say what the twin's say
    if (point, nth) in (("promotion.registry.champion", 1), ("promotion.file", 1)):
        _ok("promote", *ROLLBACK, cwd=work)
        assert outcome(work) == rolled_back


ROLLBACK_POINTS = [
    ("promotion.intent", 1),
    ("promotion.registry.champion", 1),
    ("promotion.file", 1),
    ("promotion.audit.after", 1),
]


@pytest.mark.parametrize(
    ("point", "nth"), ROLLBACK_POINTS, ids=[f"{p}@{n}" for p, n in ROLLBACK_POINTS]
)
def test_a_crashed_rollback_is_finished_not_repeated(
    twin: Path, rolled_back: dict, tmp_path: Path, point: str, nth: int
) -> None:
    work = _copy(twin, tmp_path / "w")
    crash("promote", point, *ROLLBACK, cwd=work, nth=nth)
    _ok("promote", *ROLLBACK, cwd=work)
    _assert_repaired(work)
    assert outcome(work) == rolled_back
