"""A throwaway copy of the project's DVC pipeline with tiny parameters, and `dvc` to drive it.

The copy holds what the stages read (dvc.yaml files, params.yaml, conf/, src/); the apps run
from this interpreter's environment. `tiny_pipeline` runs the whole pipeline once per test
session (8 years of the planted synthetic market, a 144-combination WFO grid on one symbol and
one dual pair, a few Kalman and forecast trials, promotion, report) and is shared by the
pipeline tests and the MLflow UI test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ROOT", "TINY_GRID", "TINY_PARAMS", "dvc", "make_workspace", "tiny_pipeline"]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

# Small but complete: every family runs, WFO on one symbol and one dual pair.
TINY_PARAMS: dict[str, Any] = {
    "data": {"mode": "planted", "daily_years": 8, "minute_days": 2},
    "wfo": {
        "grid": "tiny",
        "phases": "compact",
        "single": {"SMH": {"strategy": "atr_d_ls"}},
        "dual": {"TQQQ-QQQ": {"symbol": "TQQQ", "symbol2": "QQQ", "strategy": "atr_d_duals_l"}},
    },
    "kalman": {"residual": {"search": "random", "n_trials": 2}},
    "forecast": {"symbols": "SPY", "n_trials": 2},
}

# conf/grid/tiny.yaml of the workspace: enough stable combinations for PBO / DSR on both variants
TINY_GRID = """defaults:
  - /schema/grid/grid@_here_
  - _self_

description: "pipeline tests: 36 combinations for atr_d_l, 144 for atr_d_ls"
params:
  short_mult: [0.6, 1.0]
  entry_mode: [0, 2]
  atr_period: [10, 20]
  bb_scaling: [0, 2]
  atr_buy_multiplier: [0.0, 0.5, 1.0]
  atr_multiplier: [3, 5, 8]
"""

_RUNS: dict[str, Path] = {}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if (
            isinstance(value, Mapping)
            and isinstance(out.get(key), dict)
            and key not in ("single", "dual")
        ):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _ignore(folder: str, names: list[str]) -> set[str]:
    skip = {"__pycache__", "dvc.lock"}
    if Path(folder) == ROOT / "conf":
        skip.add("production")  # written by tradelab-promote, a pipeline output
    return {n for n in names if n in skip}


def make_workspace(root: Path, params: Mapping[str, Any] | None = None) -> Path:
    """Copy the pipeline into `root`, apply `params` over params.yaml, `dvc init --no-scm`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", ".dvcignore"):
        shutil.copy2(ROOT / name, root / name)
    for name in ("pipelines", "conf", "src"):
        shutil.copytree(ROOT / name, root / name, ignore=_ignore, dirs_exist_ok=True)
    (root / "conf" / "grid" / "tiny.yaml").write_text(TINY_GRID)
    values = yaml.safe_load((ROOT / "params.yaml").read_text())
    values = _merge(values, params or {})
    (root / "params.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    result = dvc(root, "init", "--no-scm", "--quiet")
    assert result.returncode == 0, result.stderr
    return root


def dvc(root: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """Run `dvc *args` in `root` with the apps of this environment first on PATH."""
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "DVC_NO_ANALYTICS": "1",
        "HYDRA_FULL_ERROR": "1",
        "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    }
    env.pop("TRADELAB_CONF_DIR", None)
    env.pop("TRADELAB_ROOT", None)
    return subprocess.run(
        [str(BIN / "dvc"), *args],
        cwd=root,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


def tiny_pipeline(tmp_path_factory: Any) -> Path:
    """Return a workspace where `dvc repro` of the tiny pipeline has finished (once a session)."""
    if "tiny" not in _RUNS:
        root = make_workspace(tmp_path_factory.mktemp("pipeline"), TINY_PARAMS)
        result = dvc(root, "repro")
        assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
        _RUNS["tiny"] = root
    return _RUNS["tiny"]
