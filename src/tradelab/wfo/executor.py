"""Where a phase's combinations are simulated: in this process, or as tasks on Dask distributed.

`run_wfo(..., executor=None)` runs the chunks here (numba threads over the machine's cores).
`DaskExecutor` cuts the chunks still to do into tasks of `task_size` combinations (a task never
spans two chunks) and runs them on a Dask cluster, as Dask users do:

- the prepared phase (bars of the window, indicator matrices, digit tables: a few MB) is
  scattered to every worker once per phase (`Client.scatter(broadcast=True)`); a task carries
  only its combination range;
- a `WorkerPlugin` (`KernelWarmup`) runs one combination of the phase's kernel on every worker,
  present and future, before tasks arrive: numba loads the compiled kernel from the worker's own
  cache (`NUMBA_CACHE_DIR` of the worker, or beside the package) or compiles it once;
- the results go into the same phase cache as the local run, and the driver commits a chunk
  (manifest) once all of its tasks are in, in order: a sweep resumes whatever the executor,
  and the numbers are bit-identical (each combination is simulated alone by the same kernel).
  Workers that see the driver's results folder (a `LocalCluster`; `workers_write=True` for a
  shared filesystem) write their ranges into the cache's partial files themselves and only the
  range goes back; others return the arrays and the driver writes them;
- a worker that dies mid-task loses nothing: the scheduler runs its tasks again elsewhere
  (up to `distributed.scheduler.allowed-failures` times) and the driver writes each range once;
- task keys carry a token of this driver, so several drivers (a Hydra multirun) share a cluster.

`address=None` starts an in-process `LocalCluster` of `n_workers` single-threaded worker
processes (a laptop); `tcp://host:8786` joins a running scheduler.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from tradelab import faults
from tradelab.errors import ConfigError
from tradelab.kernels.enums import METRIC_NAMES, N_METRICS
from tradelab.wfo.engine import PreparedPhase, run_prepared
from tradelab.wfo.settings import ExecutorConfig, ExecutorKind

__all__ = [
    "ChunkSink",
    "DaskExecutor",
    "KernelWarmup",
    "evaluate_range",
    "open_executor",
    "task_ranges",
]

CHUNK_DONE = faults.declare(
    "wfo.chunk", "a WFO phase after its k-th chunk is committed to the cache (@k counts chunks)"
)
DEFAULT_TASK_SIZE = 131_072
_log = logging.getLogger(__name__)


class ChunkSink(Protocol):
    """The part of a phase's result store the executors fill (`PhaseCache`, or in memory)."""

    n_combos: int
    chunk_size: int
    chunks_done: int
    arrays: dict[str, np.ndarray]

    @property
    def n_chunks(self) -> int: ...

    def commit(self, chunks_done: int) -> None: ...


def evaluate_range(
    prep: PreparedPhase, start: int, stop: int, batch_size: int, threads: int = 0
) -> tuple[int, int, np.ndarray, np.ndarray, np.ndarray]:
    """Simulate combinations `start..stop-1` in kernel batches of `batch_size`; return
    `(start, stop, metrics (N_METRICS, m), block sums (m, S), block squares (m, S))`.
    `threads` > 0 caps numba's threads for this call (a single-threaded Dask worker)."""
    if threads > 0:
        import numba

        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    m = stop - start
    out = np.empty((N_METRICS, m))
    bsum = np.empty((m, prep.n_blocks))
    bsq = np.empty((m, prep.n_blocks))
    if m <= batch_size:  # one kernel call straight into the result (a task is one batch)
        run_prepared(prep, np.arange(start, stop, dtype=np.int64), out, bsum, bsq)
        return start, stop, out, bsum, bsq
    buf = np.empty(N_METRICS * batch_size)
    for s0 in range(start, stop, batch_size):
        s1 = min(s0 + batch_size, stop)
        o = buf[: N_METRICS * (s1 - s0)].reshape(N_METRICS, s1 - s0)  # C-contiguous rows
        i0, i1 = s0 - start, s1 - start
        run_prepared(prep, np.arange(s0, s1, dtype=np.int64), o, bsum[i0:i1], bsq[i0:i1])
        out[:, i0:i1] = o
    return start, stop, out, bsum, bsq


def evaluate_into(
    prep: PreparedPhase,
    start: int,
    stop: int,
    batch_size: int,
    threads: int,
    files: Mapping[str, str],
) -> tuple[int, int, None, None, None]:
    """`evaluate_range`, then write the results into the phase cache's partial files `files`
    (`PhaseCache.partial_files`): for workers that see the driver's results folder, so that
    nothing but the range goes back to the driver. No flush here: the pages are the file's
    (shared mappings), and the driver's commit flushes the whole file before its manifest
    claims the chunk."""
    _, _, out, bsum, bsq = evaluate_range(prep, start, stop, batch_size, threads)
    rows = {name: out[i] for i, name in enumerate(METRIC_NAMES)}  # files name those stored
    rows.update({"block_ret_sum": bsum, "block_ret_sq": bsq})
    for name, path in files.items():
        mapped = np.load(path, mmap_mode="r+")
        mapped[start:stop] = rows[name]
        del mapped
    return start, stop, None, None, None


def task_ranges(
    first: int, n_combos: int, chunk_size: int, task_size: int
) -> list[tuple[int, int]]:
    """Cut combinations `first..n_combos-1` into ranges of at most `task_size`, none crossing a
    chunk boundary (so each chunk is committed once its own ranges are in)."""
    out = []
    for c0 in range(first, n_combos, chunk_size):
        c1 = min(c0 + chunk_size, n_combos)
        out += [(s, min(s + task_size, c1)) for s in range(c0, c1, task_size)]
    return out


class KernelWarmup:
    """A Dask `WorkerPlugin`: on every worker, run one combination of a prepared phase so the
    kernel is loaded (or compiled into the worker's numba cache) before any task arrives."""

    def __init__(self, prep: PreparedPhase) -> None:
        self.prep = prep
        self.name = f"tradelab-warmup-{prep.kernel.__name__}"

    def setup(self, worker: Any) -> None:
        evaluate_range(self.prep, 0, 1, 1, threads=1)

    def teardown(self, worker: Any) -> None:
        pass

    def transition(self, key: Any, start: str, finish: str, **kwargs: Any) -> None:
        pass


def _warmup_plugin(prep: PreparedPhase) -> Any:
    from distributed import WorkerPlugin

    class _Plugin(KernelWarmup, WorkerPlugin):
        pass

    return _Plugin(prep)


@dataclass
class DaskExecutor:
    """Run a phase's chunks as Dask tasks (module doc). Use as a context manager."""

    address: str | None = None
    n_workers: int = 2
    task_size: int = DEFAULT_TASK_SIZE
    threads_per_task: int = 1
    workers_write: bool | None = None
    _client: Any = field(default=None, repr=False)
    _cluster: Any = field(default=None, repr=False)
    _token: str = field(default_factory=lambda: uuid.uuid4().hex[:12], repr=False)
    _warmed: set[str] = field(default_factory=set, repr=False)
    _quiet: contextlib.ExitStack = field(default_factory=contextlib.ExitStack, repr=False)

    def __post_init__(self) -> None:
        for name in ("n_workers", "task_size", "threads_per_task"):
            if getattr(self, name) < 1:
                raise ConfigError(f"executor.{name}", f"must be >= 1, got {getattr(self, name)}")

    def __enter__(self) -> DaskExecutor:
        from distributed import Client, LocalCluster

        self._quiet.enter_context(_quiet_distributed())
        if self.address is None:
            env = {"NUMBA_NUM_THREADS": str(self.threads_per_task)}
            if os.environ.get("NUMBA_CACHE_DIR"):
                env["NUMBA_CACHE_DIR"] = os.environ["NUMBA_CACHE_DIR"]
            self._cluster = LocalCluster(
                n_workers=self.n_workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=":0",
                env=env,
                silence_logs=logging.ERROR,
            )
            self._client = Client(self._cluster)
            _log.info(
                "Dask LocalCluster: %d worker processes x %d thread, dashboard %s",
                self.n_workers, self.threads_per_task, self._client.dashboard_link,
            )  # fmt: skip
        else:
            try:
                self._client = Client(self.address, timeout="20s")
            except OSError as exc:
                self._quiet.close()
                raise ConfigError(
                    "executor.address",
                    f"no Dask scheduler answers at {self.address} ({exc}): start one with "
                    "`dask scheduler` and workers with `dask worker <address>`, or leave "
                    "executor.address null for a local cluster",
                ) from None
            workers = len(self._client.scheduler_info().get("workers", {}))
            _log.info("Dask scheduler %s: %d workers", self.address, workers)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()
        self._client = self._cluster = None
        self._quiet.close()

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("DaskExecutor is not open: use it in a `with` block")
        return self._client

    def evaluate_chunks(
        self,
        prep: PreparedPhase,
        dest: ChunkSink,
        batch_size: int,
        advance: Callable[[int, str], Any],
    ) -> int:
        """Run the chunks `dest` has not done as tasks; write and commit them in order; return
        the number of combinations evaluated."""
        from distributed import as_completed

        n, chunk = dest.n_combos, dest.chunk_size
        first = min(dest.chunks_done * chunk, n)
        ranges = task_ranges(first, n, chunk, self.task_size)
        if not ranges:
            return 0
        client = self.client
        self.warm(prep)
        [shared] = client.scatter([prep], broadcast=True, hash=False)
        key = f"tradelab-wfo-{self._token}-{prep.phase.name}-{uuid.uuid4().hex[:6]}"
        args: tuple[Any, ...] = (batch_size, self.threads_per_task)
        run: Callable[..., Any] = evaluate_range
        files = getattr(dest, "partial_files", None)
        local = self.address is None if self.workers_write is None else self.workers_write
        if local and files is not None:  # workers write into the cache: ranges come back
            run, args = evaluate_into, (*args, {k: str(v) for k, v in files().items()})
        futures = [
            client.submit(run, shared, s0, s1, *args, key=f"{key}-{s0}", pure=False)
            for s0, s1 in ranges
        ]
        left = {c: 0 for c in range(dest.chunks_done, dest.n_chunks)}
        for s0, _ in ranges:
            left[s0 // chunk] += 1
        written: set[int] = set()
        n_eval, t0 = 0, time.perf_counter()
        try:
            for fut in as_completed(futures):
                s0, s1, out, bsum, bsq = fut.result()
                fut.release()
                if s0 in written:  # never happens with Dask's futures; a guard for the files
                    continue
                written.add(s0)
                if out is not None:
                    self._write(dest, s0, s1, out, bsum, bsq)
                left[s0 // chunk] -= 1
                n_eval += s1 - s0
                advance(s1 - s0, f"{n_eval / max(time.perf_counter() - t0, 1e-9):,.0f}/s")
                while dest.chunks_done < dest.n_chunks and left[dest.chunks_done] == 0:
                    dest.commit(dest.chunks_done + 1)
                    faults.fault(CHUNK_DONE)
        finally:
            client.cancel([f for f in futures if not f.done()])
            with contextlib.suppress(Exception):
                client.cancel(shared)
        return n_eval

    @staticmethod
    def _write(
        dest: ChunkSink, s0: int, s1: int, out: np.ndarray, bsum: np.ndarray, bsq: np.ndarray
    ) -> None:
        arrays = dest.arrays
        for i, name in enumerate(METRIC_NAMES):
            if name in arrays:  # the metrics the cache stores
                arrays[name][s0:s1] = out[i]
        if "block_ret_sum" in arrays:
            arrays["block_ret_sum"][s0:s1] = bsum
            arrays["block_ret_sq"][s0:s1] = bsq

    def warm(self, prep: PreparedPhase) -> None:
        """Check that every worker runs this code version, then load (or compile) `prep`'s
        kernel on every worker, now and on workers that join later: a `KernelWarmup` plugin,
        registered once per kernel."""
        self.check_code()
        plugin = _warmup_plugin(prep)
        if plugin.name not in self._warmed:
            self.client.register_plugin(plugin, name=plugin.name)
            self._warmed.add(plugin.name)

    def check_code(self) -> None:
        """Refuse workers whose tradelab computes other numbers than this process's (the cache
        key records this process's code version)."""
        from tradelab.wfo.cache import code_version

        here = code_version()
        other = {w: v for w, v in self.client.run(code_version).items() if v != here}
        if other:
            shown = ", ".join(f"{w} ({v})" for w, v in sorted(other.items()))
            raise ConfigError(
                "executor.address",
                f"Dask workers run another tradelab than this process ({here}): {shown}; "
                "install the same version on every worker",
            )


@contextlib.contextmanager
def _quiet_distributed() -> Any:
    """Keep Dask's own INFO lines (scheduler start, every worker and connection) out of the
    job's log; warnings still show, and so does everything under `hydra.verbose=distributed`
    (DEBUG)."""
    logger = logging.getLogger("distributed")
    level = logger.level
    if level not in (logging.NOTSET, logging.INFO):
        yield
        return
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def open_executor(config: ExecutorConfig) -> contextlib.AbstractContextManager[DaskExecutor | None]:
    """The executor `config` describes, to use in a `with` block (None: this process)."""
    if config.kind == ExecutorKind.local:
        return contextlib.nullcontext(None)
    return DaskExecutor(
        address=config.address,
        n_workers=config.n_workers,
        task_size=config.task_size,
        threads_per_task=config.threads_per_task,
        workers_write=config.workers_write,
    )
