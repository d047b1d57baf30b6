"""Flow control against the real RabbitMQ of the private stack, on queues of the test's own."""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import aio_pika
import httpx
import pytest

from docuvault.devstack.pytest_plugin import running_broker
from docuvault.devstack.stack import Stack
from docuvault.ingest import api
from docuvault.ingest.admission import Admission
from docuvault.ingest.config import IngestSettings
from docuvault.runtime.auth import issue_token
from docuvault.runtime.bus import Broker, Topology
from docuvault.runtime.bus.topology import ConsumerDefaults, HistorySpec, QueueSpec

LOOK_S = 0.1


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[Broker]:
    tag = uuid.uuid4().hex[:10]
    topology = Topology(
        exchange=f"test.{tag}",
        history=HistorySpec(queue=f"test.history_{tag}"),
        consumer_defaults=ConsumerDefaults(retry_delays_s=[1.0], delivery_limit=3),
        queues=[QueueSpec(name=f"test.work_{tag}", service="tester", bindings=["x"])],
    )
    async with running_broker(stack, topology) as broker:
        yield broker


def _queue(broker: Broker) -> str:
    return broker.topology.queues[0].name


async def _fill(broker: Broker, count: int) -> None:
    for n in range(count):
        message = aio_pika.Message(body=str(n).encode())
        await broker.publish_message(message, exchange="", routing_key=_queue(broker))


async def _hold_one(broker: Broker) -> aio_pika.abc.AbstractChannel:
    """A consumer that takes one message and never acks it: the queue is being drained."""
    channel = await (await broker.connection()).channel()
    await channel.set_qos(prefetch_count=1)
    queue = await channel.get_queue(_queue(broker), ensure=False)

    async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        pass

    await queue.consume(keep)
    return channel


async def _started(admission: Admission) -> Admission:
    admission.start()
    await asyncio.sleep(3 * LOOK_S)  # a first look
    return admission


async def test_uploads_wait_while_a_drained_queue_is_over_the_limit(broker: Broker) -> None:
    await _fill(broker, 6)
    consumer = await _hold_one(broker)  # 5 ready, 1 unacked
    admission = await _started(
        Admission(broker, [_queue(broker)], limit=5, max_wait_s=1.0, interval_s=LOOK_S)
    )
    try:
        assert await admission.admit() >= 0.9  # waited the longest, then taken anyway
        waiter = asyncio.create_task(admission.admit())
        await asyncio.sleep(0.3)
        assert not waiter.done()
        channel = await (await broker.connection()).channel()
        await (await channel.get_queue(_queue(broker), ensure=False)).purge()
        waited = await asyncio.wait_for(waiter, 2)
        assert 0.3 <= waited < 0.9  # let in by the drain, not by the deadline
        assert await admission.admit() < LOOK_S * 2
    finally:
        await admission.stop()
        await consumer.close()


async def test_a_queue_nobody_consumes_is_no_reason_to_wait(broker: Broker) -> None:
    await _fill(broker, 6)
    admission = await _started(
        Admission(broker, [_queue(broker)], limit=2, max_wait_s=5.0, interval_s=LOOK_S)
    )
    try:
        assert await admission.admit() < 0.05
    finally:
        await admission.stop()


async def test_a_burst_is_let_in_a_limit_at_a_time(broker: Broker) -> None:
    consumer = await _hold_one(broker)
    admission = await _started(
        Admission(broker, [_queue(broker)], limit=4, max_wait_s=5.0, interval_s=0.5)
    )
    try:
        started = time.monotonic()
        waits = await asyncio.gather(*(admission.admit() for _ in range(10)))
        assert sorted(waits)[3] < 0.1  # the first four go straight in
        assert sorted(waits)[4] > 0.2  # the fifth waits for the next look
        assert time.monotonic() - started < 2.0  # ... and looks keep letting them in
    finally:
        await admission.stop()
        await consumer.close()


async def test_an_unreachable_broker_never_holds_an_upload(stack: Stack) -> None:
    topology = Topology(
        exchange="test.none",
        history=HistorySpec(queue="test.history_none"),
        queues=[QueueSpec(name="test.none", service="tester", bindings=["x"])],
    )
    broker = Broker("amqp://guest:guest@127.0.0.1:1/", topology, service="t", publish_timeout_s=1)
    broker.start()
    admission = await _started(
        Admission(broker, ["test.none"], limit=1, max_wait_s=5.0, interval_s=LOOK_S)
    )
    try:
        assert [await admission.admit() < 0.05 for _ in range(5)] == [True] * 5
    finally:
        await admission.stop()
        await broker.close()


async def test_a_zero_limit_or_wait_turns_it_off(broker: Broker) -> None:
    assert not Admission(broker, [_queue(broker)], limit=5, max_wait_s=0).enabled
    assert not Admission(broker, [], limit=5, max_wait_s=5).enabled
    await _fill(broker, 3)
    consumer = await _hold_one(broker)
    admission = Admission(broker, [_queue(broker)], limit=0, max_wait_s=5.0)
    admission.start()
    try:
        assert not admission.enabled
        assert await admission.admit() == 0.0
    finally:
        await admission.stop()
        await consumer.close()


async def test_the_upload_route_waits_for_the_pipeline(
    broker: Broker, stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real ingest app, in process against the private stack, watching the test's queue."""
    for name, value in stack.config.service_env("ingest").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DOCUVAULT_BACKLOG_QUEUES", _queue(broker))
    monkeypatch.setenv("DOCUVAULT_BACKLOG_LIMIT", "3")
    monkeypatch.setenv("DOCUVAULT_BACKLOG_WAIT_S", "1.5")
    monkeypatch.setenv("DOCUVAULT_SWEEP_INTERVAL_S", "0")
    settings = IngestSettings(_env_file=None)
    token = issue_token(settings.secret_key.get_secret_value(), f"admission-{uuid.uuid4()}")
    app = api.create(settings)
    await _fill(broker, 5)
    consumer = await _hold_one(broker)  # 4 ready: over the limit, and being drained
    transport = httpx.ASGITransport(app=app)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://ingest") as client,
        ):

            async def upload() -> tuple[float, int]:
                started = time.monotonic()
                answer = await client.post(
                    "/v1/documents",
                    files={"file": ("note.txt", b"flow control holds this upload a while\n")},
                    headers={"Authorization": f"Bearer {token}"},
                )
                return time.monotonic() - started, answer.status_code

            await asyncio.sleep(0.5)  # the watcher's first look
            held, status = await upload()
            assert status == 202  # taken after the longest wait, not refused
            assert held >= 1.4
            channel = await (await broker.connection()).channel()
            await (await channel.get_queue(_queue(broker), ensure=False)).purge()
            await asyncio.sleep(0.5)
            quick, status = await upload()
            assert status == 202
            assert quick < 1.0
    finally:
        await consumer.close()
