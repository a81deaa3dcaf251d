"""A seed-scale sweep's memory does not grow with its grid: `tradelab-wfo` on two slices of the
`full` grid (1.1M and 4.4M combinations x 4 phases, above `phase_table_max_rows`), run as a user
runs it, peak anonymous memory sampled from /proc. The phase cache is memory-mapped: its pages
are the OS's page cache, not the process's own memory, so RssAnon is what is bounded."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.apps.test_cli import BIN, ingest_daily
from tradelab.testing.memory import run_sampled

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)"),
]

# atr_d_l on `grid=full` is 66.69M combinations; one ATR and one or two Bollinger periods of it
SMALL = ("grid.params.atr_period=[14]", "grid.params.bb_period=[20]")
LARGE = ("grid.params.atr_period=[14,17]", "grid.params.bb_period=[20,26]")
MIB = 1 << 20


def _peak_anon(cmd: list[str], cwd: Path) -> int:
    """Run `cmd`; return its peak RssAnon in bytes (sampled every 20 ms)."""
    run = run_sampled(cmd, cwd, env={"HYDRA_FULL_ERROR": "0"}, timeout=900)
    assert run.returncode == 0, run.stderr[-3000:]
    return run.peak_anon


def _sweep(root: Path, tag: str, overrides: tuple[str, ...]) -> tuple[int, int, float]:
    store = root / f"{tag}.db"
    cmd = [
        str(BIN / "tradelab-wfo"),
        "symbol=SMH",
        "strategy=atr_d_l",
        "grid=full",
        "expand=false",
        "progress=false",
        "scoring.top_n=20000",  # the candidates table is bounded by top_n, not by the grid
        "phase_table_max_rows=100000",  # the compact cache and the manifest, as at full scale
        f"paths.results_dir={root / f'results_{tag}'}",
        f"tracking.uri=sqlite:///{store}",
        f"tracking.artifact_root={root / f'artifacts_{tag}'}",
        *overrides,
    ]
    peak = _peak_anon(cmd, root)
    client = MlflowClient(f"sqlite:///{store}")
    [parent] = client.search_runs(
        [client.get_experiment_by_name("wfo").experiment_id], "tags.kind = 'sweep'"
    )
    cache = sum(p.stat().st_size for p in (root / f"results_{tag}").rglob("*.npy"))
    return int(parent.data.metrics["grid_size"]), peak, cache / parent.data.metrics["grid_size"]


def test_peak_memory_does_not_grow_with_the_grid(tmp_path: Path) -> None:
    ingest_daily(tmp_path, f"tracking.uri=sqlite:///{tmp_path / 'ingest.db'}")
    n_small, small, per_small = _sweep(tmp_path, "small", SMALL)
    n_large, large, per_large = _sweep(tmp_path, "large", LARGE)
    assert n_large == 4 * n_small > 1_000_000
    grown = (large - small) / MIB
    # before the compact cache and chunked scoring: ~40 bytes more per combination (~130 MiB)
    assert grown < 40, f"peak anonymous memory {small / MIB:.0f} -> {large / MIB:.0f} MiB"
    # the compact phase cache: the four scoring metrics, float64 (32 B per phase)
    assert 4 * 32 <= per_large < 4 * 32 + 1 and 4 * 32 <= per_small < 4 * 32 + 1
