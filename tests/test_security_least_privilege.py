"""Issue 9, least privilege: each service's database role reaches only its own database and
changes no schema; each service's RabbitMQ user touches only its own queues. The connections
are the very ones the private stack's services are started with."""

from collections.abc import Awaitable, Callable

import aio_pika
import aiormq
import asyncpg
import pytest

from docuvault.devstack.pytest_plugin import Api

Attempt = Callable[[aio_pika.abc.AbstractChannel], Awaitable[object]]


@pytest.mark.parametrize(("service", "other"), [("ingest", "catalog"), ("catalog", "ingest")])
async def test_an_app_role_reaches_only_its_own_database(
    api: Api, service: str, other: str
) -> None:
    config = api.stack.config
    own = config.database_url(service, "app")
    foreign = own.rsplit("/", 1)[0] + "/" + config.database(other)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied"):
        await asyncpg.connect(foreign)
    conn = await asyncpg.connect(own)
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox") >= 0  # its data: yes
        for ddl in (
            "CREATE TABLE planted (i int)",
            "DROP TABLE outbox",
            "ALTER TABLE outbox ADD x int",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(ddl)
    finally:
        await conn.close()


async def test_a_services_broker_user_touches_only_its_own_queues(api: Api) -> None:
    ingest_url = api.stack.config.amqp_service_url("ingest")
    connection = await aio_pika.connect(ingest_url)
    try:
        channel = await connection.channel()
        own = await channel.declare_queue("ingest.tokens", passive=True)  # its own: yes
        assert own.name == "ingest.tokens"
        # another service's queue: no reading, no deleting; no queue of its own invention
        attempts: dict[str, Attempt] = {
            "consume catalog.projections": lambda ch: _consume(ch, "catalog.projections"),
            "delete catalog.projections": lambda ch: ch.queue_delete("catalog.projections"),
            "declare planted": lambda ch: ch.declare_queue("planted.queue", durable=True),
        }
        for what, attempt in attempts.items():
            channel = await connection.channel()
            with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
                await attempt(channel)
            assert channel.is_closed, what
    finally:
        await connection.close()


async def _consume(channel: aio_pika.abc.AbstractChannel, name: str) -> None:
    queue = await channel.get_queue(name, ensure=False)
    await queue.consume(_ack, no_ack=False)


async def _ack(message: aio_pika.abc.AbstractIncomingMessage) -> None:
    await message.ack()
