"""LLM answers are cached by text + topic set + provider + model + prompt (real openai SDK)."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from pydantic import SecretStr

from docuvault.classifier import handlers
from docuvault.classifier.domain import Policy
from docuvault.classifier.providers.openai_chat import OpenAIProvider
from docuvault.classifier.replica import Replica
from docuvault.contracts import CloudEvent, EventData, new_event
from docuvault.contracts.events import (
    ClassificationFailed,
    ClassificationRequested,
    ClassificationSettingsChanged,
    Classified,
    TopicUpserted,
)
from docuvault.runtime.testing import InMemoryBlobStore, RecordingPublisher

OWNER = uuid.uuid4()
BIRDS, BOATS = uuid.uuid4(), uuid.uuid4()
TEXT = "We counted sparrows and two herons by the lake."
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def wrap(data: EventData) -> CloudEvent[Any]:
    return new_event(data, source="catalog", traceparent=TRACEPARENT)


def reply(fake_llm: Any, status: int = 200) -> Any:
    answer = {"topics": [{"topic_id": str(BIRDS), "confidence": 0.9}], "suggested_new_topics": []}
    message = {"role": "assistant", "content": json.dumps(answer), "refusal": None}
    body = {
        "id": "c1",
        "object": "chat.completion",
        "created": 0,
        "model": "gpt-test",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop", "logprobs": None}],
    }
    return fake_llm.Reply(status, body if status == 200 else {"error": {}})


@pytest.fixture
async def openai(fake_llm: Any) -> AsyncIterator[OpenAIProvider]:
    provider = OpenAIProvider(
        api_key=SecretStr("sk-test"),
        model="gpt-test",
        base_url=fake_llm.base_url + "/v1",
        max_retries=0,
    )
    yield provider
    await provider.close()


async def classify(
    blobs: InMemoryBlobStore, replica: Replica, provider: OpenAIProvider
) -> EventData:
    document = uuid.uuid4()  # another document with the same text
    key = f"{OWNER}/{document}/text"
    await blobs.put(key, TEXT.encode(), content_type="text/plain")
    request = ClassificationRequested(
        document_id=document,
        owner_id=OWNER,
        generation=1,
        provider="openai",
        text_object_key=key,
        text_sha256=hashlib.sha256(TEXT.encode()).hexdigest(),
    )
    publisher = RecordingPublisher()
    policy = Policy(frozenset({"local", "openai"}), "local", 0.5, 100_000)
    await handlers.on_classification_requested(
        wrap(request),
        blobs=blobs,
        replica=replica,
        providers={"openai": provider},
        policy=policy,
        publish=publisher,
    )
    [event] = publisher.events
    data: EventData = event.data
    return data


async def upsert(replica: Replica, topic_id: uuid.UUID, name: str, version: int = 1) -> None:
    change = TopicUpserted(owner_id=OWNER, version=version, topic_id=topic_id, name=name)
    await handlers.on_topic_changed(wrap(change), replica=replica)


async def test_unchanged_question_is_asked_once(
    fake_llm: Any, openai: OpenAIProvider, blobs: InMemoryBlobStore, replica: Replica
) -> None:
    fake_llm.script = [reply(fake_llm)]
    await upsert(replica, BIRDS, "Birds")
    first = await classify(blobs, replica, openai)
    again = await classify(blobs, replica, openai)
    assert isinstance(first, Classified)
    assert isinstance(again, Classified)
    assert [t.topic_id for t in again.topics] == [t.topic_id for t in first.topics] == [BIRDS]
    assert len(fake_llm.seen) == 1
    cached = [i.key for i in await blobs.list(f"{OWNER}/classifier/cache/")]
    assert len(cached) == 1
    assert TEXT.encode() not in await blobs.get(cached[0])  # verdicts only, never the text

    await upsert(replica, BOATS, "Boats")  # another topic set
    await classify(blobs, replica, openai)
    await upsert(replica, BOATS, "Sailing", version=2)  # a topic renamed
    await classify(blobs, replica, openai)
    prompt = ClassificationSettingsChanged(
        owner_id=OWNER,
        version=1,
        provider="openai",
        system_prompt="Be strict.",
        apply_threshold=0.5,
    )
    await handlers.on_settings_changed(wrap(prompt), replica=replica)  # another prompt
    await classify(blobs, replica, openai)
    await classify(blobs, replica, openai)
    assert len(fake_llm.seen) == 4


async def test_failures_are_not_cached(
    fake_llm: Any, openai: OpenAIProvider, blobs: InMemoryBlobStore, replica: Replica
) -> None:
    await upsert(replica, BIRDS, "Birds")
    fake_llm.script = [reply(fake_llm, 500)]
    failed = await classify(blobs, replica, openai)
    assert isinstance(failed, ClassificationFailed)
    assert failed.reason == "provider_unavailable"
    fake_llm.script = [reply(fake_llm)]
    assert isinstance(await classify(blobs, replica, openai), Classified)
    assert len(fake_llm.seen) == 2
