"""Operator commands: the dead-letter queues and reprocessing (issue 4).

``dlq list|show|replay`` talk to RabbitMQ directly (``DOCUVAULT_AMQP_URL``) with the queues of
``infra/rabbitmq/topology.json``; ``reprocess`` goes through the catalog's API.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

import aio_pika
import aio_pika.abc
import aiormq.exceptions
import typer
from aio_pika.exceptions import AMQPError
from rich.console import Console
from rich.table import Table

from docuvault.cli import config
from docuvault.cli.client import Client, CliError
from docuvault.runtime.bus import Broker, PublishFailed, QueueSpec, Topology
from docuvault.runtime.bus.consumer import ATTEMPT, FAILED_QUEUE, REASON

dlq_app = typer.Typer(no_args_is_help=True, help="Inspect and replay dead-lettered messages.")
err = Console(stderr=True)
out = Console()
JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
CONNECT_TIMEOUT_S = 10.0
#: how long a ``basic.get`` may take before the queue counts as drained
GET_TIMEOUT_S = 5.0
#: messages taken (unacknowledged) at once while replaying
REPLAY_CHUNK = 200
#: how many times a message was replayed by hand (added by ``dlq replay``)
REPLAYS = "x-docuvault-replays"
#: headers the broker manages; a replayed message starts without them
_BROKER_HEADERS = (
    "x-death",
    "x-delivery-count",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


# --- pure helpers ----------------------------------------------------------------------------
def resolve_queue(topology: Topology, name: str) -> QueueSpec:
    """The work queue named ``name`` or whose dead-letter queue is ``name``."""
    for spec in topology.queues:
        if name in (spec.name, spec.dlq):
            return spec
    known = ", ".join(s.name for s in topology.queues)
    raise CliError(f"no queue {name!r} in the topology; known work queues: {known}")


def replay_target(topology: Topology, spec: QueueSpec, headers: dict[str, Any]) -> str:
    """The work queue a dead letter failed in: its header when that names a work queue of the
    topology, else the work queue the DLQ belongs to."""
    failed = headers.get(FAILED_QUEUE)
    if isinstance(failed, bytes):
        failed = failed.decode("utf-8", "replace")
    if isinstance(failed, str) and any(s.name == failed for s in topology.queues):
        return failed
    return spec.name


def replay_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Headers of a replayed message: the attempt count starts again and the failure headers
    and the broker's dead-lettering headers go; the number of replays is kept."""
    kept = {k: v for k, v in headers.items() if k not in (REASON, FAILED_QUEUE, *_BROKER_HEADERS)}
    kept[ATTEMPT] = 0
    kept[REPLAYS] = int(headers.get(REPLAYS, 0) or 0) + 1
    return kept


@dataclass(frozen=True)
class DeadLetter:
    """What ``dlq show`` prints of one message."""

    type: str | None
    id: str | None
    subject: str | None
    failed_queue: str | None
    attempt: int | None
    reason: str | None
    time: str | None
    replays: int
    size_bytes: int


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


def describe(
    body: bytes, headers: dict[str, Any], *, message_type: str | None, message_id: str | None
) -> DeadLetter:
    """Read what can be read of a message; a malformed body still yields its headers."""
    envelope: dict[str, Any] = {}
    with contextlib.suppress(ValueError):
        parsed = json.loads(body)
        if isinstance(parsed, dict):
            envelope = parsed
    attempt = headers.get(ATTEMPT)
    return DeadLetter(
        type=message_type or _text(envelope.get("type")),
        id=message_id or _text(envelope.get("id")),
        subject=_text(envelope.get("subject")),
        failed_queue=_text(headers.get(FAILED_QUEUE)),
        attempt=int(attempt) if isinstance(attempt, int | str) and str(attempt).isdigit() else None,
        reason=_text(headers.get(REASON)),
        time=_text(envelope.get("time")),
        replays=int(headers.get(REPLAYS, 0) or 0),
        size_bytes=len(body),
    )


# --- RabbitMQ --------------------------------------------------------------------------------
def _where(url: str) -> str:
    """The broker's address without credentials, for messages."""
    return url.rsplit("@", 1)[-1]


def _topology(settings: config.CliSettings) -> Topology:
    try:
        return Topology.load(settings.topology_file)
    except OSError as exc:
        raise CliError(
            f"cannot read the topology {settings.topology_file}: {exc}"
            " (set DOCUVAULT_TOPOLOGY_FILE)"
        ) from exc


@contextlib.asynccontextmanager
async def _connection(
    settings: config.CliSettings,
) -> AsyncIterator[aio_pika.abc.AbstractConnection]:
    url = settings.amqp_url.get_secret_value()
    try:
        connection = await aio_pika.connect(url, timeout=CONNECT_TIMEOUT_S)
    except (AMQPError, aiormq.exceptions.AMQPError, OSError, TimeoutError) as exc:
        raise CliError(f"cannot reach RabbitMQ at {_where(url)}: {exc}") from exc
    try:
        yield connection
    finally:
        await connection.close()


async def _count(connection: aio_pika.abc.AbstractConnection, queue: str) -> int | None:
    """Ready messages in ``queue`` (a passive declare); None when it does not exist."""
    channel = await connection.channel()
    try:
        declared = await channel.declare_queue(queue, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity:
        return None
    count = declared.declaration_result.message_count
    await channel.close()
    return count


async def _list(settings: config.CliSettings) -> list[dict[str, Any]]:
    topology = _topology(settings)
    async with _connection(settings) as connection:
        return [
            {
                "queue": spec.dlq,
                "work_queue": spec.name,
                "messages": await _count(connection, spec.dlq),
            }
            for spec in topology.queues
        ]


async def _take(
    queue: aio_pika.abc.AbstractQueue, limit: int
) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Up to ``limit`` messages, unacknowledged (they stay the broker's until settled)."""
    taken: list[aio_pika.abc.AbstractIncomingMessage] = []
    while len(taken) < limit:
        message = await queue.get(no_ack=False, fail=False, timeout=GET_TIMEOUT_S)
        if message is None:
            break
        taken.append(message)
    return taken


def _letter(message: aio_pika.abc.AbstractIncomingMessage) -> DeadLetter:
    return describe(
        message.body,
        dict(message.headers or {}),
        message_type=message.type,
        message_id=message.message_id,
    )


async def _show(
    settings: config.CliSettings, name: str, limit: int
) -> tuple[str, list[DeadLetter]]:
    spec = resolve_queue(_topology(settings), name)
    async with _connection(settings) as connection:
        channel = await connection.channel()
        queue = await _passive(channel, spec.dlq)
        taken = await _take(queue, limit)
        try:
            return spec.dlq, [_letter(m) for m in taken]
        finally:
            # non-destructive: every message goes back (closing the channel would too)
            for message in taken:
                await message.reject(requeue=True)
            await channel.close()


async def _passive(channel: aio_pika.abc.AbstractChannel, name: str) -> aio_pika.abc.AbstractQueue:
    try:
        return await channel.declare_queue(name, passive=True)
    except aiormq.exceptions.ChannelNotFoundEntity as exc:
        raise CliError(f"queue {name} does not exist on the broker (was `make up` run?)") from exc


async def _replay(settings: config.CliSettings, name: str, limit: int | None) -> tuple[str, int]:
    """Move dead letters back to their work queue: confirmed publish first, then ack.

    At most the messages present when it starts (and at most ``limit``), so a message that
    fails again and comes back is not replayed twice in one run.
    """
    topology = _topology(settings)
    spec = resolve_queue(topology, name)
    url = settings.amqp_url.get_secret_value()
    broker = Broker(url, topology, service="cli", publish_timeout_s=settings.publish_timeout_s)
    broker.start()
    try:
        try:
            connection = await asyncio.wait_for(broker.connection(), CONNECT_TIMEOUT_S)
        except TimeoutError as exc:
            raise CliError(f"cannot reach RabbitMQ at {_where(url)}") from exc
        channel = await connection.channel()
        queue = await _passive(channel, spec.dlq)
        present = queue.declaration_result.message_count or 0
        budget = present if limit is None else min(limit, present)
        moved = 0
        while moved < budget:
            taken = await _take(queue, min(REPLAY_CHUNK, budget - moved))
            if not taken:
                break
            for message in taken:
                headers = dict(message.headers or {})
                copy = aio_pika.Message(
                    body=message.body,
                    content_type=message.content_type,
                    message_id=message.message_id,
                    type=message.type,
                    timestamp=message.timestamp,
                    delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                    headers=replay_headers(headers),
                )
                target = replay_target(topology, spec, headers)
                try:
                    await broker.publish_message(copy, exchange="", routing_key=target)
                except PublishFailed as exc:
                    for rest in taken[taken.index(message) :]:
                        await rest.reject(requeue=True)
                    raise CliError(
                        f"replayed {moved}; stopped: {exc} (the rest stays in {spec.dlq})"
                    ) from exc
                await message.ack()
                moved += 1
        await channel.close()
        return spec.dlq, moved
    finally:
        await broker.close()


# --- commands --------------------------------------------------------------------------------
@dlq_app.command("list")
def dlq_list(as_json: JsonOpt = False) -> None:
    """Every dead-letter queue of the topology with its message count."""
    rows = asyncio.run(_list(config.load()))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table("dead-letter queue", "messages", "work queue")
    for row in rows:
        count = row["messages"]
        shown = "[red]missing[/]" if count is None else (f"[bold red]{count}[/]" if count else "0")
        table.add_row(row["queue"], shown, row["work_queue"])
    out.print(table)


@dlq_app.command("show")
def dlq_show(
    queue: Annotated[str, typer.Argument(help="a work queue (ingest.purge) or its .dlq")],
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="messages to show at most")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Look at dead letters without removing them (they are put back)."""
    dlq, letters = asyncio.run(_show(config.load(), queue, limit))
    if as_json:
        print(json.dumps([asdict(x) for x in letters], indent=2))
        return
    if not letters:
        err.print(f"{dlq} is empty")
        return
    table = Table("type", "id", "subject", "attempt", "failed in", "reason", show_lines=True)
    for x in letters:
        table.add_row(
            (x.type or "?").removeprefix("io.docuvault."),
            x.id or "-",
            x.subject or "-",
            "-" if x.attempt is None else str(x.attempt),
            x.failed_queue or "-",
            x.reason or "-",
        )
    out.print(table)
    err.print(f"{len(letters)} shown from {dlq}; none removed")


@dlq_app.command("replay")
def dlq_replay(
    queue: Annotated[str, typer.Argument(help="a work queue (ingest.purge) or its .dlq")],
    limit: Annotated[
        int | None, typer.Option(min=1, help="messages to replay at most (default: all)")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move dead letters back to the work queue they failed in (attempts start again)."""
    dlq, moved = asyncio.run(_replay(config.load(), queue, limit))
    if as_json:
        print(json.dumps({"queue": dlq, "replayed": moved}))
    else:
        print(moved)
        err.print(f"{moved} message(s) moved from {dlq} back to their work queue")


class Stage(StrEnum):
    extract = "extract"
    classify = "classify"


class Status(StrEnum):
    received = "received"
    extracted = "extracted"
    classified = "classified"
    extraction_failed = "extraction_failed"
    classification_failed = "classification_failed"


class TopicMode(StrEnum):
    any = "any"
    all = "all"
    none = "none"


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def reprocess(
    stage: Annotated[Stage, typer.Option(help="extract (then classify) or classify only")],
    status: Annotated[list[Status] | None, typer.Option(help="repeatable")] = None,
    topic: Annotated[list[str] | None, typer.Option(help="topic id; repeatable")] = None,
    topic_mode: Annotated[TopicMode, typer.Option()] = TopicMode.any,
    content_type: Annotated[str | None, typer.Option(help="e.g. application/pdf")] = None,
    uploaded_after: Annotated[
        datetime | None, typer.Option(formats=DATE_FORMATS, help="UTC unless an offset is given")
    ] = None,
    uploaded_before: Annotated[
        datetime | None, typer.Option(formats=DATE_FORMATS, help="UTC unless an offset is given")
    ] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="web-search syntax")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Send the owner's matching documents through a stage again; prints how many."""
    body: dict[str, Any] = {
        "stage": stage.value,
        "status": [s.value for s in status or []],
        "topic": list(topic or []),
        "topic_mode": topic_mode.value,
    }
    optional = {
        "content_type": content_type,
        "uploaded_after": _iso(uploaded_after),
        "uploaded_before": _iso(uploaded_before),
        "q": query,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    answer = Client(config.load()).reprocess(body)
    if as_json:
        print(json.dumps(answer))
        return
    print(answer["requested"])
    skipped = answer.get("skipped", 0)
    note = f"; {skipped} skipped (no original or no text yet)" if skipped else ""
    err.print(f"{answer['requested']} document(s) requested for {stage.value}{note}")
