"""conf/model/*.yaml and conf/study/forecast.yaml compose against their schemas."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ConfigKeyError, ValidationError

from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs
from tradelab.forecast.registry import adapter_class
from tradelab.forecast.settings import model_config
from tradelab.forecast.space import build_space

PRIMARY = "defaults:\n  - paths: default\n  - model: toto\n  - study: forecast\n  - _self_\n"


@pytest.fixture
def conf(tmp_path: Path) -> Path:
    register_configs()
    folder = tmp_path / "conf"
    shutil.copytree(conf_dir(), folder)
    (folder / "forecast_only.yaml").write_text(PRIMARY)
    return folder


def _compose(folder: Path, overrides: list[str]):
    with initialize_config_dir(config_dir=str(folder), version_base="1.3"):
        return compose(config_name="forecast_only", overrides=overrides)


@pytest.mark.parametrize(
    ("model", "name"),
    [("toto", "toto"), ("kronos", "kronos_standard"), ("kronos_ensemble", "kronos_ensemble")],
)
def test_model_options_compose_and_their_spaces_parse(conf: Path, model: str, name: str) -> None:
    cfg = _compose(conf, [f"model={model}"])
    plain = OmegaConf.to_container(cfg, resolve=True)
    # results and runs go by seed 002's names; the option keeps its short name
    assert plain["model"]["name"] == name == model_config(plain["model"]).name
    assert model_config({"type": model}).name == name
    assert plain["model"]["weights_dir"].startswith("./models/")
    tunable = adapter_class(model).tunable
    space = build_space(plain["model"]["search_space"], tunable)
    assert len(space.dimensions) >= 2
    assert cfg.study.steps == 20 and cfg.study.horizon == 1


def test_seed_search_spaces_are_kept(conf: Path) -> None:
    toto = _compose(conf, ["model=toto"]).model.search_space
    assert list(toto.num_samples) == [64, 128, 256, 512, 1024, 2048]
    assert len(toto.aggregate) == 12
    kronos = _compose(conf, ["model=kronos"]).model.search_space
    assert list(kronos.top_k) == [0, 16, 20, 24, 28, 32]
    assert kronos.temperature.low == 0.10 and kronos.clip.high == 2.5


def test_wrong_types_and_unknown_keys_fail_at_compose_time(conf: Path) -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        _compose(conf, ["study.steps=many"])
    assert "steps" in f"{info.value} {info.value.__cause__}"
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        _compose(conf, ["study.on_unavailable=ignore"])
    assert "on_unavailable" in f"{info.value} {info.value.__cause__}"
    with open(conf / "model" / "toto.yaml", "a") as fh:
        fh.write("num_sampels: 3\n")
    with pytest.raises((ConfigCompositionException, ConfigKeyError)) as info:
        _compose(conf, [])
    assert "num_sampels" in f"{info.value} {info.value.__cause__}"
