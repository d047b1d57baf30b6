"""Nothing lost: faults injected while documents are in flight (issue 4, `make test-faults`)."""

import asyncio
import json
from collections.abc import AsyncIterator

import aio_pika
import pytest

from docuvault.devstack.faults import (
    REPORTS,
    FaultStack,
    Harness,
    Report,
    publish_twice_shuffled,
)

OUTAGE_S = 20.0
#: a scenario waits up to 300 s for its documents; the test must not be cut off first
pytestmark = pytest.mark.timeout(900)


def _record(report: Report) -> None:
    REPORTS.append(report)
    print(json.dumps(report.summary(), indent=2))
    assert report.in_flight_at_fault > 0 or any(
        ready + unacked for ready, unacked in report.queues_at_fault.values()
    ), "nothing was in flight at the fault: the scenario proves nothing"
    assert report.accepted > 0
    assert report.passed, report.problems


@pytest.mark.parametrize("service", ["extractor", "classifier", "catalog", "ingest"])
async def test_sigkill_mid_flight(fault_stack: FaultStack, harness: Harness, service: str) -> None:
    stack = fault_stack.stack

    async def fault() -> None:
        stack.tracked(service).kill()
        await asyncio.sleep(2)
        stack.start(service)
        await asyncio.to_thread(stack.wait_ready, 90, (service,))

    _record(await harness.run(f"kill-{service}", fault))


async def test_rabbitmq_restart(fault_stack: FaultStack, harness: Harness) -> None:
    async def fault() -> None:
        await asyncio.to_thread(fault_stack.rabbit.stop)
        await asyncio.sleep(3)
        await asyncio.to_thread(fault_stack.rabbit.start)

    _record(await harness.run("rabbitmq-restart", fault))


async def test_postgres_down_for_a_while(fault_stack: FaultStack, harness: Harness) -> None:
    async def fault() -> None:
        await asyncio.to_thread(fault_stack.postgres.stop)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(fault_stack.postgres.start)

    _record(await harness.run("postgres-20s", fault))


async def test_object_store_down_for_a_while(fault_stack: FaultStack, harness: Harness) -> None:
    stack = fault_stack.stack

    async def fault() -> None:
        await asyncio.to_thread(stack.tracked("s3").stop)
        await asyncio.sleep(OUTAGE_S)
        await asyncio.to_thread(stack.start, "s3")

    _record(await harness.run("s3-20s", fault))


@pytest.fixture
async def captured(fault_stack: FaultStack) -> AsyncIterator[list[bytes]]:
    """Every event of the vhost while the scenario runs (only one scenario runs at a time)."""
    bodies: list[bytes] = []
    connection = await aio_pika.connect(fault_stack.stack.config.amqp_url)
    channel = await connection.channel()
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(await channel.get_exchange("docuvault.events"), "#")

    async def keep(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        bodies.append(message.body)
        await message.ack()

    await queue.consume(keep)
    yield bodies
    await connection.close()


async def test_events_published_twice_and_shuffled(
    fault_stack: FaultStack, harness: Harness, captured: list[bytes]
) -> None:
    republished: list[int] = []

    async def fault() -> None:
        republished.append(await publish_twice_shuffled(fault_stack.stack, list(captured)))

    report = await harness.run("duplicates", fault, fault_after=0.5)
    assert republished[0] > 0
    _record(report)
