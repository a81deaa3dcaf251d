"""run_wfo: golden small sweep, chunked cache, resume after a crash, invalidation."""

from __future__ import annotations

import json
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
from tradelab.wfo.runner import run_wfo, summarize_phase, wfo_cache_dir

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
    assert wfo_cache_dir(tmp_path, "SMH", "atr_d_l") == tmp_path / "SMH" / "wfo" / "atr_d_l"
    with pytest.raises(InvalidSymbolError):
        wfo_cache_dir(tmp_path, "../etc", "atr_d_l")
    with pytest.raises(ConfigError):
        wfo_cache_dir(tmp_path, "SMH", "../x")
