"""Every app config composes; typos and wrong types fail at compose time, naming the key."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigKeyError, ValidationError

from tradelab.apps._runtime import conf_dir
from tradelab.apps.schema import register_configs

APPS = ["ingest", "wfo", "tune", "analyze", "promote", "report"]


@pytest.fixture(autouse=True)
def _schemas() -> None:
    register_configs()


def _compose(app: str, overrides: list[str] | None = None):
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        return compose(config_name=app, overrides=overrides or [])


@pytest.mark.parametrize("app", APPS)
def test_every_app_composes(app: str) -> None:
    cfg = _compose(app)
    assert cfg.tracking.uri == "sqlite:///mlruns/mlflow.db"
    assert cfg.paths.store_dir == "./data/store"


def test_misspelled_override_names_the_key() -> None:
    with pytest.raises(ConfigCompositionException) as info:
        _compose("ingest", ["data.sed=3"])
    assert "data.sed" in str(info.value) or "sed" in str(info.value.__cause__)


def test_wrong_type_names_the_key() -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        _compose("ingest", ["data.seed=abc"])
    text = f"{info.value} {info.value.__cause__}"
    assert "data.seed" in text


def test_unknown_key_in_group_yaml_fails(tmp_path) -> None:
    import shutil

    conf = tmp_path / "conf"
    shutil.copytree(conf_dir(), conf)
    with open(conf / "data" / "synthetic.yaml", "a") as f:
        f.write("minute_dayz: 4\n")
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        with pytest.raises((ConfigCompositionException, ConfigKeyError)) as info:
            compose(config_name="ingest")
    assert "minute_dayz" in f"{info.value} {info.value.__cause__}"


def test_enum_values_are_checked() -> None:
    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        _compose("ingest", ["data.mode=bogus"])
    assert "mode" in f"{info.value} {info.value.__cause__}"


def test_experiment_overlay_changes_only_what_it_names() -> None:
    base = _compose("ingest")
    smoke = _compose("ingest", ["experiment=smoke"])
    assert smoke.data.minute_days == 3
    assert smoke.data.seed == base.data.seed
