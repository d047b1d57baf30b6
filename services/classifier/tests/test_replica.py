from __future__ import annotations

import uuid

import pytest

from docuvault.classifier import replica as replica_module
from docuvault.classifier.replica import STAMP, Replica
from docuvault.contracts.events import (
    ClassificationSettingsChanged,
    TopicDeleted,
    TopicMatch,
    TopicsAssigned,
    TopicUpserted,
)
from docuvault.runtime.auth import Keyring
from docuvault.runtime.blobstore import BlobInfo, EncryptedBlobStore
from docuvault.runtime.testing import InMemoryBlobStore

OWNER = uuid.uuid4()
TOPIC = uuid.uuid4()


def upsert(version: int, name: str, topic_id: uuid.UUID = TOPIC) -> TopicUpserted:
    return TopicUpserted(
        owner_id=OWNER,
        version=version,
        topic_id=topic_id,
        name=name,
        description=f"about {name}",
        keywords=[name.lower()],
        match=TopicMatch(algorithm="any", pattern=name),
    )


def delete(version: int, topic_id: uuid.UUID = TOPIC) -> TopicDeleted:
    return TopicDeleted(owner_id=OWNER, version=version, topic_id=topic_id)


def settings(version: int, provider: str, threshold: float) -> ClassificationSettingsChanged:
    return ClassificationSettingsChanged(
        owner_id=OWNER, version=version, provider=provider, apply_threshold=threshold
    )


async def names(replica: Replica, owner: uuid.UUID = OWNER) -> list[str]:
    return [t.name for t in await replica.topics(owner)]


async def test_upsert_then_read(replica: Replica) -> None:
    assert await replica.topics(OWNER) == []
    assert await replica.apply_topic(upsert(1, "Invoices"))
    [topic] = await replica.topics(OWNER)
    assert (topic.topic_id, topic.name, topic.description) == (TOPIC, "Invoices", "about Invoices")
    assert topic.keywords == ("invoices",)
    assert topic.match == TopicMatch(algorithm="any", pattern="Invoices")


async def test_newer_upsert_replaces_and_older_is_ignored(replica: Replica) -> None:
    assert await replica.apply_topic(upsert(1, "One"))
    assert await replica.apply_topic(upsert(3, "Three"))
    assert not await replica.apply_topic(upsert(2, "Two"))  # late
    assert not await replica.apply_topic(upsert(3, "Three"))  # redelivered
    assert await names(replica) == ["Three"]


async def test_superseded_versions_are_removed(blobs: InMemoryBlobStore, replica: Replica) -> None:
    for version in (1, 2, 3):
        await replica.apply_topic(upsert(version, f"v{version}"))
    assert sorted(blobs.objects) == [
        f"{OWNER}/classifier/{STAMP}",
        f"{OWNER}/classifier/topics/{TOPIC}/v000000000003.json",
    ]


async def test_delete_leaves_a_tombstone_an_older_upsert_cannot_outrank(replica: Replica) -> None:
    await replica.apply_topic(upsert(1, "One"))
    assert await replica.apply_topic(delete(3))
    assert not await replica.apply_topic(upsert(2, "Two"))
    assert await names(replica) == []
    assert await replica.apply_topic(upsert(4, "Back"))  # a newer upsert recreates it
    assert await names(replica) == ["Back"]


async def test_delete_before_any_upsert(replica: Replica) -> None:
    assert await replica.apply_topic(delete(2))
    assert not await replica.apply_topic(upsert(1, "Late"))
    assert await names(replica) == []


async def test_owners_are_apart_and_topics_sorted_by_name(replica: Replica) -> None:
    await replica.apply_topic(upsert(1, "beta", uuid.uuid4()))
    await replica.apply_topic(upsert(1, "Alpha", uuid.uuid4()))
    other = uuid.uuid4()
    assert await names(replica) == ["Alpha", "beta"]
    assert await names(replica, other) == []


async def test_a_new_replica_sees_everything(blobs: InMemoryBlobStore, replica: Replica) -> None:
    await replica.apply_topic(upsert(2, "Kept"))
    await replica.apply_settings(settings(1, "local", 0.8))
    fresh = Replica(blobs)
    assert await names(fresh) == ["Kept"]
    owner = await fresh.settings(OWNER)
    assert owner is not None
    assert owner.apply_threshold == 0.8
    # ...and a change made through one replica is seen by the other at once
    await fresh.apply_topic(upsert(3, "Renamed"))
    assert await names(replica) == ["Renamed"]


async def test_settings_versions(replica: Replica) -> None:
    assert await replica.settings(OWNER) is None
    assert await replica.apply_settings(settings(2, "openai", 0.7))
    assert not await replica.apply_settings(settings(1, "local", 0.1))
    owner = await replica.settings(OWNER)
    assert owner is not None
    assert (owner.version, owner.provider, owner.apply_threshold) == (2, "openai", 0.7)


async def test_labels_by_version(replica: Replica) -> None:
    document = uuid.uuid4()
    topics = [uuid.uuid4(), uuid.uuid4()]

    def assigned(version: int, topic_ids: list[uuid.UUID]) -> TopicsAssigned:
        return TopicsAssigned(
            document_id=document,
            owner_id=OWNER,
            generation=1,
            topic_ids=topic_ids,
            assigned_by="tester",
            version=version,
            text_object_key=f"{OWNER}/{document}/text",
            text_sha256="a" * 64,
        )

    assert await replica.label(OWNER, document) is None
    assert await replica.record_label(assigned(2, topics), {"heron": 2})
    assert not await replica.record_label(assigned(1, topics[:1]), {})
    label = await replica.label(OWNER, document)
    assert label is not None
    assert (label.version, label.topic_ids) == (2, tuple(topics))
    assert label.text_sha256 == "a" * 64
    assert label.terms == {"heron": 2}


async def test_a_version_removed_while_reading_is_retried(blobs: InMemoryBlobStore) -> None:
    replica = Replica(blobs)
    await replica.apply_topic(upsert(1, "One"))
    real_list = blobs.list
    calls = 0

    async def racing_list(prefix: str) -> list[BlobInfo]:
        nonlocal calls
        calls += 1
        listing = await real_list(prefix)
        if calls == 1:  # another replica writes v2 and removes v1 right after this listing
            await Replica(blobs).apply_topic(upsert(2, "Two"))
        return listing

    blobs.list = racing_list  # type: ignore[method-assign]
    assert await names(replica) == ["Two"]
    assert calls == 4  # the writer's own listing, then the retry; then the settings


async def test_unreadable_objects_are_ignored(blobs: InMemoryBlobStore, replica: Replica) -> None:
    await replica.apply_topic(upsert(1, "Good"))
    bad = uuid.uuid4()
    await blobs.put(f"{OWNER}/classifier/topics/{bad}/v000000000001.json", b"{", content_type="x")
    await blobs.put(f"{OWNER}/classifier/topics/{bad}/notes.txt", b"", content_type="x")
    assert await names(replica) == ["Good"]


class CountingStore(InMemoryBlobStore):
    """Counts the listings (what the view's cache saves)."""

    def __init__(self) -> None:
        super().__init__()
        self.listings = 0

    async def list(self, prefix: str) -> list[BlobInfo]:
        self.listings += 1
        return await super().list(prefix)


async def test_the_view_is_cached_under_the_stamp() -> None:
    blobs = CountingStore()
    replica = Replica(blobs)
    await replica.apply_topic(upsert(1, "Invoices"))
    await replica.apply_settings(settings(1, "local", 0.7))
    first = await replica.view(OWNER)
    listed = blobs.listings
    again = await replica.view(OWNER)
    assert again is first
    assert blobs.listings == listed  # one small GET, nothing listed
    assert [t.name for t in again.topics] == ["Invoices"]
    assert again.settings is not None
    assert again.settings.apply_threshold == 0.7


async def test_a_write_by_any_replica_is_seen_at_the_next_view() -> None:
    blobs = CountingStore()
    reader, writer = Replica(blobs), Replica(blobs)
    assert (await reader.view(OWNER)).topics == ()  # cached with no stamp at all
    await writer.apply_topic(upsert(1, "Invoices"))
    assert [t.name for t in (await reader.view(OWNER)).topics] == ["Invoices"]
    await writer.apply_settings(settings(1, "local", 0.9))
    owner = (await reader.view(OWNER)).settings
    assert owner is not None
    assert owner.apply_threshold == 0.9
    await writer.apply_topic(delete(2))
    assert (await reader.view(OWNER)).topics == ()


async def test_a_redelivered_write_stamps_again(blobs: InMemoryBlobStore) -> None:
    """A writer that stored its version but stopped before the stamp: the redelivery stamps."""
    reader = Replica(blobs)
    await reader.apply_topic(upsert(1, "Old"))
    assert await names(reader) == ["Old"]
    stamp = blobs.objects[f"{OWNER}/classifier/{STAMP}"]
    await Replica(blobs).apply_topic(upsert(2, "New"))
    blobs.objects[f"{OWNER}/classifier/{STAMP}"] = stamp  # as if the stamp was never written
    assert await names(reader) == ["Old"]  # the cache cannot know yet
    assert not await Replica(blobs).apply_topic(upsert(2, "New"))  # the redelivery
    assert await names(reader) == ["New"]


async def test_the_view_is_listed_again_after_its_time_to_live(
    blobs: InMemoryBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writers that do not stamp (an older version during an upgrade) are seen within the TTL."""
    reader = Replica(blobs)
    assert await names(reader) == []
    record = b'{"version": 1, "topic_id": "%s", "name": "Unstamped"}' % str(TOPIC).encode()
    key = f"{OWNER}/classifier/topics/{TOPIC}/v000000000001.json"
    await blobs.put(key, record, content_type="x")
    assert await names(reader) == []
    monkeypatch.setattr(replica_module, "VIEW_TTL_S", 0.0)
    assert await names(reader) == ["Unstamped"]


async def test_another_replicas_write_is_seen_through_sealed_objects() -> None:
    """The services seal every object (no content type survives): the stamp still works."""
    shared = InMemoryBlobStore()
    keyring = Keyring("a-test-secret-that-is-long-enough")
    reader = Replica(EncryptedBlobStore(shared, keyring))
    writer = Replica(EncryptedBlobStore(shared, keyring))
    assert await names(reader) == []
    await writer.apply_topic(upsert(1, "Invoices"))
    assert await names(reader) == ["Invoices"]
