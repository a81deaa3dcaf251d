"""The MLflow UI shows what a pipeline logged: headless Chromium against `mlflow server`.

Needs Debian's chromium (`/usr/bin/chromium`, installed by .ci/run) and the playwright
package; it never downloads a browser.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.pipeline.workspace import tiny_pipeline

pytestmark = [pytest.mark.browser, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


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
    """A store filled by a small `dvc repro` of the whole pipeline (tests/pipeline/workspace.py)."""
    _require_browser()
    return tiny_pipeline(tmp_path_factory)


@pytest.fixture(scope="module")
def server(store: Path):
    _require_browser()
    port = _free_port()
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store}/mlruns/mlflow.db",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=store,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
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


def _experiments(base: str) -> dict[str, str]:
    found = _api(base, "/api/2.0/mlflow/experiments/search?max_results=1000")["experiments"]
    return {e["name"]: e["experiment_id"] for e in found}


def _parent_runs(base: str, experiment_id: str, target: str) -> dict[str, dict]:
    body = {
        "experiment_ids": [experiment_id],
        "filter": f"tags.target = '{target}'",
        "max_results": 1000,
    }
    runs = _api(base, "/api/2.0/mlflow/runs/search", body)["runs"]
    return {
        r["info"]["run_name"]: r
        for r in runs
        if not any(t["key"] == "mlflow.parentRunId" for t in r["data"].get("tags", []))
    }


# The comparison's metrics table is a label grid beside a scrolling value grid (both
# virtualized); the UI moves the labels to the value grid's previous scroll position, so every
# move scrolls the values twice (by one pixel) to leave labels and values aligned.
_SCROLL = """async ([labels, top]) => {
  let scope = labels;
  while (scope.parentElement && scope.querySelectorAll('.ReactVirtualized__Grid').length < 2) {
    scope = scope.parentElement;
  }
  const grids = Array.from(scope.querySelectorAll('.ReactVirtualized__Grid'));
  const movers = grids.filter((g) => ['auto', 'scroll'].includes(getComputedStyle(g).overflowY));
  const next = top === null ? labels.scrollTop + 120 : top;
  for (const t of [next + 1, next]) {
    (movers.length ? movers : grids).forEach((g) => { g.scrollTop = t; });
    await new Promise((done) => setTimeout(done, 200));
  }
  const end = labels.scrollTop + labels.clientHeight >= labels.scrollHeight - 2;
  return [labels.innerText, end, labels.scrollHeight];
}"""


def _metric_rows(page, first_metric: str, show: str) -> list[str]:
    """Scroll the comparison's metrics table; return the row labels, leave `show` at the top."""
    label = page.get_by_text(first_metric, exact=True).first
    label.wait_for(timeout=120_000)
    label.scroll_into_view_if_needed()
    labels = label.evaluate_handle("e => e.closest('.ReactVirtualized__Grid') || e.parentElement")
    rows: list[str] = []
    height = 0
    for k in range(60):
        text, end, height = page.evaluate(_SCROLL, [labels, 0 if k == 0 else None])
        rows += [r for r in (line.strip() for line in text.splitlines()) if r and r not in rows]
        if end:
            break
    if show in rows:
        page.evaluate(_SCROLL, [labels, rows.index(show) * height / len(rows)])
    return rows


def test_pipeline_runs_and_comparison_are_shown(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    experiments = _experiments(server)
    families = ["forecast", "ingest", "kalman_pairs", "kalman_residual", "promotion", "report"]
    # one experiment per family (the default experiment MLflow makes aside): ≤ 10 in all
    assert set(experiments) - {"Default"} == {*families, "wfo"}, sorted(experiments)
    wfo_id = experiments["wfo"]
    parents = _parent_runs(server, wfo_id, "SMH")
    assert set(parents) == {"SMH atr_d_ls tiny", "SMH atr_d_l tiny"}
    # the overfitting statistics under the `validity/` group, apart from the results
    wanted = ("stability_score", "validity/pbo", "validity/deflated_sharpe")
    for run in parents.values():
        assert run["info"]["status"] == "FINISHED"
        assert set(wanted) <= {m["key"] for m in run["data"]["metrics"]}
    shots = Path(os.environ.get("TRADELAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(f"{server}/#/experiments", wait_until="domcontentloaded", timeout=120_000)
        for name in (*families, "wfo"):  # all on the first page of the list
            page.get_by_text(name, exact=True).first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "experiments.png"))

        page.goto(
            f"{server}/#/experiments/{wfo_id}/runs?workflowType=machine_learning",
            wait_until="domcontentloaded",
        )
        for name in parents:
            page.get_by_text(name, exact=True).first.wait_for(timeout=120_000)
        # every target's sweeps in the one table
        page.get_by_text(re.compile(r"^TQQQ-QQQ atr_d_")).first.wait_for(timeout=120_000)
        page.screenshot(path=str(shots / "runs.png"))

        ids = json.dumps([r["info"]["run_id"] for r in parents.values()])
        page.goto(
            f"{server}/#/compare-runs?runs={ids}&experiments={json.dumps([wfo_id])}",
            wait_until="domcontentloaded",
        )
        page.get_by_text("Comparing 2 Runs").first.wait_for(timeout=120_000)
        # the first row, alphabetically: the best combination's benchmark curve
        rows = _metric_rows(page, "buy_and_hold_equity", show="validity/pbo")
        assert set(wanted) <= set(rows) and "pbo" not in rows, rows
        assert "diagnostics/bar_evals_per_s" in rows and "bar_evals_per_s" not in rows, rows
        page.screenshot(path=str(shots / "compare.png"))

        # a WFO sweep's equity curve, drawn from the metric's steps
        smh = parents["SMH atr_d_l tiny"]["info"]["run_id"]
        history = _api(
            server, f"/api/2.0/mlflow/metrics/get-history?run_uuid={smh}&metric_key=equity"
        )
        assert len(history["metrics"]) > 10  # a curve, not a number
        page.goto(
            f"{server}/#/experiments/{wfo_id}/runs/{smh}/model-metrics",
            wait_until="domcontentloaded",
        )
        search = page.get_by_placeholder("Search metric charts")
        search.wait_for(timeout=120_000)
        search.fill("equity")
        page.get_by_text("buy_and_hold_equity", exact=True).first.wait_for(timeout=120_000)
        page.get_by_text("equity", exact=True).first.wait_for(timeout=120_000)
        page.get_by_text("Step", exact=True).nth(1).wait_for(timeout=120_000)  # both drawn
        page.screenshot(path=str(shots / "equity.png"))

        # the registered version: its logged model, kind and the gates it passed
        version = _api(
            server, "/api/2.0/mlflow/registered-models/alias?name=tradelab.wfo.SMH&alias=champion"
        )
        number = version["model_version"]["version"]
        assert version["model_version"]["source"].startswith("models:/")
        page.goto(f"{server}/#/models/tradelab.wfo.SMH/versions/{number}")
        page.get_by_text("Gates passed", exact=False).first.wait_for(timeout=120_000)
        page.get_by_text("SMH strategy", exact=True).first.wait_for(timeout=120_000)  # its model
        page.screenshot(path=str(shots / "model_version.png"))
        browser.close()
    for name in ("experiments.png", "runs.png", "compare.png", "equity.png", "model_version.png"):
        assert (shots / name).stat().st_size > 10_000
