"""The bus against the real RabbitMQ of the private stack, on a topology of the test's own."""

import asyncio
import random
import string
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from docuvault.contracts import CloudEvent, encode
from docuvault.contracts.events import DocumentDeleted
from docuvault.devstack.pytest_plugin import running_broker
from docuvault.devstack.stack import Stack
from docuvault.runtime.bus import Broker, Consumer, PublishFailed, Topology
from docuvault.runtime.bus.consumer import ATTEMPT, FAILED_QUEUE, REASON
from docuvault.runtime.bus.topology import ConsumerDefaults, HistorySpec, QueueSpec
from docuvault.runtime.events import fresh


def _name() -> str:
    return "".join(random.choices(string.ascii_lowercase, k=10))


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[Broker]:
    tag = _name()
    topology = Topology(
        exchange=f"test.{tag}",
        history=HistorySpec(queue=f"test.history_{tag}"),
        consumer_defaults=ConsumerDefaults(retry_delays_s=[0.2, 0.3], delivery_limit=3),
        queues=[
            QueueSpec(name=f"test.q_{tag}", service="tester", bindings=[DocumentDeleted.event_name])
        ],
    )
    async with running_broker(stack, topology) as broker:
        yield broker


def _event() -> CloudEvent[DocumentDeleted]:
    return fresh(
        DocumentDeleted(document_id=uuid.uuid4(), owner_id=uuid.uuid4(), generation=1),
        source="tester",
    )


async def _drain(broker: Broker, queue: str, wait_s: float = 5.0) -> list[Any]:
    """Messages that arrive in ``queue`` within ``wait_s`` (taken off the queue)."""
    connection = await broker.connection()
    channel = await connection.channel()
    q = await channel.get_queue(queue, ensure=False)
    got: list[Any] = []
    deadline = asyncio.get_running_loop().time() + wait_s
    while asyncio.get_running_loop().time() < deadline:
        message = await q.get(no_ack=True, fail=False)
        if message is None:
            if got:
                break
            await asyncio.sleep(0.1)
            continue
        got.append(message)
    await channel.close()
    return got


async def test_published_event_arrives_with_the_amqp_properties(broker: Broker) -> None:
    spec = broker.topology.queues[0]
    event = _event()
    await broker.publish(event)
    [message] = await _drain(broker, spec.name)
    assert message.message_id == str(event.id)
    assert message.type == "io.docuvault.document.deleted.v1"
    assert message.content_type == "application/cloudevents+json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.timestamp is not None
    assert message.body == encode(event)


async def test_unroutable_publish_fails_instead_of_vanishing(broker: Broker) -> None:
    message = aio_pika.Message(b"{}", type="x")
    with pytest.raises(PublishFailed, match="refused"):
        await broker.publish_message(message, exchange="", routing_key=f"no.such.{_name()}")


async def test_handler_failures_go_through_every_retry_tier_then_the_dlq(broker: Broker) -> None:
    spec = broker.topology.queues[0]
    calls: list[float] = []

    async def failing(event: CloudEvent[Any]) -> None:
        calls.append(asyncio.get_running_loop().time())
        raise RuntimeError("the disk is on fire")

    consumer = Consumer(broker, spec, {DocumentDeleted.event_name: failing})
    await consumer.start(prefetch=4)
    try:
        event = _event()
        await broker.publish(event)
        [dead] = await _drain(broker, spec.dlq, wait_s=10)
    finally:
        await consumer.stop()
    assert len(calls) == 1 + len(broker.topology.retry_delays_s)
    # each retry waited in its tier before coming back
    assert calls[1] - calls[0] >= 0.15
    assert dead.message_id == str(event.id)
    assert dead.headers[ATTEMPT] == 3
    assert "the disk is on fire" in dead.headers[REASON]
    assert dead.headers[FAILED_QUEUE] == spec.name


async def test_handler_recovering_on_retry_acks_once(broker: Broker) -> None:
    spec = broker.topology.queues[0]
    calls = 0
    done = asyncio.Event()

    async def flaky(event: CloudEvent[Any]) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("transient")
        done.set()

    consumer = Consumer(broker, spec, {DocumentDeleted.event_name: flaky})
    await consumer.start(prefetch=4)
    try:
        await broker.publish(_event())
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
    assert calls == 2
    assert await _drain(broker, spec.dlq, wait_s=0.5) == []


async def test_malformed_message_goes_straight_to_the_dlq(broker: Broker) -> None:
    spec = broker.topology.queues[0]
    handled: list[Any] = []

    async def handler(event: CloudEvent[Any]) -> None:
        handled.append(event)

    consumer = Consumer(broker, spec, {DocumentDeleted.event_name: handler})
    await consumer.start(prefetch=4)
    try:
        await broker.publish_message(
            aio_pika.Message(b"not json at all", type="junk"), exchange="", routing_key=spec.name
        )
        [dead] = await _drain(broker, spec.dlq)
    finally:
        await consumer.stop()
    assert handled == []
    assert dead.headers[REASON].startswith("malformed: body is not JSON")
    assert dead.headers[ATTEMPT] == 0


async def test_consumer_refuses_a_binding_without_handler(broker: Broker) -> None:
    with pytest.raises(ValueError, match="no handler"):
        Consumer(broker, broker.topology.queues[0], {})


async def test_publish_deadline_includes_waiting_for_a_connection() -> None:
    topology = Topology(queues=[])
    broker = Broker(
        "amqp://guest:guest@127.0.0.1:1/", topology, service="tester", publish_timeout_s=0.5
    )
    broker.start()
    try:
        started = asyncio.get_running_loop().time()
        with pytest.raises(PublishFailed, match=r"within 0\.5 s"):
            await broker.publish(_event())
        assert asyncio.get_running_loop().time() - started < 2
        with pytest.raises(ConnectionError):
            await broker.check()
    finally:
        await broker.close()


async def _consume_into(broker: Broker, seen: asyncio.Queue[str]) -> Consumer:
    async def handler(event: CloudEvent[Any]) -> None:
        await seen.put(str(event.id))

    consumer = Consumer(broker, broker.topology.queues[0], {DocumentDeleted.event_name: handler})
    await consumer.start(prefetch=4)
    return consumer


async def test_consumer_comes_back_after_the_broker_cancels_it(broker: Broker) -> None:
    """Deleting the queue makes the broker cancel our consumer; the queue and consumer return."""
    spec = broker.topology.queues[0]
    seen: asyncio.Queue[str] = asyncio.Queue()
    consumer = await _consume_into(broker, seen)
    try:
        first = _event()
        await broker.publish(first)
        assert await asyncio.wait_for(seen.get(), 10) == str(first.id)
        admin = await aio_pika.connect(broker._url)
        async with admin:
            channel = await admin.channel()
            await channel.queue_delete(spec.name)
        for _ in range(100):  # the consumer notices the cancel and subscribes again
            if consumer.attachments == 2:
                break
            await asyncio.sleep(0.1)
        assert consumer.attachments == 2
        second = _event()
        await broker.publish(second)
        assert await asyncio.wait_for(seen.get(), 20) == str(second.id)
    finally:
        await consumer.stop()


async def test_consumer_and_publisher_survive_a_lost_connection(
    broker: Broker, stack: Stack
) -> None:
    seen: asyncio.Queue[str] = asyncio.Queue()
    consumer = await _consume_into(broker, seen)
    try:
        closing = await asyncio.create_subprocess_exec(
            "rabbitmqctl",
            "-q",
            "close_all_connections",
            "-p",
            stack.config.vhost,
            "test: connection loss",
            stderr=asyncio.subprocess.PIPE,
        )
        _, stderr = await closing.communicate()
        assert closing.returncode == 0, stderr
        event = _event()
        await broker.publish(event)  # waits for the reconnect within its deadline
        assert await asyncio.wait_for(seen.get(), 20) == str(event.id)
    finally:
        await consumer.stop()


async def test_queue_depths_read_ready_messages_and_consumers(broker: Broker) -> None:
    queue = broker.topology.queues[0].name
    for n in range(2):
        message = aio_pika.Message(body=str(n).encode())
        await broker.publish_message(message, exchange="", routing_key=queue)
    assert await broker.queue_depths([queue]) == {queue: (2, 0)}
    with pytest.raises(aio_pika.exceptions.ChannelNotFoundEntity):
        await broker.queue_depths([f"{queue}.missing"])
    assert await broker.queue_depths([queue]) == {queue: (2, 0)}  # a fresh channel
