"""The worker learns from ``document.topics_assigned.v1``: at once, by version, across replicas.

Texts and topics written for these tests; state only in the (in-memory) object store.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from docuvault.classifier import handlers
from docuvault.classifier.domain import Policy
from docuvault.classifier.providers.local import LEARNED_MODEL, MODEL, LocalProvider
from docuvault.classifier.replica import Replica
from docuvault.contracts import CloudEvent, EventData, new_event
from docuvault.contracts.events import Classified, TextExtracted, TopicsAssigned, TopicUpserted
from docuvault.runtime.testing import InMemoryBlobStore, RecordingPublisher

OWNER = uuid.uuid4()
HOME, WORK = uuid.uuid4(), uuid.uuid4()
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EXAMPLES = {
    HOME: [
        "The boiler was serviced and the radiator in the hallway bled; the plumber's invoice.",
        "Council tax for the flat, the boiler warranty and the landlord's note on the radiator.",
        "Mortgage statement; the plumber repaired the leaking boiler valve under the stairs.",
    ],
    WORK: [
        "Quarterly appraisal with my manager: objectives, payroll grade and the pension scheme.",
        "Payslip for March, pension contributions and the manager's sign-off on overtime.",
        "Appraisal notes: the manager approved training; payroll will add the bonus.",
    ],
}
UNSEEN = "My manager moved the appraisal; payroll says the pension change starts soon."


def wrap(data: EventData) -> CloudEvent[Any]:
    return new_event(data, source="catalog", traceparent=TRACEPARENT)


async def store(blobs: InMemoryBlobStore, document: uuid.UUID, text: str) -> tuple[str, str]:
    key = f"{OWNER}/{document}/text"
    await blobs.put(key, text.encode(), content_type="text/plain")
    return key, hashlib.sha256(text.encode()).hexdigest()


async def confirm(
    blobs: InMemoryBlobStore,
    replica: Replica,
    document: uuid.UUID,
    text: str | None,
    topic_ids: list[uuid.UUID],
    version: int = 1,
) -> None:
    key, sha = await store(blobs, document, text) if text else (None, None)
    assigned = TopicsAssigned(
        document_id=document,
        owner_id=OWNER,
        generation=1,
        topic_ids=topic_ids,
        assigned_by="owner",
        version=version,
        text_object_key=key,
        text_sha256=sha,
    )
    await handlers.on_topics_assigned(wrap(assigned), replica=replica, blobs=blobs)


async def classify(blobs: InMemoryBlobStore, replica: Replica, text: str) -> Classified:
    document = uuid.uuid4()
    key, sha = await store(blobs, document, text)
    extracted = TextExtracted(
        document_id=document,
        owner_id=OWNER,
        generation=1,
        auto_classify=True,
        page_count=1,
        char_count=len(text),
        text_object_key=key,
        pages_object_key=f"{key}.pages",
        text_sha256=sha,
        text_preview=text[:100],
        extractor_version="test",
    )
    publisher = RecordingPublisher()
    policy = Policy(frozenset({"local"}), "local", apply_threshold=0.5, max_chars=100_000)
    await handlers.on_text_extracted(
        wrap(extracted),
        blobs=blobs,
        replica=replica,
        providers={"local": LocalProvider()},
        policy=policy,
        publish=publisher,
    )
    [event] = publisher.events
    assert isinstance(event.data, Classified)
    return event.data


async def with_topics(blobs: InMemoryBlobStore) -> Replica:
    replica = Replica(blobs)
    for topic_id, name, description in [
        (HOME, "Home", "Things about the house."),
        (WORK, "Work", "Things about the job."),
    ]:
        upsert = TopicUpserted(
            owner_id=OWNER, version=1, topic_id=topic_id, name=name, description=description
        )
        await handlers.on_topic_changed(wrap(upsert), replica=replica)
    return replica


async def test_confirmations_are_learned_at_once_and_shared(blobs: InMemoryBlobStore) -> None:
    replica = await with_topics(blobs)
    before = await classify(blobs, replica, UNSEEN)
    assert (before.model, before.topics) == (MODEL, [])  # the names alone do not tell
    for topic_id, texts in EXAMPLES.items():
        for text in texts:
            await confirm(blobs, replica, uuid.uuid4(), text, [topic_id])
    after = await classify(blobs, replica, UNSEEN)
    assert after.model == LEARNED_MODEL
    assert [t.topic_id for t in after.topics] == [WORK]
    # a restarted worker, or another replica, has nothing in memory and learns the same
    other = await classify(blobs, Replica(blobs), UNSEEN)
    assert (other.model, other.topics) == (after.model, after.topics)


async def test_a_relabelled_document_moves_not_doubles(blobs: InMemoryBlobStore) -> None:
    replica = await with_topics(blobs)
    document = uuid.uuid4()
    await confirm(blobs, replica, document, EXAMPLES[WORK][0], [HOME], version=1)
    await confirm(blobs, replica, uuid.uuid4(), EXAMPLES[HOME][0], [HOME])
    examples = await replica.examples(OWNER)
    assert (examples.documents(HOME), examples.documents(WORK)) == (2, 0)
    await confirm(blobs, replica, document, EXAMPLES[WORK][0], [WORK], version=2)
    await confirm(blobs, replica, document, EXAMPLES[WORK][0], [HOME], version=1)  # late
    examples = await replica.examples(OWNER)
    assert (examples.documents(HOME), examples.documents(WORK)) == (1, 1)
    fresh = await Replica(blobs).examples(OWNER)
    assert (fresh.documents(HOME), fresh.documents(WORK)) == (1, 1)


async def test_a_confirmation_without_text_teaches_nothing(blobs: InMemoryBlobStore) -> None:
    replica = await with_topics(blobs)
    await confirm(blobs, replica, uuid.uuid4(), None, [HOME])
    assert not await replica.examples(OWNER)
    label_keys = [i.key for i in await blobs.list(f"{OWNER}/classifier/labels/")]
    assert len(label_keys) == 1  # the confirmation itself is kept
