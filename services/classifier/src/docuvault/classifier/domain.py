"""Pure classification decisions: which provider, which threshold, applied vs suggested."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from docuvault.classifier.providers.base import Topic
from docuvault.contracts.events import TopicScore

#: suggestions shown below the threshold, at most this many, at least this confident
MAX_SUGGESTIONS = 3
SUGGESTION_FLOOR = 0.1


@dataclass(frozen=True, slots=True)
class Policy:
    """The deployment's defaults (DOCUVAULT_CLASSIFIER_* and DOCUVAULT_APPLY_THRESHOLD)."""

    enabled: frozenset[str]
    default_provider: str
    apply_threshold: float
    max_chars: int


@dataclass(frozen=True, slots=True)
class OwnerSettings:
    """An owner's classification settings, as last announced by the catalog."""

    version: int
    provider: str
    system_prompt: str | None
    apply_threshold: float


@dataclass(frozen=True, slots=True)
class Choice:
    provider: str
    system_prompt: str | None
    apply_threshold: float


def choose(policy: Policy, owner: OwnerSettings | None, override: str | None = None) -> Choice:
    """The request's override, else the owner's provider, else the deployment's default."""
    provider = override or (owner.provider if owner else None) or policy.default_provider
    return Choice(
        provider=provider,
        system_prompt=owner.system_prompt if owner else None,
        apply_threshold=owner.apply_threshold if owner else policy.apply_threshold,
    )


@dataclass(frozen=True, slots=True)
class Split:
    applied: list[TopicScore]
    suggestions: list[TopicScore]


def split(
    confidences: Mapping[uuid.UUID, float], topics: Sequence[Topic], threshold: float
) -> Split:
    """Applied: confidence ≥ threshold (and > 0); suggestions: the best few below it.

    Both are ordered by confidence, highest first, ties by name then id (deterministic).
    """
    scored = sorted(
        (
            TopicScore(topic_id=t.topic_id, name=t.name, confidence=confidences[t.topic_id])
            for t in topics
            if t.topic_id in confidences
        ),
        key=lambda s: (-s.confidence, s.name.casefold(), str(s.topic_id)),
    )
    applied = [s for s in scored if s.confidence >= threshold and s.confidence > 0]
    below = [s for s in scored if s.confidence < threshold and s.confidence >= SUGGESTION_FLOOR]
    return Split(applied, below[:MAX_SUGGESTIONS])
