"""The outbox relay against real PostgreSQL and RabbitMQ."""

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from docuvault.contracts import decode
from docuvault.contracts.events import DocumentDeleted
from docuvault.devstack.pytest_plugin import running_broker
from docuvault.devstack.stack import Stack
from docuvault.runtime import db, outbox
from docuvault.runtime.bus import Broker, Topology
from docuvault.runtime.bus.topology import HistorySpec, QueueSpec
from docuvault.runtime.events import fresh
from docuvault.runtime.outbox import OutboxRelay


@pytest.fixture
async def pool(scratch_database: str) -> AsyncIterator[asyncpg.Pool]:
    await db.migrate(scratch_database, {"outbox": db.OUTBOX_MIGRATIONS})
    pool = await db.create_pool(scratch_database)
    await pool.execute("DELETE FROM outbox")
    yield pool
    await pool.close()


@pytest.fixture
async def broker(stack: Stack) -> AsyncIterator[Broker]:
    tag = uuid.uuid4().hex[:8]
    topology = Topology(
        exchange=f"test.outbox.{tag}",
        history=HistorySpec(queue=f"test.outbox_history_{tag}"),
        queues=[
            QueueSpec(
                name=f"test.outbox_{tag}", service="tester", bindings=[DocumentDeleted.event_name]
            )
        ],
    )
    async with running_broker(stack, topology) as broker:
        yield broker


def _event() -> object:
    return fresh(
        DocumentDeleted(document_id=uuid.uuid4(), owner_id=uuid.uuid4(), generation=1),
        source="tester",
    )


async def _received(broker: Broker, queue: str, count: int) -> list[bytes]:
    channel = await (await broker.connection()).channel()
    q = await channel.get_queue(queue, ensure=False)
    got: list[bytes] = []
    for _ in range(100):
        message = await q.get(no_ack=True, fail=False)
        if message is not None:
            got.append(message.body)
            if len(got) == count:
                break
        else:
            await asyncio.sleep(0.05)
    await channel.close()
    return got


async def test_committed_events_are_relayed_in_order_and_removed(
    pool: asyncpg.Pool, broker: Broker
) -> None:
    events = [_event() for _ in range(3)]
    async with pool.acquire() as conn, conn.transaction():
        await outbox.add(conn, *events)  # type: ignore[arg-type]
    relay = OutboxRelay(pool, broker)
    assert await relay.relay_once() == 3
    bodies = await _received(broker, broker.topology.queues[0].name, 3)
    assert [decode(b).id for b in bodies] == [e.id for e in events]  # type: ignore[attr-defined]
    assert await pool.fetchval("SELECT count(*) FROM outbox") == 0


async def test_rolled_back_events_are_never_published(pool: asyncpg.Pool, broker: Broker) -> None:

    async def failing_change() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, _event())  # type: ignore[arg-type]
            raise RuntimeError("state change failed")

    with pytest.raises(RuntimeError, match="state change failed"):
        await failing_change()
    assert await OutboxRelay(pool, broker).relay_once() == 0


async def test_unconfirmed_events_stay_with_the_reason(pool: asyncpg.Pool) -> None:
    down = Broker(
        "amqp://guest:guest@127.0.0.1:1/",
        Topology(queues=[]),
        service="tester",
        publish_timeout_s=0.3,
    )
    down.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, _event())  # type: ignore[arg-type]
        with pytest.raises(Exception, match="not confirmed"):
            await OutboxRelay(pool, down).relay_once()
        row = await pool.fetchrow("SELECT attempts, last_error FROM outbox")
        assert row is not None
        assert row["attempts"] == 1
        assert "within 0.3 s" in row["last_error"]
    finally:
        await down.close()
        await pool.execute("DELETE FROM outbox")


async def test_running_relay_publishes_soon_after_commit(
    pool: asyncpg.Pool, broker: Broker
) -> None:
    relay = OutboxRelay(pool, broker, poll_s=30)  # only NOTIFY can wake it this fast
    relay.start()
    try:
        await asyncio.sleep(0.3)
        event = _event()
        async with pool.acquire() as conn, conn.transaction():
            await outbox.add(conn, event)  # type: ignore[arg-type]
        [body] = await _received(broker, broker.topology.queues[0].name, 1)
        assert decode(body).id == event.id  # type: ignore[attr-defined]
    finally:
        await relay.stop()
