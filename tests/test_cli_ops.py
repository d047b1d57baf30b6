"""Operator commands: ``docuvault dlq list|show|replay`` against the private stack's RabbitMQ,
``docuvault reprocess`` through the catalog; and the pure rules behind them."""

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from docuvault.cli.client import CliError
from docuvault.cli.ops import REPLAYS, describe, replay_headers, replay_target, resolve_queue
from docuvault.contracts import encode
from docuvault.contracts.events import DocumentDeleted
from docuvault.devstack import infra
from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import owner_id_for
from docuvault.runtime.blobstore import S3BlobStore
from docuvault.runtime.bus import Broker, Topology
from docuvault.runtime.bus.consumer import ATTEMPT, FAILED_QUEUE, REASON
from docuvault.runtime.events import fresh

TOPOLOGY = Topology.load(infra.TOPOLOGY)
WORK = "ingest.purge"
DLQ = "ingest.purge.dlq"


# --- pure rules ------------------------------------------------------------------------------
def test_a_queue_is_named_by_its_work_queue_or_its_dlq() -> None:
    assert resolve_queue(TOPOLOGY, WORK).name == WORK
    assert resolve_queue(TOPOLOGY, DLQ).name == WORK
    with pytest.raises(CliError, match=r"known work queues: ingest\.purge"):
        resolve_queue(TOPOLOGY, "ingest.purge.retry.1")


def test_replayed_headers_start_the_attempts_again() -> None:
    failed = {
        ATTEMPT: 3,
        REASON: "RuntimeError: boom",
        FAILED_QUEUE: WORK,
        "x-death": [{"queue": WORK}],
        "x-delivery-count": 4,
        "traceparent": "00-abc-def-01",
    }
    once = replay_headers(failed)
    assert once == {ATTEMPT: 0, REPLAYS: 1, "traceparent": "00-abc-def-01"}
    assert replay_headers({**failed, REPLAYS: 1})[REPLAYS] == 2
    assert failed[ATTEMPT] == 3  # the input is left alone


def test_replay_goes_to_the_queue_the_message_failed_in() -> None:
    spec = resolve_queue(TOPOLOGY, DLQ)
    assert replay_target(TOPOLOGY, spec, {FAILED_QUEUE: b"classifier.documents"}) == (
        "classifier.documents"
    )
    assert replay_target(TOPOLOGY, spec, {}) == WORK  # dead-lettered by the broker itself
    assert replay_target(TOPOLOGY, spec, {FAILED_QUEUE: "no.such"}) == WORK


def test_describe_reads_events_and_survives_garbage() -> None:
    event = fresh(
        DocumentDeleted(document_id=uuid.uuid4(), owner_id=uuid.uuid4(), generation=2),
        source="tester",
    )
    letter = describe(encode(event), {ATTEMPT: 3, REASON: "x"}, message_type=None, message_id=None)
    assert letter.type == "io.docuvault.document.deleted.v1"
    assert letter.id == str(event.id)
    assert letter.subject == str(event.data.document_id)
    assert (letter.attempt, letter.reason, letter.replays) == (3, "x", 0)
    junk = describe(b"\xff{", {}, message_type="t", message_id="m")
    assert (junk.type, junk.id, junk.subject, junk.attempt) == ("t", "m", None, None)


# --- against the private stack ---------------------------------------------------------------
def _env(api: Api, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")},
        "DOCUVAULT_ENV_FILE": str(api.stack.config.env_file),
        "DOCUVAULT_AMQP_URL": api.stack.config.amqp_url,
        "DOCUVAULT_INGEST_URL": api.ingest,
        "DOCUVAULT_CATALOG_URL": api.catalog,
        "COLUMNS": "250",
        **extra,
    }


async def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "docuvault.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within_s} s: {what}")


@pytest.fixture
async def broker(api: Api) -> AsyncIterator[Broker]:
    broker = Broker(api.stack.config.amqp_url, TOPOLOGY, service="tester", publish_timeout_s=10)
    broker.start()
    await asyncio.wait_for(broker.connection(), 10)
    yield broker
    await broker.close()


async def _count(broker: Broker, queue: str) -> int:
    channel = await (await broker.connection()).channel()
    declared = await channel.declare_queue(queue, passive=True)
    await channel.close()
    return declared.declaration_result.message_count or 0


async def _shown(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    done = await _cli(env, "dlq", "show", WORK, "--limit", "1000", "--json")
    assert done.returncode == 0, done.stderr
    return {m["id"]: m for m in json.loads(done.stdout)}


async def test_dlq_list_show_and_replay(api: Api, broker: Broker) -> None:
    env = _env(api)
    baseline = await _count(broker, DLQ)
    # a malformed message: the ingest consumer sends it straight to the DLQ
    bad_id = str(uuid.uuid4())
    malformed = aio_pika.Message(b"{not an event", message_id=bad_id, type="io.docuvault.junk")
    await broker.publish_message(malformed, exchange="", routing_key=WORK)

    async def arrived() -> bool:
        return await _count(broker, DLQ) == baseline + 1

    await _until(arrived, "the malformed message in the DLQ")
    # a valid event that failed three times (its effect: purging this document's objects)
    name = f"dlq-{uuid.uuid4()}"
    doc = uuid.uuid4()
    event = fresh(
        DocumentDeleted(document_id=doc, owner_id=owner_id_for(name), generation=1),
        source="catalog",
    )
    key = f"{owner_id_for(name)}/{doc}/extracted/1/text.txt"
    env_s3 = api.stack.config.service_env("ingest")
    async with S3BlobStore(
        endpoint=env_s3["DOCUVAULT_S3_ENDPOINT"],
        bucket=env_s3["DOCUVAULT_S3_BUCKET"],
        access_key=env_s3["DOCUVAULT_S3_ACCESS_KEY"],
        secret_key=env_s3["DOCUVAULT_S3_SECRET_KEY"],
        region="us-east-1",
    ) as s3:
        await s3.put(key, b"to be purged", content_type="text/plain")
        dead = aio_pika.Message(
            encode(event),
            message_id=str(event.id),
            type=event.type,
            headers={ATTEMPT: 3, REASON: "RuntimeError: the disk is on fire", FAILED_QUEUE: WORK},
        )
        await broker.publish_message(dead, exchange="", routing_key=DLQ)
        assert await _count(broker, DLQ) == baseline + 2

        listed = await _cli(env, "dlq", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        rows = {r["queue"]: r for r in json.loads(listed.stdout)}
        assert set(rows) == {q.dlq for q in TOPOLOGY.queues}
        assert rows[DLQ] == {"queue": DLQ, "work_queue": WORK, "messages": baseline + 2}
        table = await _cli(env, "dlq", "list")
        assert table.returncode == 0, table.stderr
        assert DLQ in table.stdout
        assert "classifier.documents.dlq" in table.stdout

        # show: non-destructive
        shown = await _shown(env)
        assert shown[bad_id]["reason"].startswith("malformed")
        assert shown[bad_id]["failed_queue"] == WORK
        assert shown[bad_id]["attempt"] == 0
        assert shown[bad_id]["subject"] is None
        failed = shown[str(event.id)]
        assert failed["type"] == "io.docuvault.document.deleted.v1"
        assert failed["subject"] == str(doc)
        assert failed["attempt"] == 3
        assert failed["reason"] == "RuntimeError: the disk is on fire"
        assert await _count(broker, DLQ) == baseline + 2
        readable = await _cli(env, "dlq", "show", DLQ)
        assert readable.returncode == 0, readable.stderr
        assert "document.deleted.v1" in readable.stdout
        assert "disk is on fire" in readable.stdout
        assert await _count(broker, DLQ) == baseline + 2
        unknown = await _cli(env, "dlq", "show", "nope.nothing")
        assert unknown.returncode == 1
        assert "known work queues" in unknown.stderr

        # replay: both go back to ingest.purge; the valid one now succeeds, the malformed
        # one is dead-lettered again
        replayed = await _cli(env, "dlq", "replay", WORK)
        assert replayed.returncode == 0, replayed.stderr
        assert replayed.stdout.strip() == str(baseline + 2)

        async def purged() -> bool:
            return await s3.head(key) is None

        await _until(purged, "the replayed deletion purged the document's objects")

    async def back_again() -> bool:
        return bad_id in await _shown(env)

    await _until(back_again, "the malformed message dead-lettered again")
    shown = await _shown(env)
    assert str(event.id) not in shown
    assert shown[bad_id]["replays"] == 1
    assert shown[bad_id]["reason"].startswith("malformed")


async def test_dlq_commands_name_an_unreachable_broker(api: Api) -> None:
    env = _env(api, DOCUVAULT_AMQP_URL="amqp://guest:secret@127.0.0.1:1/")
    done = await _cli(env, "dlq", "list")
    assert done.returncode == 1
    assert "cannot reach RabbitMQ at 127.0.0.1:1" in done.stderr
    assert "secret" not in done.stderr


async def test_dlq_list_marks_a_queue_missing_on_the_broker(api: Api, tmp_path: Path) -> None:
    topology = json.loads(infra.TOPOLOGY.read_text())
    topology["queues"].append({"name": "test.absent", "service": "nobody", "bindings": []})
    path = tmp_path / "topology.json"
    path.write_text(json.dumps(topology))
    env = _env(api, DOCUVAULT_TOPOLOGY_FILE=str(path))
    listed = await _cli(env, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["queue"]: r["messages"] for r in json.loads(listed.stdout)}
    assert rows["test.absent.dlq"] is None
    assert rows[DLQ] is not None
    table = await _cli(env, "dlq", "list")
    assert "missing" in table.stdout
    shown = await _cli(env, "dlq", "show", "test.absent")
    assert shown.returncode == 1
    assert "does not exist" in shown.stderr


async def test_reprocess_command_prints_the_count(api: Api) -> None:
    name = f"cli-reprocess-{uuid.uuid4()}"
    env = _env(api, DOCUVAULT_TOKEN=api.token(name))
    async with httpx.AsyncClient(timeout=30) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("note.txt", b"A note about the boiler service."))],
            headers=api.auth(name),
        )
        assert answer.status_code == 202, answer.text
        document_id = answer.json()["documents"][0]["document_id"]

        async def document() -> dict[str, Any]:
            got = await client.get(
                f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(name)
            )
            body: dict[str, Any] = got.json() if got.status_code == 200 else {"status": None}
            return body

        async def classified() -> bool:
            return bool((await document())["status"] == "classified")

        await _until(classified, "the upload classified")
        future = await _cli(
            env, "reprocess", "--stage", "extract", "--uploaded-after", "2999-01-01"
        )
        assert future.returncode == 0, future.stderr
        assert future.stdout.strip() == "0"
        done = await _cli(env, "reprocess", "--stage", "classify", "--status", "classified")
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "1"
        assert "1 document(s) requested for classify" in done.stderr
        as_json = await _cli(
            env, "reprocess", "--stage", "extract", "--content-type", "text/plain", "--json"
        )
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout) == {"requested": 1, "skipped": 0}
        history = [h["type"] for h in (await document())["history"]]
        assert history.count("io.docuvault.document.reprocess_requested.v1") == 2
    refused = await _cli(env, "reprocess", "--stage", "ocr")
    assert refused.returncode == 2
    reader = _env(api, DOCUVAULT_TOKEN=api.token(name, "documents:read"))
    forbidden = await _cli(reader, "reprocess", "--stage", "extract")
    assert forbidden.returncode == 1
    assert "403" in forbidden.stderr
