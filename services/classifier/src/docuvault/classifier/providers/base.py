"""The provider interface: one text, the owner's topics and a system prompt in; scores out.

The ``local`` provider implements it now; the LLM providers (``anthropic``, ``openai``,
``openai-compatible``) will implement the same Protocol: they get the topics with their ids to
constrain their output schema to, the owner's system prompt, and the text already cut to the
deployment's character budget. Whatever a provider returns is validated again by
:func:`validated` before it is used, so no provider can name a topic outside the owner's list.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final, Protocol

from docuvault.contracts.events import TopicMatch

if TYPE_CHECKING:
    from docuvault.classifier.providers.learned import Examples

LOCAL: Final = "local"
ANTHROPIC: Final = "anthropic"
OPENAI: Final = "openai"
OPENAI_COMPATIBLE: Final = "openai-compatible"
#: every provider name a deployment may enable (DOCUVAULT_CLASSIFIER_PROVIDERS)
KNOWN: Final = (LOCAL, ANTHROPIC, OPENAI, OPENAI_COMPATIBLE)
MAX_NEW_TOPIC_NAMES: Final = 5
MAX_NEW_TOPIC_NAME_LENGTH: Final = 80


@dataclass(frozen=True, slots=True)
class Topic:
    """What a provider sees of one of the owner's topics."""

    topic_id: uuid.UUID
    name: str
    description: str = ""
    keywords: tuple[str, ...] = ()
    match: TopicMatch = field(default_factory=TopicMatch)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A provider's answer: a confidence in [0, 1] per topic it scored, and new-topic ideas."""

    confidences: Mapping[uuid.UUID, float]
    model: str
    suggested_new_topics: tuple[str, ...] = ()


class ClassificationError(Exception):
    """The document cannot be classified; ``reason`` and ``detail`` go to classification_failed."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ProviderError(ClassificationError):
    """The provider could not classify.

    Reasons: ``provider_unavailable`` (down, timed out, rate-limited past the retries),
    ``invalid_response`` (its answer did not fit the schema).
    """


class Provider(Protocol):
    """A classification provider. Must accept an empty topic list (and then score nothing)."""

    @property
    def name(self) -> str: ...

    async def classify(
        self,
        text: str,
        topics: Sequence[Topic],
        *,
        system_prompt: str | None,
        examples: Examples | None = None,
    ) -> Verdict:
        """Score each topic for ``text``; raise :class:`ProviderError` when it cannot.

        ``examples`` (the owner's confirmed examples) is given to the ``local`` provider only.
        """
        ...


def validated(verdict: Verdict, topics: Sequence[Topic]) -> Verdict:
    """Only the owner's topic ids, finite confidences clamped to [0, 1], bounded new names."""
    known = {t.topic_id for t in topics}
    confidences = {
        topic_id: min(max(float(value), 0.0), 1.0)
        for topic_id, value in verdict.confidences.items()
        if topic_id in known and math.isfinite(value)
    }
    existing = {t.name.casefold() for t in topics}
    names: list[str] = []
    for raw in verdict.suggested_new_topics:
        name = " ".join(raw.split())[:MAX_NEW_TOPIC_NAME_LENGTH]
        if name and name.casefold() not in existing and name not in names:
            names.append(name)
    return Verdict(confidences, verdict.model, tuple(names[:MAX_NEW_TOPIC_NAMES]))
