"""``POST /v1/documents/bulk/{classify,topics,delete}`` against the private stack: per-id
outcomes, another owner's ids not found, the cap, and the events on the bus."""

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import owner_id_for

FINAL = {"classified", "extraction_failed", "classification_failed"}
BROKEN_PDF = b"%PDF-1.7\n" + b"\x00\x17 not a pdf body \xff" * 64
REQUESTED = "io.docuvault.document.classification_requested.v1"
ASSIGNED = "io.docuvault.document.topics_assigned.v1"
DELETED = "io.docuvault.document.deleted.v1"
CLASSIFIED = "io.docuvault.document.classified.v1"


@pytest.fixture
async def bus(api: Api) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """A queue of our own on the events exchange: what the catalog publishes."""
    connection = await aio_pika.connect(api.stack.config.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange("docuvault.events")
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "document.#")
    yield queue
    await connection.close()


async def _published(
    queue: aio_pika.abc.AbstractQueue, type_: str, expected: set[str], within_s: float = 15
) -> set[str]:
    """The subjects of the ``type_`` events published until ``expected`` were all seen (or
    the time is up), and any more of that type that came by then."""
    seen: set[str] = set()
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline and not expected <= seen:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        elif message.type == type_:
            seen.add(json.loads(message.body)["subject"])
    return seen


async def _upload(api: Api, owner: str, files: list[tuple[str, bytes]]) -> list[str]:
    """Upload and wait until every document is final."""
    ids = await api.upload(owner, files)
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(300):
            docs = [await _doc(client, api, owner, i) for i in ids]
            if all(d["status"] in FINAL for d in docs):
                return ids
            await asyncio.sleep(0.1)
    raise AssertionError(f"not processed in time: {ids}")


async def _doc(client: httpx.AsyncClient, api: Api, owner: str, document_id: str) -> Any:
    answer = await client.get(f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(owner))
    return answer.json() if answer.status_code == 200 else {"status": None, "history": []}


@pytest.fixture
async def setting(api: Api) -> tuple[str, list[str], str, str]:
    """An owner's two text documents and a failed PDF, and a stranger's document."""
    owner, stranger = f"bulk-{uuid.uuid4()}", f"bulk-stranger-{uuid.uuid4()}"
    ids = await _upload(
        api,
        owner,
        [
            ("a.txt", b"Invoice for the garden."),
            ("b.txt", b"Minutes of the board."),
            ("c.pdf", BROKEN_PDF),
        ],
    )
    [theirs] = await _upload(api, stranger, [("d.txt", b"Someone else's letter.")])
    return owner, ids, stranger, theirs


def _client(api: Api, owner: str, *scopes: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner, *scopes), timeout=30)


async def test_bulk_classify(
    api: Api, setting: tuple[str, list[str], str, str], bus: aio_pika.abc.AbstractQueue
) -> None:
    owner, (a, b, broken), stranger, theirs = setting
    unknown = str(uuid.uuid4())
    async with _client(api, owner) as client:
        answer = await client.post(
            "/v1/documents/bulk/classify",
            json={"document_ids": [a, theirs, b, broken, unknown, a]},
        )
        assert answer.status_code == 202, answer.text
        assert answer.json() == {
            "done": [{"document_id": a, "generation": 2}, {"document_id": b, "generation": 2}],
            "not_found": [theirs, unknown],
            "no_text": [broken],
        }
        assert await _published(bus, REQUESTED, {a, b}) == {a, b}
        # the classifier answers each request: a second classification in each history
        for _ in range(300):
            histories = [
                [h["type"] for h in (await client.get(f"/v1/documents/{d}")).json()["history"]]
                for d in (a, b)
            ]
            if all(h.count(CLASSIFIED) == 2 for h in histories):
                break
            await asyncio.sleep(0.1)
        assert all(h.count(REQUESTED) == 1 and h.count(CLASSIFIED) == 2 for h in histories)
        refused = await client.post(
            "/v1/documents/bulk/classify", json={"document_ids": [a], "provider": "nobody"}
        )
        assert refused.status_code == 422
        assert "not enabled" in refused.json()["detail"]
    async with _client(api, stranger) as other:
        history = (await other.get(f"/v1/documents/{theirs}")).json()["history"]
        assert REQUESTED not in [h["type"] for h in history]


async def test_bulk_topics(
    api: Api, setting: tuple[str, list[str], str, str], bus: aio_pika.abc.AbstractQueue
) -> None:
    owner, (a, b, broken), stranger, theirs = setting
    unknown = str(uuid.uuid4())
    async with _client(api, owner) as client:
        topic = (await client.post("/v1/topics", json={"name": "Garden"})).json()["topic_id"]
        answer = await client.post(
            "/v1/documents/bulk/topics",
            json={"document_ids": [unknown, a, theirs, broken], "topic_ids": [topic, topic]},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"done": [a, broken], "not_found": [unknown, theirs]}
        for document_id in (a, broken):
            doc = (await client.get(f"/v1/documents/{document_id}")).json()
            assert doc["topics"] == [
                {"topic_id": topic, "name": "Garden", "confidence": None, "source": "manual"}
            ]
            assert ASSIGNED in [h["type"] for h in doc["history"]]
        untouched = (await client.get(f"/v1/documents/{b}")).json()
        assert all(t["source"] == "classifier" for t in untouched["topics"])
        assert await _published(bus, ASSIGNED, {a, broken}) == {a, broken}
        # as PUT …/topics: an unknown topic (or another owner's) refuses the whole request
        single = await client.put(f"/v1/documents/{b}/topics", json={"topic_ids": [unknown]})
        bulk = await client.post(
            "/v1/documents/bulk/topics", json={"document_ids": [b], "topic_ids": [unknown]}
        )
        assert bulk.status_code == single.status_code == 422
        assert bulk.json()["detail"] == single.json()["detail"]
        # an empty list takes every manual topic away, as PUT …/topics does
        cleared = await client.post(
            "/v1/documents/bulk/topics", json={"document_ids": [a], "topic_ids": []}
        )
        assert cleared.json() == {"done": [a], "not_found": []}
        assert (await client.get(f"/v1/documents/{a}")).json()["topics"] == []
    async with _client(api, stranger) as other:
        theirs_now = (await other.get(f"/v1/documents/{theirs}")).json()
        assert ASSIGNED not in [h["type"] for h in theirs_now["history"]]


async def test_bulk_delete(
    api: Api, setting: tuple[str, list[str], str, str], bus: aio_pika.abc.AbstractQueue
) -> None:
    owner, (a, b, broken), stranger, theirs = setting
    unknown = str(uuid.uuid4())
    async with _client(api, owner) as client:
        answer = await client.post(
            "/v1/documents/bulk/delete", json={"document_ids": [a, theirs, unknown, broken]}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"done": [a, broken], "not_found": [theirs, unknown]}
        assert await _published(bus, DELETED, {a, broken}) == {a, broken}
        for gone in (a, broken):
            assert (await client.get(f"/v1/documents/{gone}")).status_code == 404
        assert (await client.get(f"/v1/documents/{b}")).status_code == 200
        again = await client.post("/v1/documents/bulk/delete", json={"document_ids": [a, b]})
        assert again.json() == {"done": [b], "not_found": [a]}
    async with _client(api, stranger) as other:
        assert (await other.get(f"/v1/documents/{theirs}")).status_code == 200
    # the audit trail names the bulk action (one entry per request)
    async with _client(api, f"auditor-{uuid.uuid4()}", "admin") as auditor:
        actions: list[str] = []
        for _ in range(100):
            trail = await auditor.get(
                "/v1/audit", params={"owner_id": str(owner_id_for(owner)), "result": "ok"}
            )
            assert trail.status_code == 200, trail.text
            actions = [e["action"] for e in trail.json()["items"]]
            if actions.count("document.bulk.delete") == 2:
                break
            await asyncio.sleep(0.1)
        assert actions.count("document.bulk.delete") == 2, actions


@pytest.mark.parametrize("route", ["classify", "topics", "delete"])
async def test_bulk_needs_1_to_1000_ids_and_the_write_scope(api: Api, route: str) -> None:
    owner = f"bulk-cap-{uuid.uuid4()}"
    extra: dict[str, Any] = {"topic_ids": []} if route == "topics" else {}
    async with _client(api, owner) as client:
        over = await client.post(
            f"/v1/documents/bulk/{route}",
            json={"document_ids": [str(uuid.uuid4()) for _ in range(1001)], **extra},
        )
        assert over.status_code == 422
        assert "1000" in over.json()["detail"]
        empty = await client.post(f"/v1/documents/bulk/{route}", json={"document_ids": [], **extra})
        assert empty.status_code == 422
        most = await client.post(
            f"/v1/documents/bulk/{route}",
            json={"document_ids": [str(uuid.uuid4()) for _ in range(1000)], **extra},
        )
        assert most.status_code in {200, 202}, most.text
        assert len(most.json()["not_found"]) == 1000
    async with _client(api, owner, "documents:read") as reader:
        refused = await reader.post(
            f"/v1/documents/bulk/{route}", json={"document_ids": [str(uuid.uuid4())], **extra}
        )
        assert refused.status_code == 403
