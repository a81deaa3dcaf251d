"""`dvc repro` end to end on tiny parameters: every family runs and is promoted, a second run
does nothing, metrics and plots are registered, and a WFO parameter re-runs only its stages."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tradelab.tracking.lineage import DVC_STAGE_TAG
from tradelab.tracking.mlflow_tracker import MlflowTracker

from .workspace import BIN, dvc, tiny_pipeline

pytestmark = pytest.mark.slow

SMH = "pipelines/wfo/dvc.yaml:single@SMH"
DUAL = "pipelines/wfo/dvc.yaml:dual@TQQQ-QQQ"


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return tiny_pipeline(tmp_path_factory)


@contextmanager
def edited_params(root: Path, edit: Callable[[dict[str, Any]], None]) -> Iterator[None]:
    """Change params.yaml for the block, then put the original text back."""
    path = root / "params.yaml"
    original = path.read_text()
    values = yaml.safe_load(original)
    edit(values)
    path.write_text(yaml.safe_dump(values, sort_keys=False))
    try:
        yield
    finally:
        path.write_text(original)


def _pending(root: Path) -> set[str]:
    result = dvc(root, "status", "--json")
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout))


def _would_run(root: Path) -> set[str]:
    result = dvc(root, "repro", "--dry")
    assert result.returncode == 0, result.stderr
    return set(re.findall(r"Running stage '([^']+)'", result.stdout))


def test_every_family_ran_and_went_through_promotion(run: Path) -> None:
    for target, strategies in (
        ("SMH", {"atr_d_ls", "atr_d_l"}),
        ("TQQQ-QQQ", {"atr_d_duals_l", "atr_d_l"}),
    ):
        headline = json.loads((run / "results" / target / "headline.json").read_text())
        assert set(headline) == strategies
        for m in headline.values():
            assert m["combinations"] >= 36 and 0.0 <= m["validity/pbo"] <= 1.0
        # the plateau tables dvc plots draws (the images stay in results/ and the summary)
        assert sorted(p.name for p in (run / "reports" / "wfo" / target).iterdir()) == sorted(
            f"plateaus_{s}_tiny-compact.csv" for s in strategies
        )
        assert (run / "results" / target / "wfo").is_dir()
    for family in ("wfo", "kalman_residual", "kalman_pairs", "forecast"):
        decisions = json.loads((run / "production" / "decisions" / f"{family}.json").read_text())
        assert decisions, family
        assert all(d["verdict"] in ("promote", "refuse", "keep") for d in decisions.values())
    assert set(json.loads((run / "production" / "decisions" / "wfo.json").read_text())) == {
        "SMH",
        "TQQQ-QQQ",
    }
    summary = (run / "reports" / "summary.md").read_text()
    assert "Walk-forward optimization" in summary and "TQQQ-QQQ" in summary


def test_each_wfo_stage_records_only_the_params_it_reads(run: Path) -> None:
    lock = yaml.safe_load((run / "pipelines" / "wfo" / "dvc.lock").read_text())["stages"]
    assert set(lock) == {"single@SMH", "dual@TQQQ-QQQ"}
    assert set(lock["single@SMH"]["params"]["params.yaml"]) == {
        "wfo.grid",
        "wfo.phases",
        "wfo.single.SMH",
    }
    assert set(lock["dual@TQQQ-QQQ"]["params"]["params.yaml"]) == {
        "wfo.grid",
        "wfo.phases",
        "wfo.dual.TQQQ-QQQ",
    }
    outs = {o["path"] for o in lock["single@SMH"]["outs"]}
    assert outs == {"results/SMH", "metrics/wfo_SMH.json", "reports/wfo/SMH"}


def test_a_second_repro_does_nothing(run: Path) -> None:
    assert _pending(run) == set()
    result = dvc(run, "repro")
    assert result.returncode == 0, result.stderr
    assert "Running stage" not in result.stdout
    assert _pending(run) == set()


def test_metrics_and_plots_are_registered(run: Path, tmp_path: Path) -> None:
    result = dvc(run, "metrics", "show", "--json")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)[""]["data"]
    # one flat schema for the family: the requested strategy's numbers, the same keys per target
    smh = shown["metrics/wfo_SMH.json"]["data"]
    dual = shown["metrics/wfo_TQQQ-QQQ.json"]["data"]
    assert set(smh) == set(dual) and all(isinstance(v, float | None) for v in smh.values())
    headline = json.loads((run / "results" / "SMH" / "headline.json").read_text())
    assert smh == headline["atr_d_ls"]
    wanted = {"validity/pbo", "validity/deflated_sharpe", "best_stability_score"}
    assert wanted <= set(smh)
    assert not [k for k in smh if "wall_s" in k or "per_s" in k]  # timings: MLflow
    assert {
        "metrics/wfo_TQQQ-QQQ.json",
        "metrics/kalman_pairs.json",
        "metrics/kalman_residual.json",
        "metrics/forecast.json",
    } <= set(shown)
    for name, entry in shown.items():  # every family's file flat: one column per key
        assert all(isinstance(v, float | int | None) for v in entry["data"].values()), name
    assert {"median_best_mae", "median_skill_vs_zero"} <= set(
        shown["metrics/forecast.json"]["data"]
    )
    result = dvc(run, "plots", "show", "--json", "-o", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    plots = json.loads(result.stdout)["data"]
    # data series drawn by dvc.yaml plot definitions, no static image twice
    assert {p["type"] for shown in plots.values() for p in shown} == {"vega"}
    for name in (
        "reports/wfo/SMH/plateaus_atr_d_ls_tiny-compact.csv",
        "reports/wfo/TQQQ-QQQ/plateaus_atr_d_duals_l_tiny-compact.csv",
    ):
        assert name in plots  # drawn when the sweep found plateaus (the tiny grid may not)
    assert [p["type"] for p in plots["reports/plots/forecast_errors.csv"]] == ["vega"]
    equity = [name for name in plots if name.startswith("reports/plots/equity/")]
    decisions = [
        d
        for family in ("wfo", "kalman_residual", "kalman_pairs")
        for d in json.loads(
            (run / "production" / "decisions" / f"{family}.json").read_text()
        ).values()
    ]
    if any(d["verdict"] == "promote" for d in decisions):  # a strategy champion to draw
        assert equity, sorted(plots)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("wfo.single.SMH.strategy", "atr_d_l", {SMH}),
        ("wfo.dual.TQQQ-QQQ.strategy", "atr_d_duals_ls", {DUAL}),
        ("wfo.grid", "smoke", {SMH, DUAL}),
        ("wfo.phases", "default", {SMH, DUAL}),
        ("kalman.residual.n_trials", 3, {"pipelines/kalman/dvc.yaml:residual"}),
    ],
)
def test_changing_one_parameter_reruns_only_the_stages_reading_it(
    run: Path, key: str, value: Any, expected: set[str]
) -> None:
    def edit(values: dict[str, Any]) -> None:
        *parents, leaf = key.split(".")
        node = values
        for name in parents:
            node = node[name]
        assert node[leaf] != value
        node[leaf] = value

    with edited_params(run, edit):
        assert _pending(run) == expected
        assert _would_run(run) == expected
    assert _pending(run) == set()


def _rows(md: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under `## heading` of a summary.md."""
    section = md.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_the_summary_shows_every_sweep(run: Path) -> None:
    summary = (run / "reports" / "summary.md").read_text()
    sweeps = {
        (path.parent.name, strategy)
        for path in (run / "results").glob("*/headline.json")
        for strategy in json.loads(path.read_text())
    }
    assert len(sweeps) == 4
    wfo = _rows(summary, "Walk-forward optimization")
    assert {(row[0], row[1]) for row in wfo} == sweeps and len(wfo) == len(sweeps)
    assert all(cell and cell != "-" for row in wfo for cell in row), wfo
    luck = {row[0] for row in _rows(summary, "Is it luck? Research-validity statistics")}
    kalman = {
        f"{path.parent.parent.name}/{path.parent.name}"
        for path in (run / "results").glob("kalman_*/*/metrics.json")
    }
    assert {p.split("/")[0] for p in kalman} == {"kalman_residual", "kalman_pairs"}
    assert luck == {f"wfo/{t} {s}" for t, s in sweeps} | kalman


def test_the_pipeline_promotes_each_stages_latest_run(run: Path) -> None:
    decisions = json.loads((run / "production" / "decisions" / "wfo.json").read_text())
    assert (
        "candidates: the latest invocation of each DVC stage in wfo/SMH "
        "(pipelines/wfo/dvc.yaml:single@SMH: "
    ) in decisions["SMH"]["reason"]
    tracker = MlflowTracker(f"sqlite:///{run}/mlruns/mlflow.db", run / "mlruns" / "artifacts")
    jobs = tracker.find_runs("wfo/TQQQ-QQQ", top_level=True)
    assert {j.tags[DVC_STAGE_TAG] for j in jobs} == {"pipelines/wfo/dvc.yaml:dual@TQQQ-QQQ"}
    assert len({j.tags["invocation"] for j in jobs}) == 1  # one call, two variants


def test_a_cli_run_hashes_like_the_pipeline_stage(run: Path, tmp_path: Path) -> None:
    """`tradelab-wfo` by hand with the stage's job (without its presentation overrides, into
    another store and results folder) gives each variant's run the stage's config hash."""
    lock = yaml.safe_load((run / "pipelines" / "wfo" / "dvc.lock").read_text())["stages"]
    program, *overrides = shlex.split(lock["single@SMH"]["cmd"][0])
    job = [o for o in overrides if not o.startswith(("progress=", "metrics_file="))]
    assert program == "tradelab-wfo" and len(job) == len(overrides) - 2
    store = f"sqlite:///{tmp_path}/mlflow.db"
    where = [
        f"tracking.uri={store}",
        f"tracking.artifact_root={tmp_path}/artifacts",
        f"paths.results_dir={tmp_path}/results",
    ]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    result = subprocess.run(
        [str(BIN / program), *job, *where, f"hydra.run.dir={tmp_path}/hydra"],
        cwd=run,
        capture_output=True,
        text=True,
        env={k: v for k, v in env.items() if not k.startswith(("DVC_", "TRADELAB_"))},
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    def hashes(tracker: MlflowTracker) -> dict[str, str]:
        return {r.name: r.tags["config_hash"] for r in tracker.find_runs("wfo/SMH", top_level=True)}

    pipeline = hashes(MlflowTracker(f"sqlite:///{run}/mlruns/mlflow.db", run / "mlruns/artifacts"))
    assert set(pipeline) == {"atr_d_ls tiny", "atr_d_l tiny"}
    assert hashes(MlflowTracker(store, tmp_path / "artifacts")) == pipeline


def test_re_ingesting_the_same_day_files_leaves_every_later_stage_up_to_date(run: Path) -> None:
    """The store's files hold no write time: a forced re-ingest gives the same hashes, so
    nothing downstream (bars, every family, promotion, report) is pending afterwards."""
    before = (run / "dvc.lock").read_text()
    result = dvc(run, "repro", "--force", "--single-item", "ingest")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "Running stage 'ingest'" in result.stdout
    assert _pending(run) == set()
    assert (run / "dvc.lock").read_text() == before
