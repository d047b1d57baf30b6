"""Projections in the real catalog database: inbox idempotency and order independence."""

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from docuvault.catalog import bootstrap
from docuvault.catalog.adapters.documents import PostgresCatalog, project_event, project_events
from docuvault.catalog.handlers import CONSUMER
from docuvault.contracts import CloudEvent, new_event
from docuvault.contracts.events import (
    AuditActor,
    AuditRecorded,
    CatalogRebuildMarker,
    ClassificationFailed,
    ClassificationRequested,
    ClassificationSettingsChanged,
    Classified,
    DocumentDeleted,
    DocumentUploaded,
    ExtractionFailed,
    ReprocessRequested,
    TextExtracted,
    TokenRevoked,
    TopicDeleted,
    TopicsAssigned,
    TopicScore,
    TopicUpserted,
)
from docuvault.devstack.stack import Stack
from docuvault.runtime import db
from docuvault.runtime.events import fresh

SHA = "b" * 64


@pytest.fixture
async def catalog(stack: Stack) -> AsyncIterator[PostgresCatalog]:
    pool = await db.create_pool(stack.config.database_url("catalog", "app"))
    yield PostgresCatalog(pool)
    await pool.close()


def _events(doc: uuid.UUID, owner: uuid.UUID) -> list[CloudEvent[Any]]:
    ids = {"document_id": doc, "owner_id": owner}
    return [
        fresh(
            DocumentUploaded(
                **ids,
                generation=1,
                filename="r.pdf",
                content_type="application/pdf",
                size_bytes=9,
                sha256=SHA,
                object_key=f"{owner}/{doc}/original",
            ),
            source="ingest",
        ),
        fresh(
            TextExtracted(
                **ids,
                generation=1,
                page_count=3,
                char_count=12,
                language="en",
                text_object_key="t",
                pages_object_key="p",
                text_sha256=SHA,
                text_preview="preview",
                extractor_version="1",
            ),
            source="extractor",
        ),
        fresh(
            TextExtracted(
                **ids,
                generation=2,
                page_count=4,
                char_count=12,
                language="de",
                text_object_key="t2",
                pages_object_key="p2",
                text_sha256=SHA,
                text_preview="preview",
                extractor_version="1",
            ),
            source="extractor",
        ),
        fresh(
            Classified(
                **ids,
                generation=2,
                topics=[TopicScore(topic_id=uuid.uuid4(), name="Tax", confidence=0.8)],
                provider="local",
                model="m",
                text_sha256=SHA,
            ),
            source="classifier",
        ),
    ]


async def _row(pool: asyncpg.Pool, doc: uuid.UUID) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT status, page_count, language, filename, generation, topic_ids,"
        " extract_generation, classify_generation FROM documents WHERE document_id = $1",
        doc,
    )
    assert row is not None
    return dict(row)


async def test_shuffled_and_duplicated_events_give_the_same_row(catalog: PostgresCatalog) -> None:
    owner = uuid.uuid4()
    rows = []
    for seed in range(4):
        doc = uuid.uuid4()
        events = _events(doc, owner)
        if seed == 0:
            ordered = events
        else:
            ordered = events + random.Random(seed).sample(events, 2)
            random.Random(seed).shuffle(ordered)
        for event in ordered:
            await catalog.project("test.projections", event)
        row = await _row(catalog.pool, doc)
        row.pop("topic_ids")
        rows.append(row)
    assert all(r == rows[0] for r in rows)
    assert rows[0]["status"] == "classified"
    assert rows[0]["page_count"] == 4
    assert rows[0]["language"] == "de"


async def test_concurrent_first_events_of_a_document_are_all_kept(
    catalog: PostgresCatalog,
) -> None:
    """The live consumer projects up to ``prefetch`` events at once, several of one document."""
    owner = uuid.uuid4()
    docs = [uuid.uuid4() for _ in range(15)]
    events = [e for doc in docs for e in _events(doc, owner)]
    random.Random(3).shuffle(events)
    await asyncio.gather(*(catalog.project("test.concurrent", e) for e in events))
    for doc in docs:
        row = await _row(catalog.pool, doc)
        assert row["status"] == "classified", row
        assert row["filename"] == "r.pdf"
        assert row["page_count"] == 4


async def test_the_inbox_applies_an_event_once(catalog: PostgresCatalog) -> None:
    owner, doc = uuid.uuid4(), uuid.uuid4()
    first = _events(doc, owner)[0]
    assert await catalog.project("test.inbox", first) is True
    assert await catalog.project("test.inbox", first) is False
    history = await catalog.history(doc)
    assert [h["type"] for h in history] == ["io.docuvault.document.uploaded.v1"]


async def test_audit_events_land_in_the_trail(catalog: PostgresCatalog) -> None:
    event = fresh(
        AuditRecorded(
            actor=AuditActor(owner_id=uuid.uuid4(), jti="j1"),
            action="document.upload",
            target="x",
            remote_address="127.0.0.1",
            result="accepted",
            time=_events(uuid.uuid4(), uuid.uuid4())[0].time,
        ),
        source="ingest",
    )
    assert await catalog.project("test.audit", event)  # type: ignore[arg-type]
    stored = await catalog.pool.fetchval(
        "SELECT action FROM audit_trail WHERE event_id = $1", event.id
    )
    assert stored == "document.upload"


# --- every event type, replayed in any order into fresh schemas (issue 4: rebuild) ----------------
T0 = datetime(2026, 2, 1, tzinfo=UTC)
READ_MODEL = {
    "documents": "document_id",
    "topics": "topic_id",
    "classification_settings": "owner_id",
    "document_history": "event_id",
    "audit_trail": "event_id",
    "inbox": "event_id",
}


@pytest.fixture
async def schemas(scratch_database: str) -> AsyncIterator[list[asyncpg.Pool]]:
    """Five empty read models (schemas of the scratch database), each with its own pool."""
    names = [f"replay_{uuid.uuid4().hex[:10]}" for _ in range(5)]
    admin = await asyncpg.connect(scratch_database)
    # as infra/postgres/roles.sql does for the catalog's database (superuser only)
    await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    pools: list[asyncpg.Pool] = []
    try:
        for name in names:
            await admin.execute(f'CREATE SCHEMA "{name}"')
            await db.migrate(f"{scratch_database}?search_path={name}", bootstrap.MIGRATIONS)
            pool = await asyncpg.create_pool(
                scratch_database, min_size=1, max_size=2, server_settings={"search_path": name}
            )
            assert pool is not None
            pools.append(pool)
        yield pools
    finally:
        for pool in pools:
            await pool.close()
        for name in names:
            await admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')
        await admin.close()


def _at(seconds: float, data: Any, source: str = "catalog") -> CloudEvent[Any]:
    return new_event(
        data,
        source=source,
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
        time=T0 + timedelta(seconds=seconds),
    )


def _history_of_two_owners() -> list[CloudEvent[Any]]:
    """Every event type the catalog projects, for two owners, in the order they happened."""
    return _history(uuid.uuid4(), 0.0) + _history(uuid.uuid4(), 1000.0)


def _history(owner: uuid.UUID, t: float) -> list[CloudEvent[Any]]:
    tax, gone = uuid.uuid4(), uuid.uuid4()
    doc, other, deleted = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()

    def topic(topic_id: uuid.UUID, version: int, name: str, s: float) -> CloudEvent[Any]:
        data = TopicUpserted(
            topic_id=topic_id, owner_id=owner, version=version, name=name, keywords=[name]
        )
        return _at(t + s, data)

    def ids(d: uuid.UUID, generation: int = 1) -> dict[str, Any]:
        return {"document_id": d, "owner_id": owner, "generation": generation}

    def upload(d: uuid.UUID, s: float) -> CloudEvent[Any]:
        return _at(
            t + s,
            DocumentUploaded(
                **ids(d),
                filename=f"{d}.txt",
                content_type="text/plain",
                size_bytes=5,
                sha256=SHA,
                object_key="k",
            ),
            "ingest",
        )

    def text(d: uuid.UUID, generation: int, s: float) -> CloudEvent[Any]:
        return _at(
            t + s,
            TextExtracted(
                **ids(d, generation),
                page_count=generation,
                char_count=5,
                language="en",
                text_object_key=f"t{generation}",
                pages_object_key="p",
                text_sha256=SHA,
                text_preview="tax letter",
                extractor_version="1",
            ),
            "extractor",
        )

    def classified(d: uuid.UUID, generation: int, s: float) -> CloudEvent[Any]:
        scores = [TopicScore(topic_id=tax, name="tax", confidence=0.9)]
        return _at(
            t + s,
            Classified(
                **ids(d, generation),
                topics=[*scores, TopicScore(topic_id=gone, name="gone", confidence=0.8)],
                suggestions=[TopicScore(topic_id=gone, name="gone", confidence=0.1)],
                provider="local",
                model="m",
                text_sha256=SHA,
            ),
            "classifier",
        )

    return [
        topic(tax, 1, "tax", 0),
        topic(gone, 1, "gone", 1),
        _at(
            t + 2,
            ClassificationSettingsChanged(
                owner_id=owner, version=1, provider="local", apply_threshold=0.5
            ),
        ),
        upload(doc, 3),
        upload(other, 4),
        upload(deleted, 5),
        text(doc, 1, 6),
        text(other, 1, 7),
        _at(t + 8, ExtractionFailed(**ids(deleted), reason="corrupt", detail="x"), "extractor"),
        classified(doc, 1, 9),
        classified(other, 1, 10),
        _at(
            t + 11,
            TopicsAssigned(**ids(other), topic_ids=[gone, tax], assigned_by="me", version=1),
        ),
        _at(
            t + 12,
            ClassificationRequested(**ids(doc, 2), text_object_key="t1", text_sha256=SHA),
        ),
        classified(doc, 2, 13),
        _at(
            t + 14,
            ReprocessRequested(
                **ids(doc, 3), stage="extract", object_key="k", content_type="text/plain"
            ),
        ),
        text(doc, 3, 15),
        _at(
            t + 16,
            ClassificationFailed(**ids(doc, 3), reason="internal", detail="d", provider="local"),
            "classifier",
        ),
        _at(t + 17, DocumentDeleted(**ids(deleted))),
        topic(tax, 2, "taxes", 18),
        _at(t + 19, TopicDeleted(topic_id=gone, owner_id=owner, version=2, name="gone")),
        _at(t + 20, TopicsAssigned(**ids(other), topic_ids=[tax], assigned_by="me", version=2)),
        _at(
            t + 21,
            ClassificationSettingsChanged(
                owner_id=owner,
                version=2,
                provider="local",
                system_prompt="p",
                apply_threshold=0.7,
            ),
        ),
        _at(
            t + 22,
            AuditRecorded(
                actor=AuditActor(owner_id=owner),
                action="document.upload",
                result="accepted",
                time=T0,
            ),
            "ingest",
        ),
        _at(t + 23, TokenRevoked(jti=f"j{owner}", owner_id=owner, expires_at=T0)),
        _at(t + 24, CatalogRebuildMarker(rebuild_id=uuid.uuid4())),
        # after the deletion: dropped
        text(deleted, 2, 25),
    ]


async def _dump(pool: asyncpg.Pool) -> dict[str, list[dict[str, Any]]]:
    dumped = {}
    for table, key in READ_MODEL.items():
        found = await pool.fetch(f"SELECT * FROM {table} ORDER BY {key}")  # noqa: S608
        dumped[table] = [{k: v for k, v in r.items() if k != "received_at"} for r in found]
    return dumped


def _text(event: CloudEvent[Any]) -> str | None:
    return "tax letter text" if event.type.endswith("text_extracted.v1") else None


async def _replay(pool: asyncpg.Pool, events: list[CloudEvent[Any]]) -> list[bool]:
    """One event at a time, each in its transaction (as the live catalog applies them)."""
    applied = []
    for event in events:
        async with pool.acquire() as conn, conn.transaction():
            applied.append(await project_event(conn, CONSUMER, event, _text(event)))
    return applied


async def _replay_in_batches(pool: asyncpg.Pool, events: list[CloudEvent[Any]], seed: int) -> None:
    """Batches of random sizes (as ``rebuild`` applies them)."""
    rng = random.Random(seed)
    position = 0
    while position < len(events):
        batch = events[position : position + rng.randint(1, 20)]
        position += len(batch)
        async with pool.acquire() as conn, conn.transaction():
            await project_events(conn, CONSUMER, batch, [_text(e) for e in batch])


async def test_any_order_with_duplicates_gives_the_same_read_model(
    schemas: list[asyncpg.Pool],
) -> None:
    events = _history_of_two_owners()
    in_order, *shuffled = schemas
    await _replay(in_order, events)
    expected = await _dump(in_order)
    for seed, pool in enumerate(shuffled):
        noisy = events + random.Random(seed).sample(events, 15)
        random.Random(seed + 100).shuffle(noisy)
        await _replay_in_batches(pool, noisy, seed)
        assert await _dump(pool) == expected
    documents = expected["documents"]
    assert len(documents) == 6
    tombstones = [d for d in documents if d["deleted_at"] is not None]
    assert len(tombstones) == 2
    assert all(d["filename"] is None and d["search_text"] is None for d in tombstones)
    live = [d for d in documents if d["deleted_at"] is None]
    assert sorted(d["generation"] for d in live) == [1, 1, 3, 3]
    assert {d["status"] for d in live} == {"classification_failed", "classified"}
    assert sorted(d["manual_version"] for d in live) == [0, 0, 2, 2]
    assert all("gone" not in d["classifier_topics"] for d in live)  # the deleted topic left
    topics = expected["topics"]
    assert sorted((t["name"], t["version"], t["deleted_at"] is not None) for t in topics) == [
        ("gone", 2, True),
        ("gone", 2, True),
        ("taxes", 2, False),
        ("taxes", 2, False),
    ]
    assert sorted(s["version"] for s in expected["classification_settings"]) == [2, 2]
    assert len(expected["audit_trail"]) == 2
    # token revocations and markers leave nothing, not even an inbox row
    assert len(expected["inbox"]) == len(events) - 4


async def test_a_replayed_event_is_applied_once(schemas: list[asyncpg.Pool]) -> None:
    events = _history_of_two_owners()
    first = await _replay(schemas[0], events)
    again = await _replay(schemas[0], events)
    projected = [e for e, fresh_ in zip(events, first, strict=True) if fresh_]
    assert all(first)  # the first time, every event is new (or leaves nothing)
    assert [e.type for e, a in zip(events, again, strict=True) if a] == [
        e.type for e in projected if e.type.endswith(("token_revoked.v1", "rebuild_marker.v1"))
    ]


async def test_concurrent_events_keep_the_search_text(catalog: PostgresCatalog) -> None:
    """Events projected together (a group commit) index each document's current text."""
    owner = uuid.uuid4()
    docs = [uuid.uuid4() for _ in range(6)]
    events = [e for doc in docs for e in _events(doc, owner)]
    texts = [
        f"words of generation {e.data.generation}" if isinstance(e.data, TextExtracted) else None
        for e in events
    ]
    await asyncio.gather(
        *(catalog.project("test.search", e, t) for e, t in zip(events, texts, strict=True))
    )
    found = await catalog.pool.fetch("SELECT search_text FROM documents WHERE owner_id = $1", owner)
    assert [r["search_text"] for r in found] == ["words of generation 2"] * len(docs)
