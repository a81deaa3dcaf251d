"""Promotion as an operation: candidates from tracked runs, the rule, the registry, the
production files and the audit log.

Order of a promotion: decide -> journal the intent -> register the version (reused when the
source run already has one) -> move the aliases -> write the production files from the
champion -> audit -> journal it done (`tradelab.promotion.journal`). A run that finds an intent
a crash left unfinished finishes it first, exactly as the interrupted run would have, so the
audit log and `@previous` do not depend on where a crash hit. Every run ends with the
production files saying what `@champion` says (a difference is reconciled, journaled the same
way), and a run with nothing new changes nothing.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradelab.promotion.families import FamilySpec
from tradelab.promotion.journal import (
    Intent,
    begin,
    complete,
    plan_from_champion,
    planned_paths,
    unfinished,
)
from tradelab.promotion.production import changed_files, journal_lock, read_audit
from tradelab.promotion.registry import CHAMPION, PREVIOUS, ModelRegistry
from tradelab.promotion.rules import (
    Candidate,
    Champion,
    Check,
    Decision,
    Gates,
    Verdict,
    decide,
    pick_best,
)
from tradelab.promotion.settings import CandidateScope, Scope
from tradelab.tracking.base import VALIDITY, Job, RunRecord, RunStatus, Tracker
from tradelab.tracking.lineage import DVC_EXPERIMENT_TAG, DVC_STAGE_TAG, INVOCATION_TAG

__all__ = [
    "CANDIDATE_TAG",
    "PARENT_METRICS",
    "PromotionResult",
    "find_candidates",
    "promote_target",
    "rollback_target",
    "targets_of",
]

CANDIDATE_TAG = "candidate"
# metrics of a sweep's parent run that candidates inherit (overfitting statistics)
PARENT_METRICS = tuple(
    VALIDITY + k for k in ("pbo", "deflated_sharpe", "n_trials", "effective_trials")
)
GRID_SIZE_METRIC = "grid_size"  # a sweep's combinations (WFO jobs log it)
_MAX_CANDIDATES = 5000


@dataclass
class PromotionResult:
    """What one promotion or rollback decided and changed."""

    family: str
    target: str
    decision: Decision
    champion: str | None = None
    candidate_run: str | None = None
    changed: list[str] = field(default_factory=list)
    recovered: bool = False  # finished an intent a crash had interrupted


def targets_of(tracker: Tracker, family: str) -> list[str]:
    """Return the targets with an experiment `<family>/<target>`."""
    return tracker.targets(family)


def _job_context(tracker: Tracker, run: RunRecord) -> dict[str, Any]:
    """The resolved config (artifact `config.yaml`) and params of a job's parent run."""
    context: dict[str, Any] = {"params": dict(run.params), "config": {}}
    with contextlib.suppress(FileNotFoundError):  # a job without its config: no context
        context["config"] = tracker.load_dict(run.run_id, "config.yaml") or {}
    return context


@dataclass(frozen=True)
class _Found:
    """A candidate and the job (parent run) that logged it."""

    candidate: Candidate
    job: RunRecord | None

    def tag(self, key: str) -> str | None:
        """Return the job's tag `key` (the candidate's own without a job)."""
        return (self.job.tags if self.job else self.candidate.tags).get(key)

    @property
    def invocation(self) -> str:
        """The app invocation that logged it (a job without the tag is its own invocation)."""
        return self.tag(INVOCATION_TAG) or (self.job or self.candidate).run_id


@dataclass(frozen=True)
class _Selection:
    candidates: list[Candidate]
    rule: str  # which runs competed, said in the decision's reason


def _gather(tracker: Tracker, experiment: str, target: str) -> list[_Found]:
    """Return the finished candidates of `experiment` whose job finished, newest first, with
    their parent's statistics and the parent job's resolved config as context."""
    runs = tracker.find_runs(
        experiment,
        tags={CANDIDATE_TAG: "true"},
        status=RunStatus.FINISHED,
        limit=_MAX_CANDIDATES,
    )
    parents: dict[str, tuple[RunRecord, dict[str, Any]] | None] = {}
    out = []
    for run in runs:
        metrics = dict(run.metrics)
        context: dict[str, Any] = {}
        job = None
        if run.parent_id:
            if run.parent_id not in parents:
                parent = tracker.get_run(run.parent_id)
                finished = parent.status is RunStatus.FINISHED
                parents[run.parent_id] = (
                    (parent, _job_context(tracker, parent)) if finished else None
                )
            known = parents[run.parent_id]
            if known is None:
                continue  # a candidate of a failed or unfinished job is not a candidate
            job, context = known
            for key in PARENT_METRICS:
                if key in job.metrics and key not in metrics:
                    metrics[key] = job.metrics[key]
        candidate = Candidate(
            run.run_id, target, metrics, dict(run.params), dict(run.tags), context
        )
        out.append(_Found(candidate, job))
    return out


def _latest_invocations(pool: list[_Found], per_stage: bool) -> tuple[list[_Found], str]:
    """Keep the latest invocation of `pool` (newest first), or of each DVC stage in it."""
    latest: dict[str | None, str] = {}
    for found in pool:
        latest.setdefault(found.tag(DVC_STAGE_TAG) if per_stage else None, found.invocation)
    kept = [f for f in pool if latest[f.tag(DVC_STAGE_TAG) if per_stage else None] == f.invocation]
    jobs = {f.job.run_id for f in kept if f.job}
    which = ", ".join(f"{stage}: {inv}" if stage else inv for stage, inv in latest.items())
    return kept, f"{which}; {len(jobs)} job(s), {len(kept)} candidate(s)"


def _grid_size(found: _Found) -> float | None:
    """The number of combinations the candidate's sweep evaluated (None: not logged)."""
    if found.job is None:
        return None
    value = found.job.metrics.get(GRID_SIZE_METRIC)
    return None if value is None or math.isnan(value) else value


def _without_verification_runs(found: list[_Found], min_grid_size: int) -> tuple[list[_Found], str]:
    """Leave out the candidates of sweeps smaller than `min_grid_size` (`Scope`); say so."""
    small = [(_grid_size(f) or min_grid_size) < min_grid_size for f in found]
    if not any(small):
        return found, ""
    jobs = {f.job.run_id for f, s in zip(found, small, strict=True) if s and f.job}
    note = (
        f"; {len(jobs)} verification run(s) of fewer than {min_grid_size} combinations left "
        "out (they re-check a configuration a sweep found; promote from the sweep)"
    )
    return [f for f, s in zip(found, small, strict=True) if not s], note


def _select(tracker: Tracker, family: str, target: str, scope: Scope) -> _Selection:
    """Return the candidates of `<family>/<target>` that compete under `scope` (see `Scope`)."""
    experiment = f"{family}/{target}"
    found, note = _without_verification_runs(
        _gather(tracker, experiment, target), scope.min_grid_size
    )
    if scope.candidates is CandidateScope.all:
        fresh = _on_latest_data(tracker, experiment, [f.candidate for f in found])
        return _Selection(
            fresh, f"every finished candidate of {experiment} on the latest data{note}"
        )
    where, per_stage = f"the latest invocation of {experiment}", False
    if scope.dvc_experiment:
        mine = [f for f in found if f.tag(DVC_EXPERIMENT_TAG) == scope.dvc_experiment]
        label = f"DVC experiment {scope.dvc_experiment!r}"
        if mine or not scope.pipeline:
            found, per_stage = mine, True
            where = f"the latest invocation of each stage of {label} in {experiment}"
        else:
            where = f"{label} ran nothing for {target}: the latest pipeline stage runs"
    if scope.pipeline and not per_stage:
        found, per_stage = [f for f in found if f.tag(DVC_STAGE_TAG)], True
        if not scope.dvc_experiment:
            where = f"the latest invocation of each DVC stage in {experiment}"
    if not found:
        return _Selection([], f"{where} (none){note}")
    kept, detail = _latest_invocations(found, per_stage)
    return _Selection([f.candidate for f in kept], f"{where} ({detail}){note}")


def find_candidates(
    tracker: Tracker, family: str, target: str, scope: Scope | None = None
) -> list[Candidate]:
    """Return the finished candidate runs of `<family>/<target>` that compete under `scope`
    (default: the latest sweep), with their parents' statistics and the parent job's resolved
    config as context."""
    return _select(tracker, family, target, scope or Scope()).candidates


def _latest_data_hash(tracker: Tracker, experiment: str) -> str | None:
    """The data hash of the most recent finished job (top-level run) that names its data."""
    jobs = tracker.find_runs(experiment, status=RunStatus.FINISHED, top_level=True, limit=50)
    for job in jobs:
        data_hash = job.tags.get("data_hash")
        if data_hash and data_hash != "none":
            return data_hash
    return None


def _on_latest_data(
    tracker: Tracker, experiment: str, candidates: list[Candidate]
) -> list[Candidate]:
    """Keep the candidates computed on the data of the most recent finished job: results on
    older (or other) data never compete with fresh ones."""
    latest = _latest_data_hash(tracker, experiment)
    if latest is None:
        return candidates
    return [c for c in candidates if c.tags.get("data_hash", latest) == latest]


def _log_decision(
    tracker: Tracker,
    spec: FamilySpec,
    target: str,
    decision: Decision,
    candidate: Candidate | None,
    champion_version: str | None,
    action: str,
) -> Job:
    """Start the run recording a decision in `promotion/<family>.<target>`."""
    tags = {
        "kind": "decision",
        "decision_family": spec.name,
        "decision_target": target,
        "verdict": decision.verdict.value,
        "reason": decision.reason[:5000],
        "candidate_run": candidate.run_id if candidate else "none",
        "champion_version": champion_version or "none",
    }
    job = tracker.start_job(
        f"promotion/{spec.name}.{target}",
        _decision_run_name(action, decision.verdict.value),
        tags=tags,
    )
    job.log_params({c.name: c.detail for c in decision.checks})
    if candidate is not None:
        job.log_metrics({k: v for k, v in candidate.metrics.items() if not math.isnan(v)})
    return job


def _decision_run_name(action: str, verdict: str) -> str:
    """`promote`, `refuse`, `keep` for a promotion; `rollback promote`, ... for another action."""
    return verdict if action == "promote" else f"{action} {verdict}"


def _stale_note(decision: Decision, champion_version: str, data_hash: str | None) -> Decision:
    """Say in the decision that the champion it ignored was measured on other data."""
    note = f"champion version {champion_version} was measured on other data ({data_hash})"
    reason = decision.reason.replace("first champion", "fresh result", 1)
    return Decision(decision.verdict, f"{reason}; {note}", decision.checks)


def _no_model_beats_the_baselines(spec: FamilySpec, candidates: Sequence[Candidate]) -> str | None:
    """Why no model may be promoted when a baseline is the best candidate (None otherwise)."""
    best = pick_best(candidates, spec.objective)
    if best is None or spec.baseline(best) is None:
        return None
    metric = spec.objective.metric
    ref_name, ref_label = spec.reference_baseline or ("", "the baselines")
    ref = next((c.metrics[metric] for c in candidates if spec.baseline(c) == ref_name), None)
    models = [c for c in candidates if spec.baseline(c) is None]
    top = pick_best(models, spec.objective)
    tail = "baselines are registered only with allow_baselines=true"
    if top is None:
        return f"no model beats {ref_label}: only baselines were scored; {tail}"
    value = top.metrics[metric]
    name = top.params.get("model", top.run_id)
    key = spec.objective.sort_key
    if ref is not None and key({metric: value}) >= key({metric: ref}):
        return (
            f"no model beats {ref_label}: best model {name} {metric} = {value:.6g}, "
            f"{ref_name} {ref:.6g}; {tail}"
        )
    return (
        f"no model beats the baselines: best model {name} {metric} = {value:.6g}, "
        f"baseline {spec.baseline(best)} {best.metrics[metric]:.6g}; {tail}"
    )


def _judge(
    spec: FamilySpec,
    selection: _Selection,
    champion: Champion | None,
    gates: Gates,
    margin: float,
    relative: bool,
    allow_baselines: bool = False,
) -> tuple[Candidate | None, Decision]:
    """Pick the best candidate and decide; the reason also says which runs competed."""
    candidates = selection.candidates
    if not allow_baselines:
        refusal = _no_model_beats_the_baselines(spec, candidates)
        if refusal is not None:
            return None, Decision(Verdict.refuse, f"{refusal}; candidates: {selection.rule}")
        candidates = [c for c in candidates if spec.baseline(c) is None]
    best = pick_best(candidates, spec.objective)
    # a champion measured on other data is not comparable: fresh results that pass the gates win
    stale = (
        champion is not None
        and best is not None
        and bool(champion.data_hash)
        and best.tags.get("data_hash", champion.data_hash) != champion.data_hash
    )
    decision = decide(
        best,
        None if stale else champion,
        spec.objective,
        gates,
        margin=margin,
        relative=relative,
        metric_names=spec.metric_names,
    )
    if stale and champion is not None:
        decision = _stale_note(decision, champion.version, champion.data_hash)
    reason = f"{decision.reason}; candidates: {selection.rule}"
    baseline = spec.baseline(best) if best is not None else None
    if baseline is not None and decision.promote:
        reason += f"; {baseline} is a baseline, registered as one (allow_baselines=true)"
    return best, Decision(decision.verdict, reason, decision.checks)


def _checks(decision: Decision) -> list[list[Any]]:
    return [[c.name, c.passed, c.detail] for c in decision.checks]


def _decision_of(intent: Intent) -> Decision:
    checks = tuple(Check(str(n), bool(p), str(d)) for n, p, d in intent.checks)
    return Decision(Verdict(intent.verdict), intent.reason, checks)


def _promote_intent(
    spec: FamilySpec,
    target: str,
    registry: ModelRegistry,
    best: Candidate,
    champion: Champion | None,
    decision: Decision,
    job: Job,
    dirs: tuple[Path, Path],
) -> Intent:
    """The intent of promoting `best` over `champion` (its version when already registered)."""
    config = spec.config(best, target)
    tags = {k: best.tags.get(k, "unknown") for k in ("data_hash", "git_commit", "config_hash")}
    baseline = spec.baseline(best)
    tags["kind"] = spec.model_kind if baseline is None else "baseline"
    if baseline is not None:
        tags["baseline"] = baseline  # the version is a reference, not a model (allow_baselines)
    for key in ("strategy", "grid", "phases", "model", "invocation"):
        if best.tags.get(key):
            tags[key] = best.tags[key]  # the sweep it came from
    tags["gates"] = "; ".join(f"{c.name}: {c.detail}" for c in decision.checks if c.passed)
    return Intent(
        action="promote",
        family=spec.name,
        target=target,
        champion=registry.version_of_run(spec.name, target, best.run_id),
        previous=champion.version if champion else None,
        replaced=champion.version if champion else None,
        verdict=decision.verdict.value,
        reason=decision.reason,
        decision_run=job.run_id,
        source_run=best.run_id,
        checks=_checks(decision),
        register={
            "config": dict(config),
            "metrics": dict(best.metrics),
            "tags": tags,
        },
        files=planned_paths(spec, target, config, *dirs),
    )


def _reconcile_intent(
    spec: FamilySpec,
    target: str,
    registry: ModelRegistry,
    decision: Decision,
    job: Job,
    dirs: tuple[Path, Path],
) -> Intent | None:
    """The intent of rewriting the production files that differ from `@champion` (None when
    none does)."""
    plan = plan_from_champion(spec, target, registry, *dirs)
    changed = [str(p) for p in changed_files(plan)]
    if not changed:
        return None
    version = registry.alias_version(spec.name, target, CHAMPION)
    return Intent(
        action="reconcile",
        family=spec.name,
        target=target,
        champion=version,
        previous=None,
        replaced=version,
        verdict=decision.verdict.value,
        reason=decision.reason,
        decision_run=job.run_id,
        checks=_checks(decision),
        files=[str(p) for p in plan],
        changed=changed,
    )


def _finish(
    intent: Intent, spec: FamilySpec, registry: ModelRegistry, job: Job, dirs: tuple[Path, Path]
) -> Intent:
    """Journal `intent`, carry it to its end within decision run `job`; return it."""
    begin(dirs[1], intent)
    complete(intent, spec, registry, run_id=job.run_id, conf_dir=dirs[0], production_dir=dirs[1])
    if intent.action != "reconcile":
        job.set_tags({"promoted_version": str(intent.champion)})
    return intent


def _recover(
    spec: FamilySpec,
    target: str,
    tracker: Tracker,
    registry: ModelRegistry,
    dirs: tuple[Path, Path],
) -> list[tuple[Intent, PromotionResult]]:
    """Finish the intents of `<family>/<target>` a crash left unfinished, oldest first, each in a
    `recover <action>` run; return them with their results."""
    out = []
    for intent in unfinished(dirs[1], spec.name, target):
        decision = _decision_of(intent)
        tags = {
            "kind": "decision",
            "decision_family": spec.name,
            "decision_target": target,
            "verdict": intent.verdict,
            "reason": intent.reason[:5000],
            "candidate_run": intent.source_run or "none",
            "champion_version": intent.replaced or "none",
            "recovered_intent": intent.id,
            "interrupted_run": intent.decision_run,
        }
        experiment = f"promotion/{spec.name}.{target}"
        with tracker.start_job(experiment, f"recover {intent.action}", tags=tags) as job:
            complete(
                intent, spec, registry, run_id=job.run_id, conf_dir=dirs[0], production_dir=dirs[1]
            )
            if intent.action != "reconcile":
                job.set_tags({"promoted_version": str(intent.champion)})
        result = PromotionResult(
            spec.name, target, decision, intent.champion, intent.source_run, recovered=True
        )
        result.changed = list(intent.changed or [])
        out.append((intent, result))
    return out


def promote_target(
    spec: FamilySpec,
    target: str,
    *,
    tracker: Tracker,
    registry: ModelRegistry,
    gates: Gates,
    margin: float = 0.0,
    relative: bool = True,
    conf_dir: Path,
    production_dir: Path,
    scope: Scope | None = None,
    allow_baselines: bool = False,
) -> PromotionResult:
    """Promote the best candidate of `<family>/<target>` under `scope` (default: the latest
    sweep) if it beats `@champion` and passes the gates; reconcile the production files with
    `@champion` either way. The decision's reason says which runs competed. A baseline (see
    `FamilySpec.baseline`) is promoted only with `allow_baselines`, and tagged as one.

    A promotion (or reconciliation) a crash interrupted is finished first and reported instead
    of a new decision; an interrupted rollback is finished, then the new decision made."""
    dirs = (conf_dir, production_dir)
    with journal_lock(production_dir):
        recovered = _recover(spec, target, tracker, registry, dirs)
        if recovered and recovered[-1][0].action != "rollback":
            return recovered[-1][1]
        selection = _select(tracker, spec.name, target, scope or Scope())
        champion = registry.champion(spec.name, target)
        best, decision = _judge(spec, selection, champion, gates, margin, relative, allow_baselines)
        result = PromotionResult(
            spec.name,
            target,
            decision,
            champion.version if champion else None,
            best.run_id if best else None,
        )
        name = "promote"
        with _log_decision(tracker, spec, target, decision, best, result.champion, name) as job:
            if decision.promote:
                assert best is not None
                intent: Intent | None = _promote_intent(
                    spec, target, registry, best, champion, decision, job, dirs
                )
            else:
                intent = _reconcile_intent(spec, target, registry, decision, job, dirs)
            if intent is not None:
                _finish(intent, spec, registry, job, dirs)
                result.champion = intent.champion
                result.changed = list(intent.changed or [])
    return result


def _promoted_before(production_dir: Path, family: str, target: str, version: str) -> str | None:
    """The version that was `@champion` when `version` was last promoted (from the audit log)."""
    before = None
    for record in read_audit(production_dir):
        if (
            record.get("family") == family
            and record.get("target") == target
            and record.get("champion") == version
            and record.get("action") == "promote"
        ):
            before = record.get("previous")
    return before


def rollback_target(
    spec: FamilySpec,
    target: str,
    *,
    tracker: Tracker,
    registry: ModelRegistry,
    conf_dir: Path,
    production_dir: Path,
) -> PromotionResult:
    """Restore `@previous` as `@champion` and rewrite the production files from it.

    A rollback a crash interrupted is finished and reported (never rolled back twice); another
    interrupted intent is finished before rolling back."""
    dirs = (conf_dir, production_dir)
    with journal_lock(production_dir):
        recovered = _recover(spec, target, tracker, registry, dirs)
        if recovered and recovered[-1][0].action == "rollback":
            return recovered[-1][1]
        return _rollback(spec, target, tracker, registry, dirs)


def _rollback(
    spec: FamilySpec,
    target: str,
    tracker: Tracker,
    registry: ModelRegistry,
    dirs: tuple[Path, Path],
) -> PromotionResult:
    current = registry.alias_version(spec.name, target, CHAMPION)
    previous = registry.alias_version(spec.name, target, PREVIOUS)
    if current is None or previous is None:
        decision = Decision(
            Verdict.refuse,
            f"nothing to roll back to for {spec.name}/{target} "
            f"(champion {current}, previous {previous})",
        )
        result = PromotionResult(spec.name, target, decision, current)
        with _log_decision(tracker, spec, target, decision, None, current, "rollback"):
            pass
        return result
    # the version that preceded `previous` when it was promoted becomes the new @previous
    before = _promoted_before(dirs[1], spec.name, target, previous)
    decision = Decision(Verdict.promote, f"rollback: version {previous} replaces version {current}")
    result = PromotionResult(spec.name, target, decision, previous)
    with _log_decision(tracker, spec, target, decision, None, current, "rollback") as job:
        config = registry.config_of(spec.name, target, previous)
        intent = Intent(
            action="rollback",
            family=spec.name,
            target=target,
            champion=previous,
            previous=before,
            replaced=current,
            verdict=decision.verdict.value,
            reason=decision.reason,
            decision_run=job.run_id,
            files=planned_paths(spec, target, config, *dirs),
        )
        _finish(intent, spec, registry, job, dirs)
        result.changed = list(intent.changed or [])
    return result
