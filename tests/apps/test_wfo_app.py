"""`tradelab-wfo` end to end on a small synthetic store: expansion, MLflow runs, exports,
rescore from the cache, dual symbols, promotion with a production round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from tradelab.data import ParquetStore
from tradelab.testing.mlflow_store import store_runs

from .test_cli import run_app

pytestmark = pytest.mark.slow
WFO = ["grid=smoke", "phases=compact", "progress=false"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wfo_app")
    ok = run_app(
        "ingest",
        "data.mode=planted",
        "data.daily_years=8.5",
        "data.minute_days=0",
        "data.symbols=[SMH,QQQ,TQQQ]",
        "timeframes=[1day]",
        "progress=false",
        cwd=root,
    )
    assert ok.returncode == 0, ok.stderr[-2000:]
    return root


@pytest.fixture(scope="module")
def qqq(workdir: Path) -> Path:
    """A sweep on QQQ, which no other test promotes: gate checks are never cut short by "already
    the champion"."""
    ok = run_app("wfo", "symbol=QQQ", "strategy=atr_d_l", *WFO, cwd=workdir)
    assert ok.returncode == 0, ok.stderr[-3000:]
    return workdir


def _qqq_decision(root: Path, gate: str) -> str:
    """Promote every QQQ candidate under `gate`; return the decision's reason."""
    promo = run_app("promote", "family=wfo", "target=QQQ", "candidates=all", gate, cwd=root)
    assert promo.returncode == 0, promo.stderr[-3000:]
    _, decisions = _runs(root, "promotion/wfo.QQQ")
    return max(decisions, key=lambda r: r.info.start_time).data.tags["reason"]


def _runs(root: Path, experiment: str):
    client = MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")
    return client, store_runs(client, experiment)


def test_sweep_expansion_runs_exports_and_rescore(workdir: Path) -> None:
    result = run_app(
        "wfo",
        "symbol=SMH",
        "strategy=atr_d_ls",
        *WFO,
        "metrics_file=metrics/wfo_SMH.json",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client, runs = _runs(workdir, "wfo/SMH")
    parents = {r.data.tags["strategy"]: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    assert set(parents) == {"atr_d_ls", "atr_d_l"}
    smh = ParquetStore(workdir / "data" / "store").meta("SMH", "1day")
    for parent in parents.values():
        assert parent.info.status == "FINISHED"
        # the Dataset column: what the run read, with the store's content hash as digest
        (used,) = client.get_run(parent.info.run_id).inputs.dataset_inputs
        assert (used.dataset.name, used.dataset.digest) == ("SMH/1day", smh.content_hash)
        assert "data/store/1day/SMH.parquet" in used.dataset.source
        # the resolved config as dotted params a runs table filters on; nothing as "None"
        params = parent.data.params
        assert params["strategy.commission_bps"] == "0.5" and params["phases.warmup_bars"]
        assert params["strategy.params.atr_period.default"] and params["symbol"] == "SMH"
        assert "None" not in params.values() and "symbol2" not in params
        # where things live, and the synthetic settings the run never read (the store holds
        # what it read: the dataset input above)
        assert not any(k.startswith(("paths.", "tracking.", "data.")) for k in params)
        kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        phases = sorted(r.info.run_name for r in kids if r.info.run_name.startswith("phase "))
        assert phases == ["phase 1", "phase 2", "phase 3", "phase 4"]
        n_candidates = sum(r.data.tags.get("candidate") == "true" for r in kids)
        assert (n_candidates > 0) == (parent.data.metrics["n_stable"] > 0)
        table = client.list_artifacts(
            next(r for r in kids if r.info.run_name == "phase 1").info.run_id, "phases"
        )
        assert [a.path for a in table] == ["phases/phase1.parquet"]
    long_only = parents[
        "atr_d_l"
    ]  # the planted trend edge makes some long-only combinations stable
    assert long_only.data.metrics["n_stable"] >= 2
    stats = {"pbo", "deflated_sharpe", "n_trials", "effective_trials"}
    assert {f"validity/{k}" for k in stats} <= set(long_only.data.metrics)
    assert not stats & set(long_only.data.metrics)  # under validity/ only
    m = long_only.data.metrics
    assert m["validity/n_trials_sweep"] == m["grid_size"] == 16
    # the ledger: atr_d_ls's 32 combinations, swept just before on the same data, count too
    sweep, prior = m["validity/n_trials_sweep"], m["validity/n_trials_prior"]
    assert prior >= 32 and m["validity/n_trials"] == sweep + prior
    # and atr_d_ls, swept first, counts its ancestor's 16 on this first run as on any rerun
    first = parents["atr_d_ls"].data.metrics
    assert (first["validity/n_trials_sweep"], first["validity/n_trials_prior"]) == (32, 16)
    out = workdir / "results" / "SMH"
    assert (out / "candidates_atr_d_ls_smoke-compact.parquet").exists() and (
        out / "plateaus_atr_d_l_smoke-compact.png"
    ).exists()
    assert (out / "wfo/atr_d_ls/smoke-compact/phase4/manifest.json").exists()
    assert (out / "phase5_refine_config.csv").exists()
    headline = json.loads((out / "headline.json").read_text())
    assert headline["atr_d_ls"]["combinations"] == 32 and headline["atr_d_l"]["combinations"] == 16
    metrics = json.loads((workdir / "metrics/wfo_SMH.json").read_text())  # the requested one
    assert metrics == headline["atr_d_ls"]
    assert not [k for k in metrics if "wall_s" in k or "per_s" in k]  # MLflow only

    again = run_app(
        "wfo", "symbol=SMH", "strategy=atr_d_l", *WFO, "rescore=true", "expand=false", cwd=workdir
    )
    assert again.returncode == 0, again.stderr[-3000:]
    _, runs = _runs(workdir, "wfo/SMH")
    rescored = [r for r in runs if r.data.tags.get("rescore") == "true"]
    assert len(rescored) == 1
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == rescored[0].info.run_id]
    assert not [r for r in kids if r.info.run_name.startswith("phase ")]  # no kernel was run
    assert (
        rescored[0].data.metrics["stability_score"]
        == parents["atr_d_l"].data.metrics["stability_score"]
    )


def test_dual_symbol_variant_and_missing_symbol2(workdir: Path) -> None:
    missing = run_app("wfo", "symbol=TQQQ", "strategy=atr_d_duals_l", *WFO, cwd=workdir)
    assert missing.returncode != 0 and "symbol2" in missing.stderr
    dual = run_app(
        "wfo",
        "symbol=TQQQ",
        "symbol2=QQQ",
        "strategy=atr_d_duals_l",
        "expand=false",
        *WFO,
        cwd=workdir,
    )
    assert dual.returncode == 0, dual.stderr[-3000:]
    _, runs = _runs(workdir, "wfo/TQQQ-QQQ")
    assert {
        r.data.tags.get("strategy") for r in runs if "mlflow.parentRunId" not in r.data.tags
    } == {"atr_d_duals_l"}


def test_promotion_round_trip_and_model(workdir: Path) -> None:
    if not (workdir / "results/SMH").exists():
        assert run_app("wfo", "symbol=SMH", "strategy=atr_d_l", *WFO, cwd=workdir).returncode == 0
    promo = run_app(
        "promote",
        "family=wfo",
        "target=SMH",
        "gates.min_deflated_sharpe=null",
        "gates.max_pbo=null",
        "gates.min_phases_valid=null",
        "gates.min_trades=null",
        "gates.max_drawdown=null",
        cwd=workdir,
    )
    assert promo.returncode == 0, promo.stderr[-3000:]
    assert (workdir / "conf/production/wfo/SMH.yaml").exists()
    inputs = json.loads((workdir / "production/wfo/SMH.json").read_text())["inputs"]
    assert "ATRMult" in inputs
    client, runs = _runs(workdir, "wfo/SMH")
    champion = client.get_model_version_by_alias("tradelab.wfo.SMH", "champion")
    source = client.get_run(champion.tags["source_run"])
    rerun = run_app("wfo", "+production=wfo/SMH", "progress=false", cwd=workdir)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _, runs = _runs(workdir, "wfo/SMH")
    latest = max(
        (
            r
            for r in runs
            if r.data.tags.get("candidate") == "true" and r.data.tags.get("grid") == "production"
        ),
        key=lambda r: r.info.start_time,
    )
    for k in (1, 2, 3, 4):
        assert latest.data.metrics[f"oos/pnl_phase{k}"] == source.data.metrics[f"oos/pnl_phase{k}"]
    code = f"""
import mlflow
from tradelab.data import ParquetStore
mlflow.set_tracking_uri("sqlite:///{workdir}/mlruns/mlflow.db")
model = mlflow.pyfunc.load_model("models:/tradelab.wfo.SMH@champion")
out = model.predict(ParquetStore("{workdir}/data/store").read("SMH", "1day").tail(400))
print(list(out.columns), len(out), set(out["position"].tolist()) <= {{-1.0, 0.0, 1.0}})
"""
    fresh = subprocess.run(
        [sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert fresh.returncode == 0, fresh.stderr[-3000:]
    assert (
        fresh.stdout.strip().splitlines()[-1]
        == "['timestamp', 'close', 'position', 'equity'] 400 True"
    )


def test_overrides_reach_every_expanded_variant(workdir: Path) -> None:
    """`strategy.*` overrides of the primary apply to each ancestor that has the key; each
    variant's run records its own strategy config."""
    result = run_app(
        "wfo",
        "symbol=QQQ",
        "strategy=atr_d_ls",
        "strategy.params.bb_period.default=25",
        "strategy.params.ema_period.default=40",
        "strategy.slippage=0.02",
        *WFO,
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    client, runs = _runs(workdir, "wfo/QQQ")
    parents = {r.data.tags["strategy"]: r for r in runs if "mlflow.parentRunId" not in r.data.tags}
    assert set(parents) == {"atr_d_ls", "atr_d_l"}
    recorded = {}
    for name, run in parents.items():
        path = client.download_artifacts(run.info.run_id, "config.yaml", str(workdir))
        recorded[name] = yaml.safe_load(Path(path).read_text())["strategy"]
    assert recorded["atr_d_l"]["name"] == "atr_d_l"
    assert "ema_period" not in recorded["atr_d_l"]["params"]
    for name in ("atr_d_ls", "atr_d_l"):
        assert recorded[name]["params"]["bb_period"]["default"] == 25
        assert recorded[name]["slippage"] == 0.02
    assert recorded["atr_d_ls"]["params"]["ema_period"]["default"] == 40
    assert (
        parents["atr_d_l"].data.tags["config_hash"] != parents["atr_d_ls"].data.tags["config_hash"]
    )


def test_trades_gate_counts_distinct_round_trips(qqq: Path) -> None:
    """The compact phases' OOS windows overlap: candidates log each round trip once
    (`distinct_trades`) beside the per-phase sum, and `min_trades` judges the distinct count."""
    workdir = qqq
    _, runs = _runs(workdir, "wfo/QQQ")
    candidates = [r.data.metrics for r in runs if r.data.tags.get("candidate") == "true"]
    assert candidates
    for m in candidates:
        per_phase = sum(m[f"oos/trades_phase{k}"] for k in range(1, 5))
        assert m["num_trades"] == per_phase
        assert max(m[f"oos/trades_phase{k}"] for k in range(1, 5)) <= m["distinct_trades"]
    assert any(m["distinct_trades"] < m["num_trades"] for m in candidates)
    reason = _qqq_decision(workdir, "gates.min_trades=100000")
    assert "distinct_trades = " in reason and "fails >= 100000" in reason, reason


def test_candidates_stand_beside_their_benchmarks(qqq: Path) -> None:
    """Each candidate's OOS return per phase beside buy-and-hold of the same window (the
    closes in the store) and the exposure-matched benchmark; a gate on the excess return."""
    workdir = qqq
    _, runs = _runs(workdir, "wfo/QQQ")
    close = ParquetStore(workdir / "data/store", offline=True).get("QQQ", "1day")["close"]
    close = close.to_numpy()
    phase_runs = {r.info.run_name: r.data for r in runs if r.data.tags.get("phase")}
    for k in range(1, 5):
        params = phase_runs[f"phase {k}"].params
        start, end = int(params["oos_start"]), int(params["oos_end"])
        held = close[end] / close[start - 1] - 1.0
        assert phase_runs[f"phase {k}"].metrics["oos/benchmark_return"] == pytest.approx(held)
    candidates = [r.data.metrics for r in runs if r.data.tags.get("candidate") == "true"]
    assert candidates
    for m in candidates:
        for k in range(1, 5):
            bench = phase_runs[f"phase {k}"].metrics["oos/benchmark_return"]
            assert m[f"oos/benchmark_return_phase{k}"] == pytest.approx(bench)
            assert m[f"oos/excess_return_phase{k}"] == pytest.approx(
                m[f"oos/return_phase{k}"] - bench
            )
            assert m[f"oos/return_phase{k}"] > -1.0 and 0.0 <= m[f"oos/exposure_phase{k}"] <= 1.0
        assert {"benchmark_return", "excess_return", "matched_excess_return"} <= set(m)
    reason = _qqq_decision(workdir, "gates.min_excess_return=10")
    assert "matched_excess_return = " in reason and "fails >= 10" in reason, reason


def test_candidates_file_and_plateau_table_carry_the_benchmark(qqq: Path) -> None:
    """Every stable combination in the candidates file has its OOS return per phase beside
    buy-and-hold of the window, from the kernel's own P&L; it equals the re-simulated return of
    the candidate runs (plateau tables: `tests/wfo/test_plateaus.py`; the smoke grid has none)."""
    workdir = qqq
    _, runs = _runs(workdir, "wfo/QQQ")
    [path] = (workdir / "results/QQQ").glob("candidates_atr_d_l_smoke-compact.parquet")
    table = pd.read_parquet(path).set_index("combo")
    # the sweep that wrote the file: the newest atr_d_l smoke-compact sweep (other tests of this
    # module sweep QQQ again); its phase and candidate runs only
    sweeps = [
        r
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags
        and r.data.tags.get("strategy") == "atr_d_l"
        and r.data.tags.get("grid") == "smoke"
    ]
    sweep = max(sweeps, key=lambda r: r.info.start_time)
    runs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep.info.run_id]
    phase_runs = {r.info.run_name: r.data for r in runs if r.data.tags.get("phase")}
    held = [phase_runs[f"phase {k}"].metrics["oos/benchmark_return"] for k in range(1, 5)]
    for k in range(1, 5):
        excess = table[f"oos_return_p{k}"] - held[k - 1]
        assert np.allclose(table[f"oos_excess_return_p{k}"], excess, rtol=0, atol=1e-12)
    assert np.allclose(table["benchmark_return"], np.mean(held))
    mean_return = np.mean([table[f"oos_return_p{k}"] for k in range(1, 5)], axis=0)
    assert np.allclose(table["excess_return_mean"], mean_return - np.mean(held), atol=1e-12)
    candidates = [r.data for r in runs if r.data.tags.get("candidate") == "true"]
    assert candidates
    for cand in candidates:
        row = table.loc[int(cand.tags["combo"])]
        for k in range(1, 5):
            assert row[f"oos_return_p{k}"] == pytest.approx(
                cand.metrics[f"oos/return_phase{k}"], rel=1e-9, abs=1e-12
            )
        assert row["excess_return_mean"] == pytest.approx(cand.metrics["excess_return"], abs=1e-9)


def test_parent_run_draws_the_best_equity_beside_buy_and_hold(qqq: Path) -> None:
    """The MLflow UI's charts: the best combination's equity after each bar of the history the
    phases cover (step = bar index) and holding QQQ with the same capital."""
    workdir = qqq
    client, runs = _runs(workdir, "wfo/QQQ")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    equity = sorted(
        (m.step, m.value) for m in client.get_metric_history(parent.info.run_id, "equity")
    )
    held = sorted(
        (m.step, m.value)
        for m in client.get_metric_history(parent.info.run_id, "buy_and_hold_equity")
    )
    # thinned to each bucket's extremes (tracking.base.CURVE_POINTS): both span the history
    assert 100 < len(equity) <= 250 and 100 < len(held) <= 250
    assert equity[0][0] == held[0][0] and equity[-1][0] == held[-1][0]
    assert equity[0][1] == held[0][1] == 100_000.0
    close = ParquetStore(workdir / "data/store", offline=True).get("QQQ", "1day")["close"]
    first, last = equity[0][0], equity[-1][0]
    assert last == len(close) - 1
    assert held[-1][1] == pytest.approx(100_000.0 * close.iloc[last] / close.iloc[first])
    assert len({v for _, v in equity}) > 2  # it traded
    # the best candidates as a table the UI previews, beside the whole Parquet file
    tables = json.loads(parent.data.tags["mlflow.loggedArtifacts"])
    assert {"path": "candidates/best.json", "type": "table"} in tables
    local = client.download_artifacts(parent.info.run_id, "candidates/best.json", str(workdir))
    preview = json.loads(Path(local).read_text())
    assert 0 < len(preview["data"]) <= 500 and "excess_return_mean" in preview["columns"]


def test_costs_group_and_the_doubled_cost_gate(qqq: Path) -> None:
    """Costs come from `conf/costs` (default `both`: $ per share and basis points); each
    candidate is re-simulated at 0x, 1x and 2x its costs, and a gate can require its edge to
    survive doubled costs."""
    workdir = qqq
    client, runs = _runs(workdir, "wfo/QQQ")
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    path = client.download_artifacts(parent.info.run_id, "config.yaml", str(workdir / "c0"))
    costs = yaml.safe_load(Path(path).read_text())["strategy"]
    assert (costs["commission"], costs["slippage"]) == (0.005, 0.01)
    assert (costs["commission_bps"], costs["slippage_bps"]) == (0.5, 2.0)
    candidates = [r.data.metrics for r in runs if r.data.tags.get("candidate") == "true"]
    for m in candidates:
        assert m["oos/sharpe_costs_0x"] >= m["oos/sharpe_costs_2x"]
        assert m["oos/sharpe_costs_1x"] == pytest.approx(
            sum(m[f"oos/sharpe_phase{k}"] for k in range(1, 5)) / 4, rel=1e-6
        )
    reason = _qqq_decision(workdir, "gates.min_sharpe_2x_costs=50")
    assert "oos/sharpe_costs_2x = " in reason and "fails >= 50" in reason, reason

    bps = run_app("wfo", "symbol=QQQ", "strategy=atr_d_l", "costs=bps", *WFO, cwd=workdir)
    assert bps.returncode == 0, bps.stderr[-3000:]
    client, runs = _runs(workdir, "wfo/QQQ")
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    latest = max(parents, key=lambda r: r.info.start_time)
    path = client.download_artifacts(latest.info.run_id, "config.yaml", str(workdir / "c1"))
    costs = yaml.safe_load(Path(path).read_text())["strategy"]
    assert (costs["commission"], costs["slippage"], costs["slippage_bps"]) == (0.0, 0.0, 2.0)


def test_progress_without_a_terminal_is_one_line_per_phase_and_overall(workdir: Path) -> None:
    result = run_app(
        "wfo", "symbol=TQQQ", "strategy=atr_d_ls", "grid=smoke", "phases=compact", cwd=workdir
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [line for line in result.stderr.splitlines() if " combos in " in line]
    assert [line.split(":")[0] for line in lines] == [
        *(f"atr_d_ls phase{k} ({k}/4)" for k in range(1, 5)),
        *(f"atr_d_l phase{k} ({k}/4)" for k in range(1, 5)),
        "TQQQ",
    ]
    assert lines[-1].startswith("TQQQ: atr_d_ls, atr_d_l x 4 phases: 192/192 combos")
