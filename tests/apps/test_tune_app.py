"""`tradelab-tune` for the Kalman studies, end to end on a tiny synthetic store; bad study
settings fail through the app with the dotted key, before anything runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from hydra import compose, initialize_config_dir
from mlflow import MlflowClient
from omegaconf import DictConfig, OmegaConf

from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs
from tradelab.apps.tune import optuna_dir, run
from tradelab.errors import ConfigError
from tradelab.testing.mlflow_store import store_runs
from tradelab.tracking.settings import TrackingBackend, TrackingConfig

from .test_cli import run_app

STATS = tuple(f"validity/{k}" for k in ("pbo", "deflated_sharpe", "n_trials", "effective_trials"))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("tune")
    result = run_app(
        "ingest",
        "data.daily_years=3",
        "data.minute_days=5",
        "data.symbols=[SPY,DIA,QQQ,RIOT,PLUG]",
        "progress=false",
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return root


def _client(root: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{root}/mlruns/mlflow.db")


def _runs(root: Path, experiment: str):
    client = _client(root)
    runs = store_runs(client, experiment)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return parents, children


@pytest.mark.slow
def test_residual_study_logs_trials_candidate_and_statistics(workdir: Path) -> None:
    result = run_app(
        "tune",
        "study=kalman_residual",
        "search=random",
        "search.n_trials=12",
        "symbol=RIOT",
        "study.max_last_price=null",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parents, children = _runs(workdir, "kalman_residual/RIOT")
    assert [p.info.status for p in parents] == ["FINISHED"]
    (used,) = _client(workdir).get_run(parents[0].info.run_id).inputs.dataset_inputs
    assert used.dataset.name.startswith("RIOT/") and used.dataset.name.endswith("min")
    assert used.dataset.digest and json.loads(used.dataset.profile)["rows"] > 0
    # the best tracking.max_trial_runs (10) trials as runs; every trial's score as a curve
    assert len(children) == 10 and all(c.info.status == "FINISHED" for c in children)
    history = _client(workdir).get_metric_history(parents[0].info.run_id, "trials/score")
    assert sorted(m.step for m in history) == list(range(12))
    assert all(k in parents[0].data.metrics for k in STATS)
    assert parents[0].data.metrics["validity/n_trials"] == 12
    candidates = [c for c in children if c.data.tags.get("candidate") == "true"]
    assert len(candidates) == 1 and candidates[0].data.tags["rank"] == "0"
    assert {"process_noise_q", "residual_z_entry"} <= set(candidates[0].data.params)
    metrics = json.loads((workdir / "results/kalman_residual/RIOT/metrics.json").read_text())
    assert metrics["validity/pbo"] == pytest.approx(parents[0].data.metrics["validity/pbo"])


@pytest.mark.slow
def test_residual_costs_warn_when_absent_and_lower_every_return(workdir: Path) -> None:
    """Seed 000 trades for free and the study says so; with costs in `study.strategy` the same
    trials (same parameters, same decisions) each return less, and the config records them."""
    common = ["study=kalman_residual", "search=grid", "study.max_last_price=null"]
    space = [
        "study.space.residual_z_entry=[0.5,1.0]",
        "study.space.take_profit_pct=[0.05,0.1]",
        *(f"study.space.{k}=[{v}]" for k, v in _OTHER_AXES.items()),
    ]
    free = run_app("tune", *common, *space, "symbol=PLUG", cwd=workdir)
    assert free.returncode == 0, free.stderr[-3000:]
    assert "costs are under 0.5 bp a side on PLUG" in free.stdout + free.stderr
    costs = ["study.strategy.commission=0.005", "study.strategy.slippage=0.01",
             "study.strategy.commission_bps=0.5", "study.strategy.slippage_bps=2"]  # fmt: skip
    paid = run_app("tune", *common, *space, *costs, "symbol=PLUG", cwd=workdir)
    assert paid.returncode == 0, paid.stderr[-3000:]
    assert "costs are" not in paid.stdout + paid.stderr
    parents, children = _runs(workdir, "kalman_residual/PLUG")
    assert len(parents) == 2
    by_run: dict[str, dict[str, float]] = {}
    for child in children:
        key = (child.data.params["residual_z_entry"], child.data.params["take_profit_pct"])
        by_run.setdefault(child.data.tags["mlflow.parentRunId"], {})[key] = child.data.metrics
    first, second = sorted(parents, key=lambda r: r.info.start_time)
    trials_free, trials_paid = by_run[first.info.run_id], by_run[second.info.run_id]
    assert len(trials_free) == len(trials_paid) == 4
    for key, m in trials_free.items():
        assert m["num_trades"] == trials_paid[key]["num_trades"]
        if m["num_trades"] > 0:
            assert trials_paid[key]["total_return"] < m["total_return"]
    client = _client(workdir)
    path = client.download_artifacts(second.info.run_id, "config.yaml", str(workdir / "c_costs"))
    strategy = yaml.safe_load(Path(path).read_text())["study"]["strategy"]
    assert (strategy["commission"], strategy["slippage_bps"]) == (0.005, 2.0)


_OTHER_AXES = {
    "process_noise_q": 1.0e-4,
    "observation_noise_r": 5.0e-3,
    "residual_z_exit": 0.1,
    "stop_loss_pct": 0.05,
    "trailing_stop_pct": 0.025,
    "position_size_pct": 0.15,
}


@pytest.mark.slow
def test_pairs_study_screens_tunes_and_writes_the_seed_files(workdir: Path) -> None:
    result = run_app(
        "tune",
        "study=kalman_pairs",
        "search=grid",
        "study.screen.symbols=[SPY,DIA,QQQ]",
        "study.screen.lookback_days=600",
        cwd=workdir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    folders = list((workdir / "results/kalman_pairs").iterdir())
    assert len(folders) == 1 and set(folders[0].name.split("-")) == {"SPY", "DIA"}
    prod = json.loads((folders[0] / "kalman_prod_config.json").read_text())
    assert list(prod)[:11] == [
        "window",
        "entry_z",
        "exit_z",
        "stop_z",
        "stake",
        "long_only",
        "delta",
        "R",
        "initial_cash",
        "commission",
        "note",
    ]
    parents, children = _runs(workdir, f"kalman_pairs/{folders[0].name}")
    assert len(children) == 10 and all(k in parents[0].data.metrics for k in STATS)
    history = _client(workdir).get_metric_history(parents[0].info.run_id, "trials/score")
    assert len(history) == 72  # the grid, every trial
    assert sum(c.data.tags.get("candidate") == "true" for c in children) == 1
    header = (folders[0] / "cointegrated_pairs.csv").read_text().splitlines()[0]
    assert header == (
        "asset_1,asset_2,corr,pvalue,coint_t,crit_1pct,crit_5pct,crit_10pct,hedge_ratio,"
        "intercept,n_obs"
    )


@pytest.mark.slow
def test_unknown_symbol_fails_with_a_hint(workdir: Path) -> None:
    result = run_app("tune", "study=kalman_residual", "symbol=ZZZZ", cwd=workdir)
    assert result.returncode != 0
    assert "ZZZZ" in result.stderr and "tradelab-ingest" in result.stderr


def _compose(tmp_path: Path, overrides: list[str], files: dict[str, str]) -> DictConfig:
    """Compose `tradelab-tune`'s config from a copy of conf/ with extra option files."""
    register_configs()
    folder = tmp_path / "conf"
    shutil.copytree(conf_dir(), folder)
    for name, text in files.items():
        (folder / name).write_text(text)
    with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
        cfg = compose(
            config_name="tune",
            overrides=[*overrides, "tracking=memory", f"paths.root_dir={tmp_path}"],
        )
    OmegaConf.set_readonly(cfg, True)
    return cfg


# study files without their schema (user-written options): Hydra cannot check them, the app must
@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("kind: kalman_residual\nwindw: 3\n", r"study\.windw"),
        ("kind: kalman_residual\nstrategy:\n  stop_loss: 0.1\n", r"study\.strategy\.stop_loss"),
        ("kind: kalman_pairs\nscreen:\n  max_pairs: many\n", r"study\.screen\.max_pairs"),
        ("kind: kalman_pairs\nobjective: calmar\n", r"study\.objective"),
        ("kind: forecast\nsteps: [1]\n", r"study\.steps"),
    ],
)
def test_bad_study_settings_fail_naming_the_key_before_anything_runs(
    tmp_path: Path, text: str, key: str
) -> None:
    cfg = _compose(tmp_path, ["study=custom"], {"study/custom.yaml": text})
    with pytest.raises(ConfigError, match=key):
        run(cfg)
    assert not (tmp_path / "results").exists() and not (tmp_path / "mlruns").exists()


def test_forecast_needs_the_optuna_search(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, ["study=forecast", "search=random", "model=baselines"], {})
    with pytest.raises(ConfigError, match="search=optuna"):
        run(cfg)


def test_an_unknown_study_kind_is_named(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, ["study=custom"], {"study/custom.yaml": "kind: anneal\n"})
    with pytest.raises(ConfigError, match=r"study\.kind"):
        run(cfg)


def test_optuna_studies_live_in_journals_beside_the_mlflow_store(tmp_path: Path) -> None:
    cfg = _compose(tmp_path, ["search=optuna"], {})
    assert cfg.search.storage == "auto" and cfg.search.study_name is None
    local = TrackingConfig(uri=f"sqlite:///{tmp_path}/store/mlflow.db")
    assert optuna_dir(local, tmp_path / "root") == tmp_path / "store" / "optuna"
    assert optuna_dir(TrackingConfig(), tmp_path) == Path("mlruns/optuna").absolute()
    server = TrackingConfig(uri="http://mlflow.internal:5000", artifact_root=None)
    assert optuna_dir(server, tmp_path) == tmp_path / "mlruns" / "optuna"
    assert optuna_dir(TrackingConfig(backend=TrackingBackend.memory), tmp_path) is None
