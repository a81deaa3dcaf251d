"""Optuna TPE through ask/tell in batches: one batch of trials is one evaluation call.

Studies persist and resume exactly (storage: `make_storage`; names: `name_study`, a hash of
what shapes the trials, the code included, so only the same job resumes a study):

- `n_trials` counts evaluated trials: complete ones, and those the objective excluded (NaN,
  told FAIL so that TPE does not learn from them). A rerun of a finished study evaluates
  nothing.
- A trial left RUNNING by a process that is gone is abandoned: `fail_abandoned` queues it
  again (`RetryHeartbeatStaleTrialCallback`, at most `max_retries` times) and fails it.
  Abandoned trials do not count; their retries do.
- Queued trials are evaluated first, as a batch of their own, so later batches start where an
  uninterrupted run's would. Each batch draws from a sampler seeded with the seed and the
  number of trials done, never from the start of the seed's stream again: a resumed study
  continues with the parameters an uninterrupted run would have drawn, not a replay of its
  first batch.
- Each trial records the process evaluating it (user attr `owner`, set before the trial
  leaves WAITING), so that a resume on this machine can tell a dead process from a live one.

Many processes on many machines join one study when started with the same `study_name` and a
database `storage` (a journal file: processes of one machine), e.g. on each of N machines:

    tradelab-tune study=kalman_residual search=optuna \
        search.storage=postgresql://user@host/db search.study_name=smallcaps-v1

- Exactly `n_trials` in total: a process plans its batch (fail stale trials, count, create its
  WAITING trials, ask them) holding the study's planning lock, so two processes never fill the
  same free places: `pg_advisory_xact_lock` on a hash of the study name for PostgreSQL
  (released with its transaction, also when the process dies), `flock` on `<file>.plan.lock`
  for a journal or SQLite file. Other databases have no planning lock: one process per study.
- Each trial that counts toward `n_trials` (evaluated, in flight, queued) holds a slot in
  `range(n_trials)` (user attr `slot`, kept by its retries): `BatchResult.index`, unique across
  processes and the order of `evaluated_trials`. With no slot free, a process waits for the
  trials others evaluate (when their loss would be noticed), so each returns the whole study.
- Databases beat a heartbeat for the trials in flight every `heartbeat_s` seconds; a trial
  whose heartbeat is older than `grace_s` (its process died, on any machine) is failed and
  queued again by Optuna's `fail_stale_trials` through the storage's retry callback. Whichever
  finds an abandoned trial first (a dead process of this machine, a stale heartbeat), it is
  queued again once: the callback skips a trial already queued. A live process whose trial was
  failed meanwhile drops its result (the retry is told instead).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import json
import logging
import math
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tradelab import faults
from tradelab.processes import ProcessId, process_gone
from tradelab.search.settings import STORAGE_AUTO, STORAGE_MEMORY, OptunaSearchConfig
from tradelab.search.space import SearchSpace
from tradelab.settings import to_plain

__all__ = [
    "BatchResult",
    "code_fingerprint",
    "evaluated_trials",
    "fail_abandoned",
    "logs_here",
    "make_storage",
    "name_study",
    "optimize_batched",
    "resolve_storage",
    "trial_metrics",
    "trial_worker",
]

log = logging.getLogger(__name__)

METRICS_ATTR = "metrics"  # user attr: the metrics an evaluation returned (one write per trial)
EXCLUDED_ATTR = "excluded"  # user attr: the objective excluded the trial (told FAIL)
OWNER_ATTR = "owner"  # user attr: `host:pid:start` of the process evaluating the trial
SLOT_ATTR = "slot"  # user attr: the trial's place in range(n_trials), kept by its retries
POLL_S = 0.5  # how often a process with no slot free looks at the trials others evaluate

BATCH_ASKED = faults.declare(
    "optuna.batch.asked", "an Optuna batch asked (trials RUNNING), before it is evaluated"
)
TRIAL_TOLD = faults.declare(
    "optuna.trial.told", "the k-th Optuna trial told (@k), before its MLflow trial run is logged"
)
BATCH_DONE = faults.declare(
    "optuna.batch.done", "an Optuna batch told and logged, before the next batch is asked"
)
RETRY_QUEUED = faults.declare(
    "optuna.resume.retry", "a resume: an abandoned trial queued again, before it is failed"
)

# Evaluate a batch of parameter dicts; return one objective value per dict (NaN: failed/excluded)
# and, optionally, metrics per dict to record with the trial.
BatchEvaluator = Callable[
    [list[dict[str, Any]]], tuple[Sequence[float], Sequence[Mapping[str, float]]]
]
# Open the study's planning lock (module doc) for a `with` block.
PlanLock = Callable[[], contextlib.AbstractContextManager[Any]]


@dataclass
class BatchResult:
    """One told trial: `number` is Optuna's, `index` its slot (its place among the `n_trials`
    evaluated trials, unique across the processes of the study)."""

    params: dict[str, Any]
    value: float
    metrics: Mapping[str, float]
    number: int
    index: int = -1


def resolve_storage(storage: str | None, journal: str | Path | None) -> str | None:
    """Turn `auto` into the journal file `journal` (None: memory); other values pass through."""
    if storage != STORAGE_AUTO:
        return storage
    return STORAGE_MEMORY if journal is None else f"journal:{Path(journal)}"


def make_storage(
    storage: str | None,
    *,
    heartbeat_s: int = OptunaSearchConfig.heartbeat_s,
    grace_s: int = OptunaSearchConfig.grace_s,
    max_retries: int = OptunaSearchConfig.max_retries,
) -> Any:
    """Open Optuna storage: None, `memory` or `auto` (memory), `journal:<file>`, a SQLAlchemy
    database URL (an `RDBStorage` with a heartbeat; its stale trials are queued again at most
    `max_retries` times)."""
    if storage is None or storage in (STORAGE_MEMORY, STORAGE_AUTO):
        return None
    if storage.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(storage.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    import optuna
    from optuna.exceptions import ExperimentalWarning

    with warnings.catch_warnings(), _schema_lock(storage):
        warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeat_interval
        return optuna.storages.RDBStorage(
            storage,
            engine_kwargs={"pool_pre_ping": True},
            heartbeat_interval=heartbeat_s,
            grace_period=grace_s,
            heartbeat_stale_trial_callback=_Requeue(max_retries),
        )


@contextlib.contextmanager
def _advisory_lock(engine: Any, name: str) -> Iterator[None]:
    """Hold PostgreSQL's transaction-level advisory lock on (a hash of) `name` for the body."""
    import sqlalchemy

    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
        yield


@contextlib.contextmanager
def _schema_lock(url: str) -> Iterator[None]:
    """On PostgreSQL, let one process at a time create Optuna's tables (others: no lock)."""
    import sqlalchemy
    from sqlalchemy.pool import NullPool

    if sqlalchemy.make_url(url).get_backend_name() != "postgresql":
        yield
        return
    engine = sqlalchemy.create_engine(url, poolclass=NullPool)
    try:
        with _advisory_lock(engine, "tradelab.optuna.schema"):
            yield
    finally:
        engine.dispose()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive `flock` on `path` for the body (released if the process dies)."""
    import fcntl  # POSIX; the lock of journal and SQLite files only

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _storage_file(storage: str | None) -> Path | None:
    """The journal or SQLite file of `storage` (None: in memory, or a database server)."""
    if storage is None or storage in (STORAGE_MEMORY, STORAGE_AUTO):
        return None
    if storage.startswith("journal:"):
        return Path(storage.removeprefix("journal:"))
    import sqlalchemy

    url = sqlalchemy.make_url(storage)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        return Path(url.database)  # type: ignore[arg-type]
    return None


def _plan_lock(storage: str | None, opened: Any, study_name: str) -> PlanLock:
    """The lock under which the processes of a study plan their batches (module doc)."""
    engine = getattr(opened, "engine", None)
    if engine is not None and engine.dialect.name == "postgresql":
        return functools.partial(_advisory_lock, engine, f"tradelab.optuna.plan:{study_name}")
    file = _storage_file(storage)
    if file is not None:
        return functools.partial(_file_lock, file.with_name(f"{file.name}.plan.lock"))
    if engine is not None:
        log.warning(
            "study %s: no planning lock on %s; run one process per study there",
            study_name,
            engine.dialect.name,
        )
    return contextlib.nullcontext


def _heartbeat_s(storage: Any) -> int | None:
    """The storage's heartbeat interval (None: it beats none)."""
    interval = getattr(storage, "get_heartbeat_interval", None)
    return None if interval is None else interval()


@contextlib.contextmanager
def _beating(storage: Any, trials: Sequence[Any]) -> Iterator[None]:
    """Record the heartbeat of `trials` every interval of the storage while the body runs."""
    interval = _heartbeat_s(storage)
    if interval is None or not trials:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(interval):
            for trial in trials:
                try:
                    storage.record_heartbeat(trial._trial_id)
                except Exception as exc:  # the next beat may get through
                    log.warning("heartbeat of trial %d not recorded: %s", trial.number, exc)

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _digest(part: Any) -> Any:
    """Plain data for hashing; arrays by the sha256 of their bytes and shape."""
    if isinstance(part, np.ndarray):
        data = np.ascontiguousarray(part)
        return f"array:{data.dtype}:{data.shape}:{hashlib.sha256(data.tobytes()).hexdigest()}"
    if isinstance(part, list | tuple):
        return [_digest(p) for p in part]
    if isinstance(part, dict):
        return {str(k): _digest(v) for k, v in part.items()}
    return to_plain(part)


_NOT_SHAPING = (
    "n_trials",
    "storage",
    "study_name",
    "max_retries",
    "stale_after_s",
    "heartbeat_s",
    "grace_s",
)


@functools.cache
def code_fingerprint(packages: tuple[str, ...]) -> str:
    """Hash the source of `tradelab`'s `packages` (e.g. `("kernels", "strategies")`)."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for package in sorted(packages):
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def name_study(
    prefix: str, search: OptunaSearchConfig, *parts: Any, code: tuple[str, ...] = ("search",)
) -> str:
    """Name a study `<prefix>-<hash>`: the hash of `parts` (settings, arrays of data), of the
    search settings that shape the trials (not `n_trials`: more trials continue it) and of the
    source of the packages `code` that compute them (results of other code never mix)."""
    shaping = {k: v for k, v in to_plain(search).items() if k not in _NOT_SHAPING}
    plain = [shaping, code_fingerprint(tuple(sorted({"search", *code}))), *map(_digest, parts)]
    blob = json.dumps(plain, sort_keys=True, default=str)
    return f"{prefix}-{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def trial_metrics(trial: Any) -> dict[str, float]:
    """Return the metrics an evaluation recorded on `trial` (a FrozenTrial)."""
    return {str(k): float(v) for k, v in (trial.user_attrs.get(METRICS_ATTR) or {}).items()}


def _retried(trials: Sequence[Any]) -> set[int]:
    """Numbers of the trials that were queued again (the last of each retry history)."""
    return {
        t.system_attrs["retry_history"][-1] for t in trials if t.system_attrs.get("retry_history")
    }


def _counts(trial: Any, retried: set[int]) -> bool:
    """Say whether `trial` counts toward `n_trials`: evaluated, in flight or queued."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING):
        return True
    excluded = trial.state == TrialState.FAIL and bool(trial.user_attrs.get(EXCLUDED_ATTR))
    return excluded and trial.number not in retried  # a retried trial was abandoned


def _slots(
    trials: Sequence[Any], retried: set[int], n_trials: int
) -> tuple[dict[int, int], list[int]]:
    """The slot of each trial that counts ({number: slot}) and the free slots; trials of
    studies begun before slots hold the first free ones, in order."""
    counted = [t for t in trials if _counts(t, retried)]
    held = {t.number: int(t.user_attrs[SLOT_ATTR]) for t in counted if SLOT_ATTR in t.user_attrs}
    free = sorted(set(range(max(n_trials, len(counted)))) - set(held.values()))
    for trial in counted:
        if trial.number not in held:
            held[trial.number] = free.pop(0)
    return held, free


def evaluated_trials(study: Any, n_trials: int | None = None) -> list[Any]:
    """Return the study's evaluated trials by slot (module doc), the first `n_trials` if given."""
    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    slot, _ = _slots(trials, retried, 0)
    done = [t for t in trials if t.state.is_finished() and _counts(t, retried)]
    out = sorted(done, key=lambda t: (slot[t.number], t.number))
    return out if n_trials is None else out[:n_trials]


def trial_worker(trial: Any) -> str:
    """The process that evaluated `trial` (`host:pid:start`; "" for studies without owners)."""
    return str(trial.user_attrs.get(OWNER_ATTR, ""))


def logs_here(worker: str) -> bool:
    """Say whether this process logs the run of a trial `worker` evaluated: its own, and those
    of processes of this machine that are gone (they may have died before logging). The live
    processes of a study, here or on other machines, each log their own trials, so that every
    trial's run is logged once however many processes share the study."""
    owner = ProcessId.parse(worker)
    if owner is None or owner == ProcessId.current():
        return True
    return owner.here and process_gone(owner) is not None


@dataclass(frozen=True)
class _Requeue:
    """Queue a failed trial again, at most `max_retries` times and only once (whoever finds it
    abandoned first); the retry keeps its slot, not the results the lost attempt recorded."""

    max_retries: int

    def __call__(self, study: Any, trial: Any) -> None:
        from optuna.exceptions import ExperimentalWarning
        from optuna.storages import RetryHeartbeatStaleTrialCallback

        if trial.number in _retried(study.get_trials(deepcopy=False)):
            return
        clean = copy.deepcopy(trial)
        clean.user_attrs = {
            k: v for k, v in trial.user_attrs.items() if k not in (METRICS_ATTR, EXCLUDED_ATTR)
        }
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ExperimentalWarning)
            RetryHeartbeatStaleTrialCallback(max_retry=self.max_retries)(study, clean)


def _stale(trial: Any, stale_after_s: float | None) -> bool:
    """Say whether a RUNNING trial's process is gone (module doc)."""
    owner = ProcessId.parse(str(trial.user_attrs.get(OWNER_ATTR, "")))
    if owner is not None and owner.here:
        return process_gone(owner) is not None
    if stale_after_s is None or trial.datetime_start is None:
        return False
    return time.time() - trial.datetime_start.timestamp() > stale_after_s


def fail_abandoned(
    study: Any, *, max_retries: int = 2, stale_after_s: float | None = None
) -> list[int]:
    """Queue again and fail each trial a dead process left RUNNING; return their numbers."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    stale = [t for t in trials if t.state == TrialState.RUNNING and _stale(t, stale_after_s)]
    return _abandon(study, stale, max_retries)


def _abandon(study: Any, trials: Sequence[Any], max_retries: int) -> list[int]:
    """Queue each of `trials` again (unless it already was), then fail it."""
    from optuna.trial import TrialState

    requeue = _Requeue(max_retries)
    for trial in trials:
        requeue(study, trial)
        faults.fault(RETRY_QUEUED)
        study.tell(trial.number, state=TrialState.FAIL, skip_if_finished=True)
    if trials:
        log.warning(
            "study %s: trials %s were left RUNNING by a process that is gone: failed and queued "
            "again",
            study.study_name,
            [t.number for t in trials],
        )
    return [t.number for t in trials]


def _fail_stale_heartbeats(study: Any) -> None:
    """Fail the trials whose heartbeat stopped; the storage's `_Requeue` queues them again."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import fail_stale_trials

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        fail_stale_trials(study)


def _sampler(seed: int, done: int, n_startup_trials: int, given_up: int = 0) -> Any:
    """A TPE sampler seeded from `seed`, the number of trials done and of abandoned trials no
    longer retried (so that parameters that kill the process are not drawn again)."""
    import optuna

    entropy = [seed, done] if given_up == 0 else [seed, done, given_up]
    state = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    return optuna.samplers.TPESampler(seed=state, n_startup_trials=n_startup_trials)


@dataclass
class _Batch:
    """The next batch: its size, the trials evaluated and in flight elsewhere before it."""

    size: int  # 0: no slot is free; other processes evaluate the last trials
    done: int
    running: int  # trials other live processes are evaluating
    given_up: int  # abandoned trials not queued again (out of retries)
    new: list[int]  # the slots of the trials to create (the others are queued already)
    slots: dict[int, int]  # {number: slot} of the trials that count


def _next_batch(trials: Sequence[Any], n_trials: int, batch_size: int) -> _Batch | None:
    """Plan the next batch: queued trials first, alone; None once `n_trials` are evaluated."""
    from optuna.trial import TrialState

    retried = _retried(trials)
    done = sum(t.state.is_finished() and _counts(t, retried) for t in trials)
    if done >= n_trials:
        return None
    running = sum(t.state == TrialState.RUNNING for t in trials)  # other processes'
    queued = sum(t.state == TrialState.WAITING for t in trials)
    given_up = sum(
        t.state == TrialState.FAIL
        and not t.user_attrs.get(EXCLUDED_ATTR)
        and t.number not in retried
        for t in trials
    )
    slots, free = _slots(trials, retried, n_trials)
    left = max(0, n_trials - done - running)
    if queued:
        return _Batch(min(batch_size, left, queued), done, running, given_up, [], slots)
    new = free[: min(batch_size, left)]
    return _Batch(len(new), done, running, given_up, new, slots)


def _ask(study: Any, storage: Any, batch: _Batch) -> list[tuple[Any, int]]:
    """Create the batch's new trials (WAITING, owned by this process), beat the heartbeat of
    the trials it takes and ask for each (planning lock held); return them with their slots."""
    import optuna
    from optuna.trial import TrialState

    me = str(ProcessId.current())
    for slot in batch.new:
        study.add_trial(
            optuna.trial.create_trial(
                state=TrialState.WAITING, user_attrs={OWNER_ATTR: me, SLOT_ATTR: slot}
            )
        )
    if _heartbeat_s(storage) is not None:  # beaten before RUNNING: never RUNNING unbeaten
        for waiting in study.get_trials(deepcopy=False, states=(TrialState.WAITING,))[: batch.size]:
            storage.record_heartbeat(waiting._trial_id)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Heartbeat of storage")  # we beat, not Study.optimize
        trials = [study.ask() for _ in range(batch.size)]  # the oldest WAITING: those above
    asked = []
    for trial in trials:
        if trial.user_attrs.get(OWNER_ATTR) != me:
            trial.set_user_attr(OWNER_ATTR, me)
        if SLOT_ATTR not in trial.user_attrs:  # queued by a process that predates slots
            trial.set_user_attr(SLOT_ATTR, batch.slots[trial.number])
        asked.append((trial, int(trial.user_attrs[SLOT_ATTR])))
    return asked


def _tell(study: Any, trial: Any, value: float, metrics: Mapping[str, float]) -> bool:
    """Record a result; False when another process has failed the trial meanwhile."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    wanted = TrialState.FAIL if math.isnan(value) else TrialState.COMPLETE
    try:
        trial.set_user_attr(METRICS_ATTR, {str(k): float(v) for k, v in metrics.items()})
        if wanted == TrialState.FAIL:
            trial.set_user_attr(EXCLUDED_ATTR, True)
            told = study.tell(trial, state=wanted)  # raises if failed meanwhile
        else:
            told = study.tell(trial, value, skip_if_finished=True)
    except (UpdateFinishedTrialError, ValueError):  # ValueError: "Cannot tell a FAIL trial"
        told = None
    if told is None or told.state != wanted:
        log.warning("trial %d was failed by another process; its result is dropped", trial.number)
        return False
    return True


def _ends(trials: Sequence[Any], heartbeat: bool, stale_after_s: float | None) -> bool:
    """Say whether each trial in flight will end: told, or failed once its process is gone."""
    from optuna.trial import TrialState

    if heartbeat or stale_after_s is not None:
        return True
    owners = [
        ProcessId.parse(str(t.user_attrs.get(OWNER_ATTR, "")))
        for t in trials
        if t.state == TrialState.RUNNING
    ]
    return all(owner is not None and owner.here for owner in owners)


def optimize_batched(
    space: SearchSpace,
    evaluate: BatchEvaluator,
    *,
    n_trials: int,
    batch_size: int = 8,
    direction: str = "maximize",
    seed: int = 42,
    storage: str | None = None,
    study_name: str | None = None,
    n_startup_trials: int = 10,
    suggest: Callable[[Any], dict[str, Any]] | None = None,
    on_result: Callable[[BatchResult], None] | None = None,
    max_retries: int = 2,
    stale_after_s: float | None = None,
    heartbeat_s: int = OptunaSearchConfig.heartbeat_s,
    grace_s: int = OptunaSearchConfig.grace_s,
) -> Any:
    """Run a TPE study to `n_trials` evaluated trials and return it (module doc).

    A study with `storage` and `study_name` resumes, or is joined by other processes.
    `suggest(trial)` replaces the plain space suggestion (conditional spaces). `on_result`
    hears of each trial this call tells. With a database the heartbeat (`heartbeat_s`,
    `grace_s`) replaces `stale_after_s`.
    """
    import optuna

    opened = make_storage(
        storage, heartbeat_s=heartbeat_s, grace_s=grace_s, max_retries=max_retries
    )
    study = optuna.create_study(
        direction=direction,
        sampler=_sampler(seed, 0, n_startup_trials),
        storage=opened,
        study_name=study_name,
        load_if_exists=study_name is not None,
    )
    lock = _plan_lock(storage, opened, study.study_name)
    heartbeat = _heartbeat_s(opened) is not None
    stale_after = None if heartbeat else stale_after_s
    while True:
        with lock():
            fail_abandoned(study, max_retries=max_retries, stale_after_s=stale_after)
            if heartbeat:
                _fail_stale_heartbeats(study)
            trials = study.get_trials(deepcopy=False)
            batch = _next_batch(trials, n_trials, batch_size)
            if batch is None:
                return study
            asked: list[tuple[Any, int]] = []
            if batch.size:
                given_up = batch.given_up
                study.sampler = _sampler(
                    seed, batch.done + batch.running, n_startup_trials, given_up
                )
                asked = _ask(study, opened, batch)
        if not asked:  # the last trials are in flight elsewhere
            if not _ends(trials, heartbeat, stale_after):
                return study
            time.sleep(POLL_S)
            continue
        try:
            with _beating(opened, [trial for trial, _ in asked]):
                _run_batch(study, asked, space, evaluate, suggest, on_result)
        except BaseException:
            with lock():
                _abandon_own(study, asked, max_retries)
            raise
        faults.fault(BATCH_DONE)


def _run_batch(
    study: Any,
    asked: list[tuple[Any, int]],
    space: SearchSpace,
    evaluate: BatchEvaluator,
    suggest: Callable[[Any], dict[str, Any]] | None,
    on_result: Callable[[BatchResult], None] | None,
) -> None:
    """Suggest, evaluate in one call, tell each trial and report it."""
    params = [(suggest or space.suggest)(trial) for trial, _ in asked]
    faults.fault(BATCH_ASKED)
    values, metrics = evaluate(params)
    if len(values) != len(asked):
        raise ValueError(f"evaluator returned {len(values)} values for {len(asked)} trials")
    for (trial, slot), chosen, value, mets in zip(
        asked, params, values, metrics or [{}] * len(asked)
    ):
        value = float(value)
        if not _tell(study, trial, value, mets):
            continue
        faults.fault(TRIAL_TOLD)
        if on_result is not None:
            on_result(BatchResult(chosen, value, mets, trial.number, slot))


def _abandon_own(study: Any, asked: list[tuple[Any, int]], max_retries: int) -> None:
    """Queue again and fail this batch's untold trials (an error or Ctrl-C stopped it)."""
    from optuna.trial import TrialState

    numbers = {trial.number for trial, _ in asked}
    untold = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if t.number in numbers
    ]
    _abandon(study, untold, max_retries)
