"""Promotion as an operation: candidates from tracked runs, the rule, the registry, the
production files and the audit log.

Order of a promotion: decide -> register the version (reused when the source run already has
one) -> move the aliases -> write the production files from the champion -> audit. Every run
ends by reconciling the production files with the current `@champion`, so a crash between the
registry update and the file write is repaired by simply running again, and a run with nothing
new changes nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tradelab.promotion.families import FamilySpec
from tradelab.promotion.production import append_audit, read_audit, write_production_files
from tradelab.promotion.registry import Registry, model_name
from tradelab.promotion.rules import Candidate, Decision, Gates, Verdict, decide, pick_best
from tradelab.tracking.mlflow_tracker import MlflowTracker, _retry

__all__ = ["PromotionResult", "find_candidates", "promote_target", "rollback_target", "targets_of"]

log = logging.getLogger("tradelab.promotion")
CANDIDATE_TAG = "candidate"
# metrics of a sweep's parent run that candidates inherit (overfitting statistics)
PARENT_METRICS = ("pbo", "deflated_sharpe", "n_trials", "effective_trials")


@dataclass
class PromotionResult:
    family: str
    target: str
    decision: Decision
    champion: str | None = None
    candidate_run: str | None = None
    changed: list[str] = field(default_factory=list)


def targets_of(client: Any, family: str) -> list[str]:
    """Return the targets with an experiment `<family>/<target>`."""
    experiments = _retry(lambda: client.search_experiments(filter_string=f"name LIKE '{family}/%'"))
    return sorted(e.name.split("/", 1)[1] for e in experiments)


def _job_context(client: Any, run: Any) -> dict[str, Any]:
    """The resolved config (artifact `config.yaml`) and params of a job's parent run."""
    import tempfile

    context: dict[str, Any] = {"params": dict(run.data.params), "config": {}}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = _retry(lambda: client.download_artifacts(run.info.run_id, "config.yaml", tmp))
        except Exception:
            return context
        context["config"] = yaml.safe_load(Path(path).read_text()) or {}
    return context


def find_candidates(client: Any, family: str, target: str) -> list[Candidate]:
    """Return the finished candidate runs of `<family>/<target>` on the latest data, with their
    parents' statistics and the parent job's resolved config as context."""
    exp = _retry(lambda: client.get_experiment_by_name(f"{family}/{target}"))
    if exp is None:
        return []
    runs = _retry(
        lambda: client.search_runs(
            [exp.experiment_id],
            filter_string=f"tags.{CANDIDATE_TAG} = 'true' and attributes.status = 'FINISHED'",
            max_results=5000,
        )
    )
    parents: dict[str, tuple[Mapping[str, float], dict[str, Any]] | None] = {}
    out = []
    for run in runs:
        metrics = dict(run.data.metrics)
        parent_id = run.data.tags.get("mlflow.parentRunId")
        context: dict[str, Any] = {}
        if parent_id:
            if parent_id not in parents:
                parent = _retry(lambda p=parent_id: client.get_run(p))
                finished = parent.info.status == "FINISHED"
                parents[parent_id] = (
                    (parent.data.metrics, _job_context(client, parent)) if finished else None
                )
            known = parents[parent_id]
            if known is None:
                continue  # a candidate of a failed or unfinished job is not a candidate
            parent_metrics, context = known
            for key in PARENT_METRICS:
                if key in parent_metrics and key not in metrics:
                    metrics[key] = parent_metrics[key]
        out.append(
            Candidate(
                run.info.run_id,
                target,
                metrics,
                dict(run.data.params),
                dict(run.data.tags),
                context,
            )
        )
    return _on_latest_data(client, exp.experiment_id, out)


def _on_latest_data(
    client: Any, experiment_id: str, candidates: list[Candidate]
) -> list[Candidate]:
    """Keep the candidates computed on the data of the most recent finished job: results on
    older (or other) data never compete with fresh ones."""
    jobs = _retry(
        lambda: client.search_runs(
            [experiment_id],
            filter_string="attributes.status = 'FINISHED' and tags.data_hash != 'none'",
            order_by=["attributes.start_time DESC"],
            max_results=50,
        )
    )
    latest = next(
        (r.data.tags["data_hash"] for r in jobs if "mlflow.parentRunId" not in r.data.tags), None
    )
    if latest is None:
        return candidates
    return [c for c in candidates if c.tags.get("data_hash", latest) == latest]


def _reconcile(
    spec: FamilySpec, target: str, registry: Registry, conf_dir: Path, production_dir: Path
) -> list[Path]:
    """Make the production files say what `@champion` says."""
    champion = registry.champion(spec.name, target)
    if champion is None:
        return []
    config = registry.config_of(spec.name, target, champion.version)
    return write_production_files(
        family=spec.name, target=target, app=spec.app, overlay=spec.overlay(config, target),
        seed_files=spec.seed_files(config, target), model=model_name(spec.name, target),
        version=champion.version, run=champion.source_run, conf_dir=conf_dir, production_dir=production_dir,
    )  # fmt: skip


def _log_decision(tracker: MlflowTracker, spec: FamilySpec, target: str, decision: Decision,
                  candidate: Candidate | None, champion_version: str | None, action: str) -> Any:  # fmt: skip
    job = tracker.start_job(
        f"promotion/{spec.name}.{target}", f"{action}-{decision.verdict.value}",
        tags={"family": spec.name, "target": target, "verdict": decision.verdict.value,
              "reason": decision.reason[:5000], "candidate_run": candidate.run_id if candidate else "none",
              "champion_version": champion_version or "none"},
    )  # fmt: skip
    job.log_params({c.name: c.detail for c in decision.checks})
    if candidate is not None:
        job.log_metrics({k: v for k, v in candidate.metrics.items() if not math.isnan(v)})
    return job


def promote_target(
    spec: FamilySpec,
    target: str,
    *,
    tracker: MlflowTracker,
    gates: Gates,
    margin: float = 0.0,
    relative: bool = True,
    conf_dir: Path,
    production_dir: Path,
) -> PromotionResult:
    """Promote the best candidate of `<family>/<target>` if it beats `@champion` and passes the gates."""
    registry = Registry(tracker.client)
    candidates = find_candidates(tracker.client, spec.name, target)
    best = pick_best(candidates, spec.objective)
    champion = registry.champion(spec.name, target)
    # a champion measured on other data is not comparable: fresh results that pass the gates win
    stale = (
        champion is not None and best is not None and bool(champion.data_hash)
        and best.tags.get("data_hash", champion.data_hash) != champion.data_hash
    )  # fmt: skip
    decision = decide(best, None if stale else champion, spec.objective, gates, margin=margin, relative=relative,
                      metric_names=spec.metric_names)  # fmt: skip
    if stale and champion is not None:
        note = (
            f"champion version {champion.version} was measured on other data ({champion.data_hash})"
        )
        reason = decision.reason.replace("first champion", "fresh result", 1)
        decision = Decision(decision.verdict, f"{reason}; {note}", decision.checks)
    result = PromotionResult(spec.name, target, decision, champion.version if champion else None,
                             best.run_id if best else None)  # fmt: skip
    with _log_decision(tracker, spec, target, decision, best, result.champion, "promote") as job:
        if decision.promote:
            assert best is not None
            version = registry.version_of_run(spec.name, target, best.run_id)
            if version is None:
                version = registry.register(
                    family=spec.name, target=target, config=spec.config(best, target), run_id=job.run_id,
                    source_run=best.run_id, metrics=best.metrics,
                    tags={k: best.tags.get(k, "unknown") for k in ("data_hash", "git_commit", "config_hash")},
                )  # fmt: skip
            previous = champion.version if champion else None
            registry.set_aliases(spec.name, target, version, previous)
            result.champion = version
            job.set_tags({"promoted_version": version})
        changed = _reconcile(spec, target, registry, conf_dir, production_dir)
        result.changed = [str(p) for p in changed]
        if decision.promote or changed:
            append_audit(production_dir, {
                "action": "promote" if decision.promote else "reconcile", "family": spec.name, "target": target,
                "champion": result.champion, "previous": champion.version if (champion and decision.promote) else None,
                "source_run": best.run_id if (best and decision.promote) else None, "reason": decision.reason,
                "files": result.changed,
            })  # fmt: skip
    _print(result)
    return result


def rollback_target(spec: FamilySpec, target: str, *, tracker: MlflowTracker, conf_dir: Path,
                    production_dir: Path) -> PromotionResult:  # fmt: skip
    """Restore `@previous` as `@champion` and rewrite the production files from it."""
    registry = Registry(tracker.client)
    current = registry.alias_version(spec.name, target, "champion")
    previous = registry.alias_version(spec.name, target, "previous")
    if current is None or previous is None:
        decision = Decision(Verdict.refuse, f"nothing to roll back to for {spec.name}/{target} "
                                            f"(champion {current}, previous {previous})")  # fmt: skip
        result = PromotionResult(spec.name, target, decision, current)
        with _log_decision(tracker, spec, target, decision, None, current, "rollback"):
            pass
        _print(result)
        return result
    # the version that preceded `previous` when it was promoted becomes the new @previous
    before = None
    for record in read_audit(production_dir):
        if record.get("family") == spec.name and record.get("target") == target and record.get("champion") == previous \
                and record.get("action") == "promote":  # fmt: skip
            before = record.get("previous")
    decision = Decision(Verdict.promote, f"rollback: version {previous} replaces version {current}")
    result = PromotionResult(spec.name, target, decision, previous)
    with _log_decision(tracker, spec, target, decision, None, current, "rollback") as job:
        registry.set_aliases(spec.name, target, previous, before)
        changed = _reconcile(spec, target, registry, conf_dir, production_dir)
        result.changed = [str(p) for p in changed]
        job.set_tags({"promoted_version": previous})
        append_audit(production_dir, {"action": "rollback", "family": spec.name, "target": target,
                                      "champion": previous, "previous": before, "replaced": current,
                                      "reason": decision.reason, "files": result.changed})  # fmt: skip
    _print(result)
    return result


def _print(result: PromotionResult) -> None:
    from rich.console import Console

    colour = {"promote": "green", "refuse": "yellow", "keep": "cyan"}[result.decision.verdict.value]
    Console(stderr=True).print(
        f"[bold {colour}]{result.decision.verdict.value.upper()}[/] {result.family}/{result.target}: "
        f"{result.decision.reason}"
        + (f" (champion: version {result.champion})" if result.champion else "")
    )
    for check in result.decision.checks:
        Console(stderr=True).print(
            f"   {'ok ' if check.passed else 'NO '} {check.name}: {check.detail}"
        )
