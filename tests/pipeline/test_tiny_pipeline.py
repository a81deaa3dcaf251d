"""`dvc repro` end to end on tiny parameters: every family runs and is promoted, a second run
does nothing, metrics and plots are registered, and a WFO parameter re-runs only its stages."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from .workspace import dvc, tiny_pipeline

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
        metrics = json.loads((run / "metrics" / f"wfo_{target}.json").read_text())[target]
        assert set(metrics) == strategies
        assert all(m["combinations"] >= 36 and 0.0 <= m["pbo"] <= 1.0 for m in metrics.values())
        assert sorted(p.name for p in (run / "reports" / "wfo" / target).glob("*.png")) == sorted(
            f"plateaus_{s}_tiny.png" for s in strategies
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
    smh = shown["metrics/wfo_SMH.json"]["data"]["SMH"]
    assert {"pbo", "deflated_sharpe", "best_stability_score"} <= set(smh["atr_d_ls"])
    assert {
        "metrics/wfo_TQQQ-QQQ.json",
        "metrics/kalman_pairs.json",
        "metrics/forecast.json",
    } <= set(shown)
    result = dvc(run, "plots", "show", "--json", "-o", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    plots = json.loads(result.stdout)["data"]
    for name in (
        "reports/wfo/SMH/plateaus_atr_d_ls_tiny.png",
        "reports/wfo/TQQQ-QQQ/plateaus_atr_d_duals_l_tiny.png",
    ):
        assert plots[name][0]["type"] == "image"
        assert Path(plots[name][0]["url"]).stat().st_size > 1000


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
