from __future__ import annotations

import uuid

from docuvault.classifier import domain
from docuvault.classifier.domain import OwnerSettings, Policy
from docuvault.classifier.providers.base import Topic
from docuvault.contracts.events import TopicScore

POLICY = Policy(frozenset({"local", "openai"}), "local", 0.5, 1000)
TOPICS = [Topic(uuid.uuid4(), name) for name in "ABCDEF"]


def conf(*values: float) -> dict[uuid.UUID, float]:
    return {t.topic_id: v for t, v in zip(TOPICS, values, strict=False)}


def names(scores: list[TopicScore]) -> list[str]:
    return [s.name for s in scores]


def test_split_at_the_threshold() -> None:
    decided = domain.split(conf(0.9, 0.5, 0.49, 0.3, 0.2, 0.05), TOPICS, 0.5)
    assert names(decided.applied) == ["A", "B"]
    assert names(decided.suggestions) == ["C", "D", "E"]  # top three, F under the floor
    assert [s.confidence for s in decided.applied] == [0.9, 0.5]


def test_split_orders_by_confidence_then_name() -> None:
    decided = domain.split(conf(0.6, 0.8, 0.6, 0.0, 0.0, 0.0), TOPICS, 0.5)
    assert names(decided.applied) == ["B", "A", "C"]
    assert decided.suggestions == []


def test_zero_threshold_never_applies_zero_confidence() -> None:
    decided = domain.split(conf(0.4, 0.0), TOPICS, 0.0)
    assert names(decided.applied) == ["A"]


def test_unscored_topics_are_left_out() -> None:
    decided = domain.split({TOPICS[0].topic_id: 0.7, uuid.uuid4(): 0.9}, TOPICS, 0.5)
    assert names(decided.applied) == ["A"]


def test_choose_defaults_owner_and_override() -> None:
    assert domain.choose(POLICY, None) == domain.Choice("local", None, 0.5)
    owner = OwnerSettings(
        version=3, provider="openai", system_prompt="be brief", apply_threshold=0.7
    )
    assert domain.choose(POLICY, owner) == domain.Choice("openai", "be brief", 0.7)
    assert domain.choose(POLICY, owner, "local") == domain.Choice("local", "be brief", 0.7)
