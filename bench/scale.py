"""Scale benchmark: a slice of the seed-scale `full` grid, end to end through `tradelab-wfo`.

    python bench/scale.py [--strategy atr_d_l] [--fraction 0.1] [--no-baseline]

Ingests the synthetic market's daily SMH bars (16 years, the default) into a temporary folder,
then runs `tradelab-wfo symbol=SMH strategy=<s> grid=full expand=false` with the grid cut to
about `fraction` of the strategy's full size (the longest value lists are shortened, their
first values kept), as a user runs it: MLflow SQLite store, phase cache, reports; with
`phase_table_max_rows` below the slice, so that each slice keeps the compact cache (the scoring
metrics) and logs a manifest of it, as the whole grid does. Prints:

- peak resident memory of the app (VmHWM, mapped cache pages included) and its peak anonymous
  memory (RssAnon sampled every 50 ms: what the process itself allocates; the cache's memory
  maps are page cache the OS can drop);
- bytes per combination per phase in the phase cache and in the MLflow artifacts;
- kernel time (the sweep's `wall_s`), post-processing (everything else: start-up, scoring,
  stability, candidates, plateaus, statistics, exports, logging) and its share of the kernels;
- the extrapolation to the whole grid: time and disk scale with the combinations.

The baseline, run in the same process, is the same sweep on half the slice: the ratio of the
two peaks says whether memory grows with the grid (1.0: it does not; 2.0: it is linear).
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
# bench/statistics.py would shadow the standard library's `statistics` (imported by MLflow)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]

import yaml  # noqa: E402

from tradelab.testing.memory import run_sampled  # noqa: E402

ROOT = HERE.parent
BIN = Path(sys.executable).parent
N_PHASES = 4
PHASE_TABLE_MAX_ROWS = 100_000  # below every slice: each runs as the whole grid would


@dataclass
class Sweep:
    combinations: int
    wall_s: float
    kernel_s: float
    peak_rss: int
    peak_anon: int
    cache_bytes: int
    mlflow_bytes: int

    @property
    def post_s(self) -> float:
        return self.wall_s - self.kernel_s


def grid_levels(strategy: str) -> dict[str, tuple[object, int]]:
    """The `full` grid's entries (a list or a `{min, max, step}` range) of each parameter
    `strategy` has, with their number of values."""
    from tradelab.search.grid import Grid
    from tradelab.wfo.strategy import KIND_PARAMS, StrategyKind

    params = yaml.safe_load((ROOT / "conf/grid/full.yaml").read_text())["params"]
    grid = Grid.from_config(params)
    names = KIND_PARAMS[StrategyKind(strategy)]
    sizes = {n: len(levels) for n, levels in zip(grid.names, grid.levels, strict=True)}
    return {n: (params[n], sizes[n]) for n in grid.names if n in names}


def _first(entry: object, keep: int) -> object:
    """The first `keep` values of a grid entry, in the entry's own form."""
    if isinstance(entry, dict):
        return {**entry, "max": entry["min"] + (keep - 1) * entry["step"]}
    return list(entry)[:keep]  # type: ignore[call-overload]


def cut(levels: dict[str, tuple[object, int]], fraction: float) -> dict[str, object]:
    """Shorten the longest entries (keeping their first values) until the grid is about
    `fraction` of its size; return the shortened entries."""
    left, out = fraction, {}
    for name in sorted(levels, key=lambda n: -levels[n][1]):
        if left >= 0.97:
            break
        entry, n = levels[name]
        keep = max(1, round(n * left))
        out[name] = _first(entry, keep)
        left /= keep / n
    return out


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def _override(entry: object) -> str:
    if isinstance(entry, dict):
        return "{" + ",".join(f"{k}:{v}" for k, v in entry.items()) + "}"
    return "[" + ",".join(str(v) for v in entry) + "]"  # type: ignore[union-attr]


def sweep(workdir: Path, strategy: str, levels: dict[str, object], tag: str) -> Sweep:
    """Run one sweep in `workdir` (its own results and store) and measure it."""
    from mlflow import MlflowClient

    results = workdir / f"results_{tag}"
    store = workdir / "mlruns" / f"{tag}.db"
    artifacts = workdir / "mlruns" / f"artifacts_{tag}"
    cmd = [
        str(BIN / "tradelab-wfo"),
        "symbol=SMH",
        f"strategy={strategy}",
        "grid=full",
        "expand=false",
        "progress=false",
        # as the whole grid runs: the compact phase cache and a manifest of it in MLflow
        f"phase_table_max_rows={PHASE_TABLE_MAX_ROWS}",
        f"paths.results_dir={results}",
        f"tracking.uri=sqlite:///{store}",
        f"tracking.artifact_root={artifacts}",
        *(f"grid.params.{k}={_override(v)}" for k, v in levels.items()),
    ]
    run = run_sampled(cmd, workdir, interval=0.05)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    hwm, anon, wall = run.peak_rss, run.peak_anon, run.wall_s
    client = MlflowClient(f"sqlite:///{store}")
    exp = client.get_experiment_by_name("wfo")
    [parent] = client.search_runs([exp.experiment_id], "tags.kind = 'sweep'")
    return Sweep(
        combinations=int(parent.data.metrics["grid_size"]),
        wall_s=wall,
        kernel_s=float(parent.data.metrics["diagnostics/wall_s"]),
        peak_rss=hwm,
        peak_anon=anon,
        cache_bytes=_size(results),
        mlflow_bytes=_size(artifacts),
    )


def _gb(n: float) -> str:
    return f"{n / 1e9:.2f} GB"


def report(label: str, s: Sweep, full: int) -> None:
    per = s.combinations * N_PHASES
    scale = full / s.combinations
    print(f"\n{label}: {s.combinations:,} combinations x {N_PHASES} phases")
    print(
        f"  wall {s.wall_s:.1f} s = kernels {s.kernel_s:.1f} s + post-processing {s.post_s:.1f} s"
    )
    print(f"  post-processing / kernels: {100 * s.post_s / s.kernel_s:.0f}% (goal <= 25%)")
    print(f"  throughput: {per / s.kernel_s:,.0f} combination-phases/s in the kernels")
    print(
        f"  peak RSS {_gb(s.peak_rss)} (mapped cache included), peak anonymous {_gb(s.peak_anon)}"
    )
    print(
        f"  disk: cache {s.cache_bytes / per:.1f} B, MLflow {s.mlflow_bytes / per:.1f} B "
        "per combination per phase"
    )
    print(
        f"  whole grid ({full:,}): kernels ~{s.kernel_s * scale / 60:.1f} min, post-processing "
        f"~{s.post_s * scale / 60:.1f} min, cache ~{_gb(s.cache_bytes * scale)}, "
        f"MLflow ~{_gb(s.mlflow_bytes * scale)}"
    )


def extrapolate(big: Sweep, small: Sweep, full: int) -> None:
    """Fit time = fixed + per-combination cost on the two sweeps (start-up, compilation and
    one-off work do not grow with the grid) and print the whole grid's figures."""
    extra = big.combinations - small.combinations

    def fit(a: float, b: float) -> tuple[float, float]:
        per = (a - b) / extra
        return a - per * big.combinations, per

    k0, k1 = fit(big.kernel_s, small.kernel_s)
    p0, p1 = fit(big.post_s, small.post_s)
    kernels, post = k0 + k1 * full, p0 + p1 * full
    print(
        f"\nfit on the two sweeps: kernels {k0:.1f} s + {1e6 * k1:.1f} us/combination, "
        f"post-processing {p0:.1f} s + {1e6 * p1:.1f} us/combination"
    )
    print(
        f"whole grid ({full:,}): kernels ~{kernels / 60:.1f} min, post-processing "
        f"~{post / 60:.1f} min ({100 * post / kernels:.0f}% of the kernels), wall "
        f"~{(kernels + post) / 60:.1f} min"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--strategy", default="atr_d_l")
    parser.add_argument("--fraction", type=float, default=0.1)
    parser.add_argument("--no-baseline", action="store_true", help="skip the half-size sweep")
    args = parser.parse_args()
    levels = grid_levels(args.strategy)
    full = math.prod(n for _, n in levels.values())
    with tempfile.TemporaryDirectory(prefix="tradelab-scale-") as tmp:
        workdir = Path(tmp)
        ingest = [
            str(BIN / "tradelab-ingest"),
            "data.symbols=[SMH]",
            "data.minute_days=0",
            "timeframes=[1day]",
            "progress=false",
            f"tracking.uri=sqlite:///{workdir}/mlruns/ingest.db",
            f"tracking.artifact_root={workdir}/mlruns/artifacts_ingest",
        ]
        subprocess.run(ingest, cwd=workdir, check=True, capture_output=True)
        print(f"{args.strategy} x grid=full: {full:,} combinations x {N_PHASES} phases")
        slice_ = sweep(workdir, args.strategy, cut(levels, args.fraction), "slice")
        report(f"slice ({100 * args.fraction:g}% asked)", slice_, full)
        if not args.no_baseline:
            half = sweep(workdir, args.strategy, cut(levels, args.fraction / 2), "half")
            report(f"baseline: half the slice ({50 * args.fraction:g}%)", half, full)
            extrapolate(slice_, half, full)
            print(
                f"\npeak anonymous memory, slice / half: "
                f"{slice_.peak_anon / half.peak_anon:.2f}x for "
                f"{slice_.combinations / half.combinations:.2f}x the combinations "
                "(1.0: bounded; equal to the size ratio: linear)"
            )


if __name__ == "__main__":
    main()
