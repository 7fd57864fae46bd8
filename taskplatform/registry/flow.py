"""The one registry workflow of every model kind: register a trained version, decide, activate, record why.

A training stores its artifact first (the object store is not transactional), then calls
`register_and_decide`: the registration, the decision and the activation are one transaction, so no
reader ever sees a version active without its decision, or a decision for a version not registered.
What "better" means belongs to the kind, so the caller passes its promotion rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from taskplatform.registry.artifacts import StoredArtifact
from taskplatform.registry.models import ModelVersion
from taskplatform.registry.versions import (
    activate_version,
    active_version,
    get_version,
    record_decision,
    register_version,
)


@dataclass(frozen=True)
class Decision:
    activated: bool
    reason: str


@dataclass(frozen=True)
class Candidate:
    """A newly trained version whose artifact is already in the object store."""

    kind: str
    version: str
    stored: StoredArtifact
    metrics: dict[str, Any]
    params: dict[str, Any]
    data_hash: str
    task_id: str | None


#: (candidate, the active version of its kind or None) -> whether to activate the candidate, and why.
PromotionRule = Callable[[Candidate, ModelVersion | None], Decision]


def register_and_decide(*, session: Session, candidate: Candidate, rule: PromotionRule) -> Decision:
    """Register `candidate` (idempotent: content-addressed), decide by `rule`, activate when decided, and
    record the decision on the version, in the caller's transaction."""
    c = candidate
    register_version(session=session, kind=c.kind, version=c.version, artifact_key=c.stored.key,
                     artifact_sha256=c.stored.sha256, json_sha256=c.stored.json_sha256,
                     metrics=c.metrics, params=c.params, data_hash=c.data_hash, task_id=c.task_id)
    decision = rule(c, active_version(session=session, kind=c.kind))
    if decision.activated:
        activate_version(session=session, kind=c.kind, version=c.version)
    record_decision(session=session, kind=c.kind, version=c.version, decision=decision.reason)
    return decision


def activate(*, session: Session, kind: str, version: str, reason: str) -> ModelVersion | None:
    """Make a registered version the active one of its kind and record why; None when it is unknown."""
    if get_version(session=session, kind=kind, version=version) is None:
        return None
    activate_version(session=session, kind=kind, version=version)
    record_decision(session=session, kind=kind, version=version, decision=reason)
    return get_version(session=session, kind=kind, version=version)
