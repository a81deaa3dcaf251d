"""The MLflow UI shows what a pipeline logged: headless Chromium against `mlflow server`.

Needs Debian's chromium (`/usr/bin/chromium`, installed by .ci/run) and the playwright
package; it never downloads a browser.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.apps.test_cli import run_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]  # fmt: skip


def _require_browser() -> None:
    missing = not Path(CHROMIUM).exists()
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing = True
    if missing:
        if os.environ.get("TRADELAB_REQUIRE_BROWSER"):
            pytest.fail("chromium or playwright missing but TRADELAB_REQUIRE_BROWSER is set")
        pytest.skip("needs /usr/bin/chromium and playwright (installed by .ci/run)")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _api(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(
        base + path, data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A store filled by a small pipeline run (ingest twice, refinement analysis)."""
    root = tmp_path_factory.mktemp("pipeline")
    tiny = [
        "experiment=smoke",
        "data.daily_years=1",
        "data.minute_days=1",
        "data.symbols=[SPY,QQQ]",
        "progress=false",
    ]
    for _ in range(2):
        assert run_app("ingest", *tiny, cwd=root).returncode == 0
    fixtures = Path(__file__).resolve().parents[1] / "reports" / "fixtures"
    assert run_app("analyze", "symbol=SMH", f"input_dir={fixtures}", cwd=root).returncode == 0
    return root


@pytest.fixture(scope="module")
def server(store: Path):
    _require_browser()
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri",
         f"sqlite:///{store}/mlruns/mlflow.db", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        cwd=store, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            urllib.request.urlopen(base + "/health", timeout=2)
            break
        except OSError:
            time.sleep(1)
    else:
        proc.kill()
        pytest.fail("mlflow server did not start within 180 s")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def test_experiments_runs_and_comparison_are_shown(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    experiments = {
        e["name"]: e["experiment_id"]
        for e in _api(server, "/api/2.0/mlflow/experiments/search?max_results=100")["experiments"]
    }
    exp_id = experiments["ingest/synthetic"]
    runs = _api(server, "/api/2.0/mlflow/runs/search", {"experiment_ids": [exp_id]})["runs"]
    run_ids = [r["info"]["run_id"] for r in runs]
    assert len(run_ids) == 2
    shots = Path(os.environ.get("TRADELAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server}/#/experiments", wait_until="domcontentloaded", timeout=120_000)
        for name in ("ingest/synthetic", "analyze/SMH"):
            page.get_by_text(name, exact=True).first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "experiments.png"))

        page.goto(
            f"{server}/#/experiments/{exp_id}/runs?workflowType=machine_learning",
            wait_until="domcontentloaded",
        )
        page.get_by_text("ingest-all").first.wait_for(timeout=120_000)
        assert page.get_by_text("ingest-all").count() >= 2
        page.screenshot(path=str(shots / "runs.png"))

        ids = json.dumps(run_ids)
        page.goto(
            f"{server}/#/compare-runs?runs={ids}&experiments={json.dumps([exp_id])}",
            wait_until="domcontentloaded",
        )
        page.get_by_text("rows_1min").first.wait_for(timeout=120_000)
        body = page.inner_text("body")
        for metric in ("rows_1min", "files_read_1min", "files_skipped_1min"):
            assert metric in body
        page.screenshot(path=str(shots / "compare.png"), full_page=True)
        browser.close()
    assert (shots / "compare.png").stat().st_size > 10_000
