"""Kronos standard goes by seed 002's name, `kronos_standard`, in files, runs and promotion;
the config option stays `model=kronos`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from hydra import compose, initialize_config_dir

from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs
from tradelab.forecast.settings import ForecastStudyConfig, KronosModelConfig, ModelType
from tradelab.promotion.family_forecast import FORECAST
from tradelab.promotion.rules import Candidate
from tradelab.settings import to_plain


def test_model_types_use_the_seed_names() -> None:
    assert [t.seed_name for t in ModelType] == [
        "toto",
        "kronos_standard",
        "kronos_ensemble",
        "baselines",
    ]
    assert KronosModelConfig().name == ModelType.kronos.seed_name


def _kronos_candidate() -> Candidate:
    model = KronosModelConfig(search_space={"temperature": {"low": 0.1, "high": 0.3}})
    return Candidate(
        run_id="r1",
        target="AAPL",
        metrics={"pct_return_mae": 0.01, "price_mae": 1.0, "latency_s": 0.1},
        params={
            "model": "kronos_standard",
            "kind": "model",
            "model_type": "kronos_standard",
            "config.temperature": "0.15",
            "model_config": json.dumps(to_plain(model)),
        },
        context={"config": {"study": to_plain(ForecastStudyConfig())}},
    )


def test_promotion_seed_file_says_kronos_standard() -> None:
    config = FORECAST.config(_kronos_candidate(), "AAPL")
    [seed] = FORECAST.seed_files(config, "AAPL").values()
    assert seed["model_type"] == "kronos_standard"


def test_promotion_overlay_of_kronos_standard_composes(tmp_path: Path) -> None:
    register_configs()
    folder = tmp_path / "conf"
    shutil.copytree(conf_dir(), folder)
    config = FORECAST.config(_kronos_candidate(), "AAPL")
    overlay = FORECAST.overlay(config, "AAPL")
    target = folder / "production" / "forecast" / "AAPL.yaml"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("# @package _global_\n" + yaml.safe_dump(dict(overlay), sort_keys=False))
    with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
        cfg = compose(config_name="tune", overrides=["+production=forecast/AAPL"])
    assert cfg.model.type == "kronos" and cfg.model.name == "kronos_standard"
    assert list(cfg.model.search_space.temperature) == [0.15]
