"""Another system's view: bind your own queue to `docuvault.events` and read CloudEvents."""

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aio_pika
import httpx
import jsonschema
import pytest
from cloudevents.core.bindings import rabbitmq

from docuvault.devstack.config import REPO
from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import owner_id_for
from docuvault.runtime.blobstore import S3BlobStore

SCHEMAS = REPO / "libs" / "contracts" / "schemas"


def _validator(path: Path) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(path.read_text()))


@pytest.fixture
async def own_queue(api: Api) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(api.stack.config.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange("docuvault.events")
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, "#")
    yield queue
    await connection.close()


async def _next(
    queue: aio_pika.abc.AbstractQueue, type_: str, subject: str
) -> aio_pika.abc.AbstractIncomingMessage:
    for _ in range(200):
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
        elif message.type == type_ and json.loads(message.body)["subject"] == subject:
            return message
    raise AssertionError(f"no {type_} for {subject}")


CHAIN = (
    "io.docuvault.document.uploaded.v1",
    "io.docuvault.document.text_extracted.v1",
    "io.docuvault.document.classified.v1",
)


async def test_one_upload_yields_the_event_chain_readable_by_the_cloudevents_sdk(
    api: Api, own_queue: aio_pika.abc.AbstractQueue
) -> None:
    owner = f"consumer-{uuid.uuid4()}"
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("memo.txt", b"a memo about the budget for another system"))],
            headers=api.auth(owner),
        )
    document_id = answer.json()["documents"][0]["document_id"]
    for type_ in CHAIN:
        message = await _next(own_queue, type_, document_id)
        event = rabbitmq.from_rabbitmq_event(
            rabbitmq.RabbitMQMessage(
                headers={k: str(v) for k, v in (message.headers or {}).items()},
                content_type=message.content_type,
                body=message.body,
            )
        )
        assert event.get_type() == type_
        assert event.get_subject() == document_id
        assert event.get_id() == message.message_id
        assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
        data = event.get_data()
        assert isinstance(data, dict)
        assert data["document_id"] == document_id
        envelope = json.loads(message.body)
        name = type_.removeprefix("io.docuvault.")
        for folder in (SCHEMAS, SCHEMAS / "frozen"):
            _validator(folder / "envelope.schema.json").validate(envelope)
            _validator(folder / f"{name}.schema.json").validate(envelope["data"])
        assert envelope["ownerid"] == data["owner_id"]
        if name == "document.uploaded.v1":
            assert event.get_source() == "/docuvault/ingest"
            assert data["filename"] == "memo.txt"


def _blobs(api: Api) -> S3BlobStore:
    env = api.stack.config.service_env("ingest")
    return S3BlobStore(
        endpoint=env["DOCUVAULT_S3_ENDPOINT"],
        bucket=env["DOCUVAULT_S3_BUCKET"],
        access_key=env["DOCUVAULT_S3_ACCESS_KEY"],
        secret_key=env["DOCUVAULT_S3_SECRET_KEY"],
        region="us-east-1",
    )


async def test_deleting_a_document_removes_its_objects(
    api: Api, own_queue: aio_pika.abc.AbstractQueue
) -> None:
    owner = f"deleter-{uuid.uuid4()}"
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("gone.txt", b"soon to be deleted"))],
            headers=api.auth(owner),
        )
        document_id = answer.json()["documents"][0]["document_id"]
        await _next(own_queue, "io.docuvault.document.uploaded.v1", document_id)
        url = f"{api.catalog}/v1/documents/{document_id}"
        for _ in range(100):  # the catalog must know the document before it can delete it
            if (await client.get(url, headers=api.auth(owner))).status_code == 200:
                break
            await asyncio.sleep(0.1)
        prefix = f"{owner_id_for(owner)}/{document_id}/"
        async with _blobs(api) as blobs:
            # the original, and the extracted text if the extractor was already there
            assert prefix + "original" in {b.key for b in await blobs.list(prefix)}
            deleted = await client.delete(url, headers=api.auth(owner))
            assert deleted.status_code == 204
            assert (await client.get(url, headers=api.auth(owner))).status_code == 404
            await _next(own_queue, "io.docuvault.document.deleted.v1", document_id)
            for _ in range(100):
                if not await blobs.list(prefix):
                    break
                await asyncio.sleep(0.1)
            assert await blobs.list(prefix) == []


async def test_the_readme_example_consumer_sees_an_upload(api: Api) -> None:
    example = REPO / "examples" / "consume_events.py"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(example),
        api.stack.config.amqp_url,
        "document.uploaded.v1",
        "--count",
        "1",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    assert (await asyncio.wait_for(process.stdout.readline(), 30)).strip() == b"listening"
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("example.txt", b"seen by the example"))],
            headers=api.auth(f"example-{uuid.uuid4()}"),
        )
    document_id = answer.json()["documents"][0]["document_id"]
    line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert line.split() == [
        "io.docuvault.document.uploaded.v1",
        document_id,
        "example.txt",
        "(19",
        "bytes)",
    ]
