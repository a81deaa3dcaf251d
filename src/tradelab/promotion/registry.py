"""The model registry side of promotion: one registered model per (family, target), numbered
versions that carry a production configuration, and the `@champion` / `@previous` aliases.

`ModelRegistry` is what the promotion service needs; `MlflowRegistry` keeps it in the MLflow
model registry (versions are working pyfunc models with a signature and an input example),
`MemoryRegistry` (`tradelab.promotion.memory_registry`) in a dict for unit tests. Both pass the
suite of `tradelab.testing.registry_contract`.
"""

from __future__ import annotations

import contextlib
import json
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from tradelab import faults
from tradelab.promotion.families import InputExample
from tradelab.promotion.families import family as family_spec
from tradelab.promotion.rules import Champion
from tradelab.tracking.mlflow_tracker import _retry

__all__ = [
    "CHAMPION",
    "PREVIOUS",
    "MlflowRegistry",
    "ModelRegistry",
    "champion_from_tags",
    "model_example",
    "model_name",
    "plain_config",
    "version_tags",
]

CHAMPION, PREVIOUS = "champion", "previous"
MODEL_LOGGED = faults.declare(
    "promotion.registry.model",
    "a promotion after the model is logged on its run, before the version is created",
)
VERSION_CREATED = faults.declare(
    "promotion.registry.version", "a promotion after the version is created, before the aliases"
)
PREVIOUS_SET = faults.declare(
    "promotion.registry.previous",
    "a promotion or rollback after @previous moved (or was removed), before @champion moves",
)
CHAMPION_SET = faults.declare(
    "promotion.registry.champion",
    "a promotion or rollback after @champion moved, before the production files",
)
_CONFIG_FILE = "production_config.json"
_CODE = Path(__file__).with_name("pyfunc_model.py")
_METRIC = "metric."


def model_name(family: str, target: str) -> str:
    """Return the registered model name of a (family, target)."""
    return f"tradelab.{family}.{target}"


def version_tags(
    tags: Mapping[str, Any], source_run: str, metrics: Mapping[str, float]
) -> dict[str, str]:
    """Return the tags a new version carries: lineage, source run, metrics (NaN left out)."""
    return {
        **{k: str(v) for k, v in tags.items()},
        "source_run": source_run,
        **{f"{_METRIC}{k}": repr(float(v)) for k, v in metrics.items() if not math.isnan(float(v))},
    }


def version_description(family: str, target: str, source_run: str, tags: Mapping[str, Any]) -> str:
    """The description a version's page shows: what it is, the sweep it came from, the gates
    it passed and the data and code it was measured on."""
    kind = str(tags.get("kind") or "strategy")
    if tags.get("baseline"):
        what = (
            f"Baseline {tags['baseline']} for {target}: a reference forecast, not a tuned model; "
            "registered because promote.allow_baselines=true."
        )
    else:
        what = f"The promoted {family} {kind} for {target}."
    sweep = ", ".join(
        f"{k} {tags[k]}" for k in ("strategy", "model", "grid", "phases") if tags.get(k)
    )
    lines = [
        what,
        f"Candidate run {source_run}" + (f" of the sweep {sweep}" if sweep else "") + ".",
    ]
    if tags.get("gates"):
        lines.append(f"Gates passed: {tags['gates']}.")
    lineage = ", ".join(
        f"{label} {tags[key]}"
        for key, label in (
            ("data_hash", "data"),
            ("git_commit", "commit"),
            ("config_hash", "config"),
        )
        if tags.get(key) and tags[key] != "unknown"
    )
    if lineage:
        lines.append(f"Measured on {lineage}.")
    return "\n\n".join(lines)


def champion_from_tags(version: str, tags: Mapping[str, str]) -> Champion:
    """Return the champion a version's tags describe (metrics as recorded at promotion)."""
    metrics = {k.removeprefix(_METRIC): float(v) for k, v in tags.items() if k.startswith(_METRIC)}
    return Champion(
        version=str(version),
        source_run=tags.get("source_run", ""),
        metrics=metrics,
        data_hash=tags.get("data_hash"),
    )


def plain_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """Return `config` as a version stores it: JSON data (tuples become lists); raise
    `TypeError` for what JSON cannot hold, as MLflow refuses such a model config."""
    return json.loads(json.dumps(dict(config)))


def _signature(example: InputExample, output: pd.DataFrame) -> Any:
    """The signature inferred from the example and `predict`'s answer, with two changes: the
    input `timestamp` is `any` (MLflow's datetime type refuses the UTC times bars carry; text
    from a JSON request is parsed by `predict`) and the example's optional columns are not
    required."""
    from mlflow.models import infer_signature
    from mlflow.types.schema import AnyType, ColSpec, Schema

    with warnings.catch_warnings():  # the hint on integer columns: a step number is never NaN
        warnings.filterwarnings("ignore", "Hint: Inferred schema contains integer", UserWarning)
        inferred = infer_signature(example.frame, output)
    inputs = [
        ColSpec(
            AnyType() if col.name == "timestamp" else col.type,
            col.name,
            required=col.name not in example.optional,
        )
        for col in inferred.inputs.inputs
    ]
    inferred.inputs = Schema(inputs)
    return inferred


def model_example(family: str, config: Mapping[str, Any]) -> tuple[Any, pd.DataFrame] | None:
    """Return the signature and input example of a version carrying `config` (None when the
    family gives no example): the family's example bars and what `predict` answers on them."""
    try:
        spec = family_spec(family)
    except KeyError:
        return None
    if spec.example is None:
        return None
    example = spec.example(plain_config(config))
    output = spec.predict(plain_config(config), example.frame.copy())
    return _signature(example, output), example.frame


@contextlib.contextmanager
def _global_tracking_uri(uri: str) -> Iterator[None]:
    """Point MLflow's global tracking URI at `uri` for the block: a local store resolves a
    version's `models:/<model id>` source through it, whatever client registers the version."""
    import mlflow

    before = mlflow.get_tracking_uri() if mlflow.is_tracking_uri_set() else None
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(before)


@runtime_checkable
class ModelRegistry(Protocol):
    """Versions and aliases of the registered models promotion writes."""

    def champion(self, family: str, target: str) -> Champion | None:
        """Return the current `@champion` (its metrics as recorded at promotion), if any."""
        ...

    def alias_version(self, family: str, target: str, alias: str) -> str | None:
        """Return the version `alias` points at, if any."""
        ...

    def version_of_run(self, family: str, target: str, source_run: str) -> str | None:
        """Return the version already registered for `source_run` (promotion is idempotent)."""
        ...

    def register(
        self,
        *,
        family: str,
        target: str,
        config: Mapping[str, Any],
        run_id: str,
        source_run: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> str:
        """Register a new version carrying `config`, made by decision run `run_id`; return it."""
        ...

    def set_aliases(self, family: str, target: str, champion: str, previous: str | None) -> None:
        """Point `@champion` at `champion` and `@previous` at `previous` (removed when None)."""
        ...

    def config_of(self, family: str, target: str, version: str) -> dict[str, Any]:
        """Return the production configuration `version` carries."""
        ...


class MlflowRegistry:
    """`ModelRegistry` on the MLflow model registry: versions are pyfunc models.

    `namespace`: registered models are `<namespace>.tradelab.<family>.<target>` (the namespace
    of an `MlflowTracker` on a shared server; None: `model_name`).
    """

    def __init__(self, client: Any, namespace: str | None = None) -> None:
        self.client = client
        self.namespace = namespace

    @classmethod
    def for_tracker(cls, tracker: Any) -> MlflowRegistry:
        """Return the registry of an `MlflowTracker`'s store (and namespace)."""
        return cls(tracker.client, getattr(tracker, "namespace", None))

    def name(self, family: str, target: str) -> str:
        """Return the registered model name of a (family, target) in this registry."""
        plain = model_name(family, target)
        return f"{self.namespace}.{plain}" if self.namespace else plain

    def _version_by_alias(self, name: str, alias: str) -> Any | None:
        from mlflow.exceptions import MlflowException

        try:
            return _retry(lambda: self.client.get_model_version_by_alias(name, alias))
        except MlflowException:
            return None

    def champion(self, family: str, target: str) -> Champion | None:
        """Return the current champion (its metrics as recorded at promotion), if any."""
        mv = self._version_by_alias(self.name(family, target), CHAMPION)
        return None if mv is None else champion_from_tags(str(mv.version), mv.tags)

    def alias_version(self, family: str, target: str, alias: str) -> str | None:
        """Return the version `alias` points at, if any."""
        mv = self._version_by_alias(self.name(family, target), alias)
        return None if mv is None else str(mv.version)

    def version_of_run(self, family: str, target: str, source_run: str) -> str | None:
        """Return the version already registered for `source_run` (promotion is idempotent)."""
        name = self.name(family, target)
        try:
            versions = _retry(lambda: self.client.search_model_versions(f"name = '{name}'"))
        except Exception:
            return None
        for mv in versions:
            if mv.tags.get("source_run") == source_run:
                return str(mv.version)
        return None

    def register(
        self,
        *,
        family: str,
        target: str,
        config: Mapping[str, Any],
        run_id: str,
        source_run: str,
        metrics: Mapping[str, float],
        tags: Mapping[str, str],
    ) -> str:
        """Log a pyfunc model carrying `config` as an MLflow logged model of run `run_id` (the
        run's Models tab; with a signature and an input example when the family gives one),
        register it as a version of that logged model; return the version."""
        import mlflow
        from mlflow.entities import LoggedModelOutput, LoggedModelStatus
        from mlflow.exceptions import MlflowException

        name = self.name(family, target)
        signature, example = model_example(family, config) or (None, None)
        experiment_id = _retry(lambda: self.client.get_run(run_id)).info.experiment_id
        kind = str(tags.get("kind") or "strategy")
        logged = _retry(
            lambda: self.client.create_logged_model(
                experiment_id,
                name=f"{target} {kind}",
                source_run_id=run_id,
                tags={"kind": kind, "family": family, "target": target, "source_run": source_run},
                model_type=kind,
            )
        )
        with tempfile.TemporaryDirectory() as tmp:
            model_dir = Path(tmp) / "model"
            model_config = {"family": family, "target": target, "config": dict(config)}
            mlflow.pyfunc.save_model(
                str(model_dir),
                python_model=str(_CODE),
                model_config=model_config,
                signature=signature,
                input_example=example,
                pip_requirements=["tradelab"],
            )
            (model_dir / _CONFIG_FILE).write_text(json.dumps(model_config, indent=2, default=str))
            _retry(lambda: self.client.log_model_artifacts(logged.model_id, str(model_dir)))
        _retry(lambda: self.client.finalize_logged_model(logged.model_id, LoggedModelStatus.READY))
        _retry(lambda: self.client.log_outputs(run_id, [LoggedModelOutput(logged.model_id, 0)]))
        faults.fault(MODEL_LOGGED)
        try:
            _retry(
                lambda: self.client.create_registered_model(
                    name, tags={"family": family, "target": target}
                )
            )
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code) and "already exists" not in str(
                exc
            ):
                raise
        new_tags = version_tags(tags, source_run, metrics)
        with _global_tracking_uri(self.client.tracking_uri):
            mv = _retry(
                lambda: self.client.create_model_version(
                    name,
                    f"models:/{logged.model_id}",
                    run_id=run_id,
                    model_id=logged.model_id,
                    tags=new_tags,
                    description=version_description(family, target, source_run, tags),
                )
            )
        faults.fault(VERSION_CREATED)
        return str(mv.version)

    def set_aliases(self, family: str, target: str, champion: str, previous: str | None) -> None:
        """Point `@champion` at `champion` and `@previous` at `previous` (removed when None)."""
        name = self.name(family, target)
        if previous is None:
            with contextlib.suppress(Exception):
                _retry(lambda: self.client.delete_registered_model_alias(name, PREVIOUS))
        else:
            _retry(lambda: self.client.set_registered_model_alias(name, PREVIOUS, previous))
        faults.fault(PREVIOUS_SET)
        _retry(lambda: self.client.set_registered_model_alias(name, CHAMPION, champion))
        faults.fault(CHAMPION_SET)

    def config_of(self, family: str, target: str, version: str) -> dict[str, Any]:
        """Return the production configuration a version carries."""
        import mlflow

        mv = _retry(lambda: self.client.get_model_version(self.name(family, target), version))
        root = str(mv.source)  # runs:/<run>/model for versions older than logged models
        if root.startswith("models:/"):
            model_id = root.removeprefix("models:/")
            root = _retry(lambda: self.client.get_logged_model(model_id)).artifact_location
        with tempfile.TemporaryDirectory() as tmp:
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=f"{root}/{_CONFIG_FILE}",
                dst_path=tmp,
                tracking_uri=self.client.tracking_uri,
            )
            return json.loads(Path(local).read_text())["config"]
