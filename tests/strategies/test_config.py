"""The study configs compose (conf/study/*.yaml) and feed the drivers unchanged."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.errors import ConfigCompositionException

from tradelab.apps._runtime import conf_dir, settings
from tradelab.apps.schema import register_configs
from tradelab.strategies.settings import (
    KalmanPairsStudyConfig,
    KalmanResidualStudyConfig,
    ObjectiveName,
)


def _study(option: str, overrides: list[str] | None = None):
    register_configs()
    with initialize_config_dir(config_dir=conf_dir(), version_base="1.3"):
        try:
            return compose(config_name="tune", overrides=[f"study={option}", *(overrides or [])])
        except ConfigCompositionException as exc:
            if "No match in the defaults list" not in str(exc):
                raise
        # tune.yaml names no default study: append the group
        return compose(config_name="tune", overrides=[f"+study={option}", *(overrides or [])])


def test_residual_study_composes_with_seed_defaults() -> None:
    cfg = _study("kalman_residual")
    study = settings(KalmanResidualStudyConfig, cfg.study, "study")
    assert study.space["process_noise_q"] == [1e-5, 5e-5, 1e-4, 5e-4, 1e-3]
    assert len(study.space) == 8
    assert study.strategy.position_size_pct == 0.15 and study.warmup_bars == 60
    assert study.max_last_price == 25.0 and study.objective is ObjectiveName.composite
    assert study == KalmanResidualStudyConfig()  # the YAML restates the settings' defaults


def test_pairs_study_composes_with_the_72_grid() -> None:
    cfg = _study("kalman_pairs", ["study.asset_1=DIA", "study.asset_2=SPY"])
    study = settings(KalmanPairsStudyConfig, cfg.study, "study")
    sizes = [len(v) for v in study.space.values()]
    assert sizes == [3, 2, 1, 2, 3, 2] and study.asset_1 == "DIA"
    assert study.strategy.commission == 0.0005 and str(study.objective) == "sharpe_then_dd"
    # the YAML restates the settings' defaults (fill=close included)
    assert study == KalmanPairsStudyConfig(asset_1="DIA", asset_2="SPY")


@pytest.mark.parametrize(
    "override", ["study.objective=calmar", "study.windw=3", "study.strategy.stake=abc"]
)
def test_bad_overrides_fail_at_compose_time(override: str) -> None:
    with pytest.raises(ConfigCompositionException):
        _study("kalman_pairs", [override])
