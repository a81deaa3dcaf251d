"""The apps on API data, as a new user would run them, with the local fake API standing in for
TradeStation and Massive: auto-fetch before a run, a rerun that fetches nothing, the cache when
the API is down, the manual download, and no credential anywhere it could leak."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tradelab.data import ParquetStore
from tradelab.testing.fake_market_api import FakeMarketApi
from tradelab.testing.mlflow_store import store_runs

from .test_cli import run_app

pytestmark = pytest.mark.slow
WFO = ["symbol=SMH", "strategy=atr_d_l", "grid=smoke", "phases=compact", "progress=false"]


@pytest.fixture(scope="module")
def api():
    with FakeMarketApi(seed=11) as server:
        yield server


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("fetch_app")
    (root / "home").mkdir()
    return root


def _env(api: FakeMarketApi, root: Path) -> dict[str, str]:
    # HOME elsewhere: no ~/.config/tradelab credentials file of the machine is read
    return {**api.env(), "HOME": str(root / "home")}


def _api(api: FakeMarketApi, source: str) -> list[str]:
    urls = [f"data={source}", f"data.api_url={api.url}"]
    return urls + ([f"data.token_url={api.url}/oauth/token"] if source == "tradestation" else [])


def _secrets(api: FakeMarketApi) -> list[str]:
    issued = list(api._tokens)  # every access token the fake API handed out
    return [api.client_secret, api.refresh_token, api.api_key, *issued]


def _leaks(root: Path, outputs: list[str], secrets: list[str]) -> list[str]:
    """Return where a secret appears: any file under `root` (the MLflow store, artifacts,
    Hydra logs, the data store), or the apps' output."""
    found = []
    for path in root.rglob("*"):
        if path.is_file() and path.stat().st_size < 200_000_000:
            blob = path.read_bytes()
            found += [f"{path}: {s[:4]}..." for s in secrets if s.encode() in blob]
    for k, text in enumerate(outputs):
        found += [f"output {k}: {s[:4]}..." for s in secrets if s in text]
    return found


def test_wfo_fetches_what_is_missing_then_nothing_then_runs_from_the_cache(
    api: FakeMarketApi, workdir: Path
) -> None:
    env = _env(api, workdir)
    span = ["data.start=2016-01-04", "data.end=2026-11-30"]
    first = run_app("wfo", *WFO, *_api(api, "tradestation"), *span, cwd=workdir, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    fetched = len(api.data_requests())
    assert fetched >= 1 and all(r.status == 200 for r in api.data_requests())
    store = ParquetStore(workdir / "data" / "store")
    meta = store.meta("SMH", "1day")
    assert meta.source == "tradestation" and meta.ranges == (("2016-01-04", "2026-11-30"),)

    client = MlflowClient(f"sqlite:///{workdir}/mlruns/mlflow.db")
    runs = store_runs(client, "wfo/SMH")
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert parent.data.params["data.source"] == "tradestation"  # a run that fetched: its source
    assert parent.data.params["data.end"] == "2026-11-30"

    again = run_app("wfo", *WFO, *_api(api, "tradestation"), *span, cwd=workdir, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(api.data_requests()) == fetched  # the store covers the run: no request at all

    outputs = [first.stdout + first.stderr, again.stdout + again.stderr]
    secrets = _secrets(api)
    api.stop()
    later = ["data.start=2016-01-04", "data.end=2026-12-04", "data.retries=1", "data.backoff_s=0.1"]
    offline = run_app("wfo", *WFO, *_api(api, "tradestation"), *later, cwd=workdir, env=env)
    assert offline.returncode == 0, offline.stderr[-3000:]
    said = offline.stdout + offline.stderr  # Hydra's job log goes to stdout
    assert "tradestation unavailable" in said and "serving cached" in said
    outputs.append(said)

    missing = run_app(
        "wfo", *WFO, "symbol=QQQ", *_api(api, "tradestation"), *later, cwd=workdir, env=env
    )
    assert missing.returncode != 0
    assert "no 1day data for QQQ" in missing.stderr and "nothing cached" in missing.stderr
    assert "During handling of the above exception" not in missing.stderr
    outputs.append(missing.stdout + missing.stderr)
    assert _leaks(workdir, outputs, secrets) == []
    api.start()  # the module's other tests go on with it (a new port)


def test_fetch_false_never_fetches(api: FakeMarketApi, workdir: Path) -> None:
    env = _env(api, workdir)
    before = len(api.requests)
    result = run_app(
        "wfo", *WFO, "symbol=SPY", *_api(api, "massive"), "fetch=false", cwd=workdir, env=env
    )
    assert result.returncode != 0 and "no 1day data for SPY" in result.stderr
    assert len(api.requests) == before


def test_ingest_downloads_minutes_derives_bars_and_tune_fetches_daily(
    api: FakeMarketApi, workdir: Path
) -> None:
    env = _env(api, workdir)
    download = [
        *_api(api, "massive"),
        "symbols=[AAPL,NVDA]",
        "data.timeframe=1min",
        "data.start=2026-11-02",
        "data.end=2026-11-06",
        "progress=false",
    ]
    done = run_app("ingest", *download, "timeframes=[5min]", cwd=workdir, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    store = ParquetStore(workdir / "data" / "store")
    for symbol in ("AAPL", "NVDA"):
        assert store.meta(symbol, "1min").ranges == (("2026-11-02", "2026-11-06"),)
        assert store.meta(symbol, "1min").source == "massive"
        assert len(store.read(symbol, "5min")) == 5 * 78  # regular hours only
    requests = len(api.data_requests())
    again = run_app("ingest", *download, cwd=workdir, env=env)
    assert again.returncode == 0 and len(api.data_requests()) == requests

    tune = run_app(
        "tune",
        "study=forecast",
        "symbol=AAPL",
        "model=baselines",
        "search.n_trials=2",
        "progress=false",
        *_api(api, "massive"),
        "data.start=2025-06-02",
        "data.end=2026-11-30",
        cwd=workdir,
        env=env,
    )
    assert tune.returncode == 0, tune.stderr[-3000:]
    assert store.meta("AAPL", "1day").ranges == (("2025-06-02", "2026-11-30"),)
    assert len(api.data_requests()) > requests
    outputs = [r.stdout + r.stderr for r in (done, again, tune)]
    assert _leaks(workdir, outputs, _secrets(api)) == []


def test_missing_credentials_say_what_to_set(api: FakeMarketApi, workdir: Path) -> None:
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("TRADESTATION", "MASSIVE"))}
    bare["HOME"] = str(workdir / "home")
    result = run_app(
        "ingest",
        *_api(api, "tradestation"),
        "symbols=[MSFT]",
        "progress=false",
        cwd=workdir,
        env=bare,
    )
    assert result.returncode != 0
    assert "TRADESTATION_CLIENT_ID" in result.stderr
    assert "tradestation.json" in result.stderr
