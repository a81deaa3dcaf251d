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
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
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
    "make_storage",
    "name_study",
    "optimize_batched",
    "resolve_storage",
    "trial_metrics",
]

log = logging.getLogger(__name__)

METRICS_ATTR = "metrics"  # user attr: the metrics an evaluation returned (one write per trial)
EXCLUDED_ATTR = "excluded"  # user attr: the objective excluded the trial (told FAIL)
OWNER_ATTR = "owner"  # user attr: `host:pid:start` of the process evaluating the trial

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


@dataclass
class BatchResult:
    """One told trial: `number` is Optuna's, `index` its place among the evaluated trials."""

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


def make_storage(storage: str | None) -> Any:
    """Open Optuna storage: None, `memory` or `auto` (memory), `journal:<file>`, a DB URL."""
    if storage is None or storage in (STORAGE_MEMORY, STORAGE_AUTO):
        return None
    if storage.startswith("journal:"):
        from optuna.storages import JournalStorage
        from optuna.storages.journal import JournalFileBackend

        path = Path(storage.removeprefix("journal:"))
        path.parent.mkdir(parents=True, exist_ok=True)
        return JournalStorage(JournalFileBackend(str(path)))
    return storage


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


_NOT_SHAPING = ("n_trials", "storage", "study_name", "max_retries", "stale_after_s")


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


def evaluated_trials(study: Any, n_trials: int | None = None) -> list[Any]:
    """Return the study's evaluated trials in order (module doc), the first `n_trials` if given."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)

    def evaluated(t: Any) -> bool:
        if t.state == TrialState.COMPLETE:
            return True
        excluded = t.state == TrialState.FAIL and bool(t.user_attrs.get(EXCLUDED_ATTR))
        return excluded and t.number not in retried  # a retried trial was abandoned

    out = [t for t in trials if evaluated(t)]
    return out if n_trials is None else out[:n_trials]


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
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    stale = [t for t in trials if t.state == TrialState.RUNNING and _stale(t, stale_after_s)]
    return _abandon(study, stale, max_retries, _retried(trials), RetryHeartbeatStaleTrialCallback)


def _abandon(
    study: Any, trials: Sequence[Any], max_retries: int, retried: set[int], retry_cls: type
) -> list[int]:
    """Queue each of `trials` again (unless it already was), then fail it."""
    from optuna.exceptions import ExperimentalWarning
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ExperimentalWarning)
        retry = retry_cls(max_retry=max_retries)
    for trial in trials:
        if trial.number not in retried:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)
                retry(study, trial)
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

    size: int
    done: int
    running: int  # trials other live processes are evaluating
    given_up: int  # abandoned trials not queued again (out of retries)
    new: int  # trials to create (the others are queued already)


def _next_batch(study: Any, n_trials: int, batch_size: int) -> _Batch | None:
    """Plan the next batch: queued trials first, alone; None once `n_trials` are done."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = _retried(trials)
    done = len(evaluated_trials(study))
    running = sum(t.state == TrialState.RUNNING for t in trials)  # other live processes'
    queued = sum(t.state == TrialState.WAITING for t in trials)
    given_up = sum(
        t.state == TrialState.FAIL
        and not t.user_attrs.get(EXCLUDED_ATTR)
        and t.number not in retried
        for t in trials
    )
    left = n_trials - done - running
    if left <= 0:
        return None
    if queued:
        return _Batch(min(batch_size, left, queued), done, running, given_up, 0)
    size = min(batch_size, left)
    return _Batch(size, done, running, given_up, size)


def _ask(study: Any, batch: _Batch) -> list[Any]:
    """Create the batch's new trials (WAITING, owned by this process) and ask for each."""
    import optuna

    me = str(ProcessId.current())
    for _ in range(batch.new):
        study.add_trial(
            optuna.trial.create_trial(
                state=optuna.trial.TrialState.WAITING, user_attrs={OWNER_ATTR: me}
            )
        )
    trials = [study.ask() for _ in range(batch.size)]
    for trial in trials:
        if trial.user_attrs.get(OWNER_ATTR) != me:
            trial.set_user_attr(OWNER_ATTR, me)
    return trials


def _tell(study: Any, trial: Any, value: float, metrics: Mapping[str, float]) -> bool:
    """Record a result; False when another process has failed the trial meanwhile."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    wanted = TrialState.FAIL if math.isnan(value) else TrialState.COMPLETE
    try:
        trial.set_user_attr(METRICS_ATTR, {str(k): float(v) for k, v in metrics.items()})
        if wanted == TrialState.FAIL:
            trial.set_user_attr(EXCLUDED_ATTR, True)
            told = study.tell(trial, state=wanted, skip_if_finished=True)
        else:
            told = study.tell(trial, value, skip_if_finished=True)
    except UpdateFinishedTrialError:
        told = None
    if told is None or told.state != wanted:
        log.warning("trial %d was failed by another process; its result is dropped", trial.number)
        return False
    return True


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
) -> Any:
    """Run a TPE study to `n_trials` evaluated trials and return it (module doc).

    A study with `storage` and `study_name` resumes. `suggest(trial)` replaces the plain space
    suggestion (conditional spaces). `on_result` hears of each trial told in this call.
    """
    import optuna

    study = optuna.create_study(
        direction=direction,
        sampler=_sampler(seed, 0, n_startup_trials),
        storage=make_storage(storage),
        study_name=study_name,
        load_if_exists=study_name is not None,
    )
    fail_abandoned(study, max_retries=max_retries, stale_after_s=stale_after_s)
    while (batch := _next_batch(study, n_trials, batch_size)) is not None:
        study.sampler = _sampler(seed, batch.done + batch.running, n_startup_trials, batch.given_up)
        trials = _ask(study, batch)
        try:
            _run_batch(study, trials, batch, space, evaluate, suggest, on_result)
        except BaseException:
            _abandon_own(study, trials, max_retries)
            raise
        faults.fault(BATCH_DONE)
    return study


def _run_batch(
    study: Any,
    trials: list[Any],
    batch: _Batch,
    space: SearchSpace,
    evaluate: BatchEvaluator,
    suggest: Callable[[Any], dict[str, Any]] | None,
    on_result: Callable[[BatchResult], None] | None,
) -> None:
    """Suggest, evaluate in one call, tell each trial and report it."""
    params = [(suggest or space.suggest)(t) for t in trials]
    faults.fault(BATCH_ASKED)
    values, metrics = evaluate(params)
    if len(values) != len(trials):
        raise ValueError(f"evaluator returned {len(values)} values for {len(trials)} trials")
    index = batch.done
    for trial, chosen, value, mets in zip(trials, params, values, metrics or [{}] * len(trials)):
        value = float(value)
        if not _tell(study, trial, value, mets):
            continue
        faults.fault(TRIAL_TOLD)
        if on_result is not None:
            on_result(BatchResult(chosen, value, mets, trial.number, index))
        index += 1


def _abandon_own(study: Any, trials: list[Any], max_retries: int) -> None:
    """Queue again and fail this batch's untold trials (an error or Ctrl-C stopped it)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    numbers = {t.number for t in trials}
    untold = [
        t
        for t in study.get_trials(deepcopy=False)
        if t.number in numbers and t.state == TrialState.RUNNING
    ]
    retried = _retried(study.get_trials(deepcopy=False))
    _abandon(study, untold, max_retries, retried, RetryHeartbeatStaleTrialCallback)
