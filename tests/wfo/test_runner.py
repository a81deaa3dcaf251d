"""run_wfo: golden small sweep, chunked cache, resume after a crash, invalidation."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

import tradelab.wfo.runner as runner_mod
from tradelab.errors import ConfigError, InvalidSymbolError
from tradelab.kernels.enums import METRIC_NAMES
from tradelab.search.grid import Grid
from tradelab.wfo.cache import load_phase_dir
from tradelab.wfo.data import WfoData
from tradelab.wfo.engine import evaluate_combos
from tradelab.wfo.phases import Phase
from tradelab.wfo.runner import (
    adopt_phase_dirs,
    load_cached_phases,
    run_wfo,
    summarize_phase,
    wfo_cache_dir,
)

from .conftest import make_bars, small_spec

PHASES = [Phase("phase1", 0, 30, 200, 299), Phase("phase2", 100, 130, 300, 399)]
GRID = Grid.from_config(
    {
        "atr_period": [3, 5],
        "bb_scaling": [0, 1, 2],
        "atr_buy_multiplier": [0.0, 0.5],
        "atr_multiplier": [1.0, 2.0, 3.0, 4.0, 6.0],
    }
)


def _run(data: WfoData, tmp: Path | None, **kw):
    kw.setdefault("chunk_size", 16)
    kw.setdefault("batch_size", 8)
    return run_wfo(data, small_spec("atr_d_ls"), GRID, PHASES, cache_dir=tmp, progress=False, **kw)


def test_sweep_matches_direct_evaluation(bars: WfoData) -> None:
    res = _run(bars, None)
    assert [p.phase.name for p in res.phases] == ["phase1", "phase2"]
    for k, phase in enumerate(PHASES):
        direct = evaluate_combos(bars, small_spec("atr_d_ls"), GRID, phase)
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(res.metrics(k)[name], direct.metrics[name])
    assert res.n_evaluated == 2 * GRID.size
    assert res.combos_per_s > 0 and res.bar_evals_per_s > res.combos_per_s
    summary = summarize_phase(res.phases[0])
    assert summary["combinations"] == GRID.size and 0 <= summary["share_profitable_oos"] <= 1
    frame = res.frame("phase2", np.array([0, 7]))
    assert list(frame["combo"]) == [0, 7] and frame["atr_multiplier"].iloc[1] == 3.0


def test_cache_layout_and_rerun_reads_it(bars: WfoData, tmp_path: Path) -> None:
    first = _run(bars, tmp_path, n_blocks=4)
    manifest = json.loads((tmp_path / "phase1" / "manifest.json").read_text())
    assert manifest["complete"] and manifest["chunks_done"] == manifest["n_chunks"] == 4
    assert (
        manifest["key"]["grid"] == GRID.fingerprint()
        and manifest["key"]["data"] == bars.data_hash()
    )
    for name in [*METRIC_NAMES, "block_ret_sum", "block_ret_sq", "block_n"]:
        assert (tmp_path / "phase2" / f"{name}.npy").is_file()
    assert not list(tmp_path.rglob("*.partial"))
    loaded = load_phase_dir(tmp_path / "phase1")
    np.testing.assert_array_equal(loaded["oos_pnl"], first.metrics(0)["oos_pnl"])
    again = _run(bars, tmp_path, n_blocks=4)
    assert again.n_evaluated == 0 and all(p.cached for p in again.phases)
    for k in range(2):
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(again.metrics(k)[name], first.metrics(k)[name])
        np.testing.assert_array_equal(again.phases[k].block_ret_sum, first.phases[k].block_ret_sum)


def test_resume_after_crash_starts_at_first_missing_chunk(
    bars: WfoData, tmp_path: Path, monkeypatch
) -> None:
    clean = _run(bars, None)
    real = runner_mod.run_prepared
    calls = {"n": 0}

    def crashing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 6:  # batches of 8, chunks of 16: dies in chunk 3 of phase1
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(runner_mod, "run_prepared", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(bars, tmp_path)
    phase1 = tmp_path / "phase1"
    manifest = json.loads((phase1 / "manifest.json").read_text())
    assert manifest["chunks_done"] == 2 and not manifest["complete"]
    assert (phase1 / "is_pnl.npy.partial").is_file() and not (phase1 / "is_pnl.npy").exists()
    with pytest.raises(ValueError, match="incomplete"):
        load_phase_dir(phase1)

    calls["n"] = -1000
    resumed = _run(bars, tmp_path)
    assert resumed.phases[0].n_evaluated == GRID.size - 32
    assert resumed.phases[1].n_evaluated == GRID.size
    for k in range(2):
        for name in METRIC_NAMES:
            np.testing.assert_array_equal(resumed.metrics(k)[name], clean.metrics(k)[name])


def test_changed_grid_data_or_costs_invalidate(bars: WfoData, tmp_path: Path) -> None:
    _run(bars, tmp_path)
    other = make_bars(bars.n_bars, seed=8)
    assert _run(other, tmp_path).n_evaluated == 2 * GRID.size
    assert _run(other, tmp_path).n_evaluated == 0
    bigger = Grid.from_config({"atr_period": [3, 5, 8]})
    res = run_wfo(other, small_spec("atr_d_ls"), bigger, PHASES, cache_dir=tmp_path, progress=False)
    assert res.n_evaluated == 2 * bigger.size and res.metrics(0)["is_pnl"].shape == (3,)
    pricier = run_wfo(
        other,
        small_spec("atr_d_ls", commission=0.02),
        bigger,
        PHASES,
        cache_dir=tmp_path,
        progress=False,
    )
    assert pricier.n_evaluated == 2 * bigger.size


def test_on_phase_progress_and_bad_arguments(bars: WfoData, tmp_path: Path) -> None:
    seen = []
    run_wfo(
        bars,
        small_spec("atr_d_l"),
        Grid.from_config({"atr_period": [3, 5]}),
        PHASES,
        progress=True,
        on_phase=lambda k, r: seen.append((k, r.phase.name)),
    )
    assert seen == [(1, "phase1"), (2, "phase2")]
    with pytest.raises(ConfigError, match="chunk_size"):
        run_wfo(bars, small_spec("atr_d_l"), GRID, PHASES, chunk_size=0, progress=False)
    with pytest.raises(ConfigError, match="phases"):
        run_wfo(bars, small_spec("atr_d_l"), GRID, [], progress=False)


def test_cache_dir_layout_checks_symbol(tmp_path: Path) -> None:
    folder = wfo_cache_dir(tmp_path, "SMH", "atr_d_l", "smoke-compact")
    assert folder == tmp_path / "SMH" / "wfo" / "atr_d_l" / "smoke-compact"
    with pytest.raises(InvalidSymbolError):
        wfo_cache_dir(tmp_path, "../etc", "atr_d_l", "smoke-compact")
    with pytest.raises(ConfigError):
        wfo_cache_dir(tmp_path, "SMH", "../x", "smoke-compact")
    with pytest.raises(ConfigError, match=r"grid\.name"):
        wfo_cache_dir(tmp_path, "SMH", "atr_d_l", "../x")


def test_rescore_loads_only_a_cache_of_exactly_these_inputs(bars: WfoData, tmp_path: Path) -> None:
    spec = small_spec("atr_d_ls")
    swept = _run(bars, tmp_path)
    loaded = load_cached_phases(tmp_path, bars, spec, GRID, PHASES)
    for k in range(2):
        np.testing.assert_array_equal(loaded[k]["oos_pnl"], swept.metrics(k)["oos_pnl"])

    def refused(match: str, **kw) -> str:
        args = {"bars": bars, "strategy": spec, "grid": GRID, "phases": PHASES, **kw}
        with pytest.raises(ConfigError, match=match) as info:
            load_cached_phases(tmp_path, **args)
        return str(info.value)

    message = refused("strategy.slippage", strategy=small_spec("atr_d_ls", slippage=5.0))
    assert "strategy.slippage 0.01" in message and "strategy.slippage 5.0" in message
    assert "rescore=true" in message and str(tmp_path) in message
    longer = [replace(p, default=4.0) if p.name == "atr_period" else p for p in spec.params]
    message = refused("strategy.params.atr_period.default", strategy=replace(spec, params=longer))
    assert "strategy.slippage" not in message
    shifted = [Phase("phase1", 0, 40, 200, 299), PHASES[1]]
    message = refused("config key 'phases'", phases=shifted)
    assert "phase1 IS" in message and "phase2 IS" in message
    refused("config key 'phases'", phases=PHASES[:1])  # the cache holds a second phase
    refused("config key 'phases'", phases=[*PHASES, Phase("phase3", 200, 230, 300, 399)])
    other_grid = Grid.from_config({**{n: list(v) for n, v in zip(GRID.names, GRID.levels)}})
    assert load_cached_phases(tmp_path, bars, spec, other_grid, PHASES)  # same values: fine
    refused("grid.params.atr_period", grid=Grid.from_config({"atr_period": [3, 5, 8]}))
    refused("data.hash", bars=make_bars(bars.n_bars, seed=8))
    refused("n_blocks", n_blocks=4)


def test_rescore_without_cache_names_the_sweeps_beside_it(bars: WfoData, tmp_path: Path) -> None:
    _run(bars, tmp_path / "smoke-compact")
    with pytest.raises(ConfigError, match="rescore") as info:
        load_cached_phases(tmp_path / "smoke-default", bars, small_spec("atr_d_ls"), GRID, PHASES)
    assert "no cached results" in str(info.value) and "smoke-compact" in str(info.value)


def test_rescore_refuses_an_unfinished_cache(bars: WfoData, tmp_path: Path, monkeypatch) -> None:
    real = runner_mod.run_prepared
    calls = {"n": 0}

    def crashing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(runner_mod, "run_prepared", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(bars, tmp_path)
    with pytest.raises(ConfigError, match="incomplete"):
        load_cached_phases(tmp_path, bars, small_spec("atr_d_ls"), GRID, PHASES)


def test_resume_with_another_chunk_size_keeps_every_combination(
    bars: WfoData, tmp_path: Path, monkeypatch
) -> None:
    clean = _run(bars, None)
    real = runner_mod.run_prepared
    calls = {"n": 0}

    def crashing(*args, **kw):
        calls["n"] += 1
        if calls["n"] == 6:  # batches of 8, chunks of 16: two chunks (32 combinations) done
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(runner_mod, "run_prepared", crashing)
    with pytest.raises(KeyboardInterrupt):
        _run(bars, tmp_path)
    calls["n"] = -1000
    for chunk_size, evaluated in ((24, GRID.size - 24), (64, GRID.size)):
        folder = tmp_path / f"chunks{chunk_size}"
        shutil.copytree(tmp_path / "phase1", folder / "phase1")
        resumed = _run(bars, folder, chunk_size=chunk_size)
        assert resumed.phases[0].n_evaluated == evaluated
        for k in range(2):
            for name in METRIC_NAMES:
                np.testing.assert_array_equal(resumed.metrics(k)[name], clean.metrics(k)[name])


def test_a_shorter_layout_removes_the_folders_of_the_longer_one(
    bars: WfoData, tmp_path: Path
) -> None:
    _run(bars, tmp_path)
    run_wfo(bars, small_spec("atr_d_ls"), GRID, PHASES[:1], cache_dir=tmp_path, progress=False)
    assert (tmp_path / "phase1" / "manifest.json").is_file()
    assert not (tmp_path / "phase2").exists()


def test_caches_of_the_old_layout_are_adopted_when_they_match(
    bars: WfoData, tmp_path: Path
) -> None:
    spec = small_spec("atr_d_ls")
    legacy = tmp_path / "atr_d_ls"
    _run(bars, legacy)
    sweep = legacy / "smoke-compact"
    other = Grid.from_config({"atr_period": [3, 5, 8]})
    assert adopt_phase_dirs(legacy, legacy / "other-compact", bars, spec, other, PHASES) == 0
    assert adopt_phase_dirs(legacy, sweep, bars, spec, GRID, PHASES) == 2
    assert not (legacy / "phase1").exists()
    assert _run(bars, sweep).n_evaluated == 0
