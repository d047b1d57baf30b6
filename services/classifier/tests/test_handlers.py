from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from typing import Any

import pytest

from docuvault.classifier import handlers
from docuvault.classifier.domain import Policy
from docuvault.classifier.providers.base import Provider, ProviderError, Topic, Verdict
from docuvault.classifier.providers.learned import Examples
from docuvault.classifier.providers.local import MODEL, LocalProvider
from docuvault.classifier.replica import Replica
from docuvault.contracts import CloudEvent, EventData, new_event
from docuvault.contracts.events import (
    ClassificationFailed,
    ClassificationRequested,
    ClassificationSettingsChanged,
    Classified,
    ReprocessRequested,
    TextExtracted,
    TopicDeleted,
    TopicsAssigned,
    TopicUpserted,
)
from docuvault.runtime.testing import InMemoryBlobStore, RecordingPublisher

OWNER = uuid.uuid4()
DOCUMENT = uuid.uuid4()
TEXT_KEY = f"{OWNER}/{DOCUMENT}/text"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
BIRDS = uuid.uuid4()
BOATS = uuid.uuid4()
BIRD_TEXT = (
    "Bird survey\nWe counted sparrows, robins and two herons by the lake. Nesting birds were "
    "ringed; the feeders attracted finches and a woodpecker. Migration starts in autumn."
)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def wrap(data: EventData) -> CloudEvent[Any]:
    return new_event(data, source="catalog", traceparent=TRACEPARENT)


def extracted(*, auto_classify: bool = True, generation: int = 2) -> CloudEvent[Any]:
    return wrap(
        TextExtracted(
            document_id=DOCUMENT,
            owner_id=OWNER,
            generation=generation,
            auto_classify=auto_classify,
            page_count=1,
            char_count=len(BIRD_TEXT),
            text_object_key=TEXT_KEY,
            pages_object_key=f"{OWNER}/{DOCUMENT}/pages.json",
            text_sha256=sha(BIRD_TEXT.encode()),
            text_preview=BIRD_TEXT[:100],
            extractor_version="test",
        )
    )


def requested(provider: str | None = None) -> CloudEvent[Any]:
    return wrap(
        ClassificationRequested(
            document_id=DOCUMENT,
            owner_id=OWNER,
            generation=3,
            provider=provider,
            text_object_key=TEXT_KEY,
            text_sha256=sha(BIRD_TEXT.encode()),
        )
    )


def reprocess(stage: str, text_key: str | None = TEXT_KEY) -> CloudEvent[Any]:
    return wrap(
        ReprocessRequested.model_validate(
            {
                "document_id": DOCUMENT,
                "owner_id": OWNER,
                "generation": 4,
                "stage": stage,
                "object_key": f"{OWNER}/{DOCUMENT}/original",
                "content_type": "text/plain",
                "text_object_key": text_key,
            }
        )
    )


@pytest.fixture
async def ports(
    blobs: InMemoryBlobStore, replica: Replica, publisher: RecordingPublisher, policy: Policy
) -> dict[str, Any]:
    await blobs.put(TEXT_KEY, BIRD_TEXT.encode(), content_type="text/plain")
    for topic_id, name, description in [
        (BIRDS, "Birds", "Birdwatching: birds, nests, feeders and migration."),
        (BOATS, "Boats", "Sailing and boats: yachts, harbours, engines and moorings."),
    ]:
        event = TopicUpserted(
            owner_id=OWNER, version=1, topic_id=topic_id, name=name, description=description
        )
        await handlers.on_topic_changed(wrap(event), replica=replica)
    return {
        "blobs": blobs,
        "replica": replica,
        "providers": {"local": LocalProvider()},
        "policy": policy,
        "publish": publisher,
    }


def only(publisher: RecordingPublisher) -> CloudEvent[Any]:
    assert len(publisher.events) == 1
    return publisher.events[0]


async def test_text_extracted_is_classified(ports: dict[str, Any]) -> None:
    cause = extracted()
    await handlers.on_text_extracted(cause, **ports)
    event = only(ports["publish"])
    assert event.type == "io.docuvault.document.classified.v1"
    assert event.source == "/docuvault/classifier"
    assert event.subject == str(DOCUMENT)
    assert event.ownerid == OWNER
    assert event.traceparent.split("-")[1] == TRACEPARENT.split("-")[1]  # same trace
    data = event.data
    assert isinstance(data, Classified)
    assert (data.document_id, data.owner_id, data.generation) == (DOCUMENT, OWNER, 2)
    assert [(t.topic_id, t.name) for t in data.topics] == [(BIRDS, "Birds")]
    assert data.topics[0].confidence >= 0.5
    assert all(s.topic_id == BOATS and s.confidence < 0.5 for s in data.suggestions)
    assert (data.provider, data.model) == ("local", MODEL)
    assert data.text_sha256 == cause.data.text_sha256
    assert data.suggested_new_topics == []


async def test_redelivery_publishes_the_same_event_id(ports: dict[str, Any]) -> None:
    cause = extracted()
    await handlers.on_text_extracted(cause, **ports)
    await handlers.on_text_extracted(cause, **ports)
    first, second = ports["publish"].events
    assert first.id == second.id
    assert first.data == second.data


async def test_auto_classify_off_publishes_nothing(ports: dict[str, Any]) -> None:
    await handlers.on_text_extracted(extracted(auto_classify=False), **ports)
    assert ports["publish"].events == []


async def test_owner_threshold_decides(ports: dict[str, Any]) -> None:
    change = ClassificationSettingsChanged(
        owner_id=OWNER, version=1, provider="local", apply_threshold=0.99
    )
    await handlers.on_settings_changed(wrap(change), replica=ports["replica"])
    await handlers.on_text_extracted(extracted(), **ports)
    data = only(ports["publish"]).data
    assert data.topics == []
    assert data.suggestions[0].topic_id == BIRDS


async def test_classification_requested_uses_its_generation(ports: dict[str, Any]) -> None:
    await handlers.on_classification_requested(requested(), **ports)
    data = only(ports["publish"]).data
    assert isinstance(data, Classified)
    assert data.generation == 3


async def test_override_naming_a_disabled_provider_fails(ports: dict[str, Any]) -> None:
    await handlers.on_classification_requested(requested("anthropic"), **ports)
    event = only(ports["publish"])
    assert event.type == "io.docuvault.document.classification_failed.v1"
    data = event.data
    assert isinstance(data, ClassificationFailed)
    assert (data.reason, data.provider, data.generation) == ("provider_not_enabled", "anthropic", 3)
    assert "anthropic" in data.detail


async def test_owner_provider_not_enabled_fails(ports: dict[str, Any]) -> None:
    change = ClassificationSettingsChanged(
        owner_id=OWNER, version=1, provider="openai-compatible", apply_threshold=0.5
    )
    await handlers.on_settings_changed(wrap(change), replica=ports["replica"])
    await handlers.on_text_extracted(extracted(), **ports)
    assert only(ports["publish"]).data.reason == "provider_not_enabled"


async def test_enabled_but_unimplemented_provider_fails(ports: dict[str, Any]) -> None:
    await handlers.on_classification_requested(requested("openai"), **ports)
    data = only(ports["publish"]).data
    assert (data.reason, data.provider) == ("provider_unavailable", "openai")


async def test_reprocess_extract_is_not_ours(ports: dict[str, Any]) -> None:
    await handlers.on_reprocess_requested(reprocess("extract"), **ports)
    assert ports["publish"].events == []


async def test_reprocess_classify(ports: dict[str, Any]) -> None:
    await handlers.on_reprocess_requested(reprocess("classify"), **ports)
    data = only(ports["publish"]).data
    assert isinstance(data, Classified)
    assert data.generation == 4
    assert data.text_sha256 == sha(BIRD_TEXT.encode())  # computed: the request carries none


async def test_reprocess_classify_without_text_fails_no_text(ports: dict[str, Any]) -> None:
    await handlers.on_reprocess_requested(reprocess("classify", text_key=None), **ports)
    data = only(ports["publish"]).data
    assert isinstance(data, ClassificationFailed)
    assert (data.reason, data.provider, data.generation) == ("no_text", "local", 4)


@pytest.mark.parametrize("content", [b"", b"  \n\t ", "— … !?".encode()])
async def test_empty_text_fails_no_text(ports: dict[str, Any], content: bytes) -> None:
    await ports["blobs"].put(TEXT_KEY, content, content_type="text/plain")
    await handlers.on_text_extracted(extracted(), **ports)
    assert only(ports["publish"]).data.reason == "no_text"


async def test_missing_text_object_fails_no_text(ports: dict[str, Any]) -> None:
    await ports["blobs"].delete(TEXT_KEY)
    await handlers.on_text_extracted(extracted(), **ports)
    assert only(ports["publish"]).data.reason == "no_text"


async def test_no_topics_is_classified_with_none(ports: dict[str, Any]) -> None:
    for topic_id in (BIRDS, BOATS):
        gone = TopicDeleted(owner_id=OWNER, version=2, topic_id=topic_id)
        await handlers.on_topic_changed(wrap(gone), replica=ports["replica"])
    await handlers.on_text_extracted(extracted(), **ports)
    data = only(ports["publish"]).data
    assert isinstance(data, Classified)
    assert (data.topics, data.suggestions) == ([], [])


async def test_a_topic_changed_before_classification_is_seen(ports: dict[str, Any]) -> None:
    renamed = TopicUpserted(
        owner_id=OWNER,
        version=2,
        topic_id=BIRDS,
        name="Ornithology",
        description="birds, nests, migration",
    )
    await handlers.on_topic_changed(wrap(renamed), replica=ports["replica"])
    await handlers.on_text_extracted(extracted(), **ports)
    assert [t.name for t in only(ports["publish"]).data.topics] == ["Ornithology"]


class Scripted:
    """A provider answering what the test says (stand-in for a misbehaving LLM)."""

    name = "local"

    def __init__(self, answer: Verdict | ProviderError) -> None:
        self.answer = answer
        self.seen: list[tuple[str, int, str | None]] = []

    async def classify(
        self,
        text: str,
        topics: Sequence[Topic],
        *,
        system_prompt: str | None,
        examples: Examples | None = None,
    ) -> Verdict:
        self.seen.append((text, len(topics), system_prompt))
        if isinstance(self.answer, ProviderError):
            raise self.answer
        return self.answer


async def test_provider_answers_are_validated(ports: dict[str, Any]) -> None:
    answer = Verdict(
        {BIRDS: 1.7, BOATS: float("nan"), uuid.uuid4(): 0.9},
        "scripted-1",
        ("Wildlife", "birds", "Wildlife", "  Lakes   and ponds "),
    )
    provider: Provider = Scripted(answer)
    change = ClassificationSettingsChanged(
        owner_id=OWNER, version=1, provider="local", system_prompt="terse", apply_threshold=0.5
    )
    await handlers.on_settings_changed(wrap(change), replica=ports["replica"])
    await handlers.on_text_extracted(extracted(), **{**ports, "providers": {"local": provider}})
    data = only(ports["publish"]).data
    assert [(t.topic_id, t.confidence) for t in data.topics] == [(BIRDS, 1.0)]
    assert data.suggestions == []
    assert data.suggested_new_topics == ["Wildlife", "Lakes and ponds"]
    assert data.model == "scripted-1"
    assert provider.seen == [(BIRD_TEXT, 2, "terse")]  # type: ignore[attr-defined]


async def test_provider_error_becomes_classification_failed(ports: dict[str, Any]) -> None:
    provider = Scripted(ProviderError("invalid_response", "not JSON"))
    await handlers.on_text_extracted(extracted(), **{**ports, "providers": {"local": provider}})
    data = only(ports["publish"]).data
    assert (data.reason, data.detail, data.provider) == ("invalid_response", "not JSON", "local")


async def test_long_text_is_cut_to_the_budget(ports: dict[str, Any], policy: Policy) -> None:
    await ports["blobs"].put(TEXT_KEY, b"word " * 10_000, content_type="text/plain")
    provider = Scripted(Verdict({}, "scripted-1"))
    small = Policy(policy.enabled, policy.default_provider, policy.apply_threshold, 1000)
    await handlers.on_text_extracted(
        extracted(), **{**ports, "providers": {"local": provider}, "policy": small}
    )
    assert len(provider.seen[0][0]) <= 1000


async def test_topic_events_are_applied_by_version(replica: Replica) -> None:
    topic_id = uuid.uuid4()
    newer = TopicUpserted(owner_id=OWNER, version=2, topic_id=topic_id, name="New")
    older = TopicUpserted(owner_id=OWNER, version=1, topic_id=topic_id, name="Old")
    await handlers.on_topic_changed(wrap(newer), replica=replica)
    await handlers.on_topic_changed(wrap(older), replica=replica)
    assert [t.name for t in await replica.topics(OWNER)] == ["New"]
    await handlers.on_topic_changed(
        wrap(TopicDeleted(owner_id=OWNER, version=3, topic_id=topic_id)), replica=replica
    )
    await handlers.on_topic_changed(wrap(newer), replica=replica)
    assert await replica.topics(OWNER) == []


async def test_topics_assigned_is_recorded_once_per_version(
    replica: Replica, blobs: InMemoryBlobStore
) -> None:
    def assigned(version: int) -> CloudEvent[Any]:
        return wrap(
            TopicsAssigned(
                document_id=DOCUMENT,
                owner_id=OWNER,
                generation=1,
                topic_ids=[BIRDS] * version,
                assigned_by="owner",
                version=version,
            )
        )

    await handlers.on_topics_assigned(assigned(2), replica=replica, blobs=blobs)
    await handlers.on_topics_assigned(assigned(1), replica=replica, blobs=blobs)
    label = await replica.label(OWNER, DOCUMENT)
    assert label is not None
    assert (label.version, label.topic_ids) == (2, (BIRDS, BIRDS))
