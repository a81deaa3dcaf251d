"""Promotion: a pure champion/challenger rule plus the registry, production files and audit log."""

from __future__ import annotations

from tradelab.promotion.families import FamilySpec, family, register_family
from tradelab.promotion.memory_registry import MemoryRegistry
from tradelab.promotion.registry import MlflowRegistry, ModelRegistry, model_name
from tradelab.promotion.rules import (
    Candidate,
    Champion,
    Decision,
    Gates,
    Objective,
    Verdict,
    decide,
    pick_best,
)
from tradelab.promotion.service import (
    PromotionResult,
    find_candidates,
    promote_target,
    rollback_target,
    targets_of,
)

__all__ = [
    "Candidate",
    "Champion",
    "Decision",
    "FamilySpec",
    "Gates",
    "MemoryRegistry",
    "MlflowRegistry",
    "ModelRegistry",
    "Objective",
    "PromotionResult",
    "Verdict",
    "decide",
    "family",
    "find_candidates",
    "model_name",
    "pick_best",
    "promote_target",
    "register_family",
    "rollback_target",
    "targets_of",
]
