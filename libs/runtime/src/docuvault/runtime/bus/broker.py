"""One RabbitMQ connection per process, supervised: topology declaration and confirmed publishing.

The connection is made in the background so that a service starts (and ingest keeps accepting
uploads) while the broker is down; publishing waits for it, within the publish deadline. When the
connection is lost, the supervisor reconnects, declares the topology again and re-attaches every
consumer — explicitly, rather than trusting a library's restoration to bring consumers back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
import aio_pika.abc
import aiormq.exceptions
from aio_pika.exceptions import AMQPError, ChannelInvalidStateError, DeliveryError, PublishError

from docuvault.contracts import CONTENT_TYPE, CloudEvent, encode
from docuvault.runtime import metrics
from docuvault.runtime.bus.topology import QueueSpec, Topology
from docuvault.runtime.settings import CommonSettings
from docuvault.runtime.tasks import cancel_and_wait

log = logging.getLogger("docuvault.bus")
RECONNECT_INTERVAL_S = 1.0
#: what a lost or refused connection raises inside aio-pika/aiormq
CONNECTION_ERRORS = (
    AMQPError,
    aiormq.exceptions.AMQPError,
    ChannelInvalidStateError,
    OSError,
    RuntimeError,
)
OnConnected = Callable[[aio_pika.abc.AbstractConnection], Awaitable[None]]


def _setter(event: asyncio.Event) -> Callable[..., None]:
    return lambda *_: event.set()


class PublishFailed(Exception):
    """The broker did not take the event: nacked, unroutable, or not confirmed in time."""


def event_message(body: bytes, *, event_id: str, event_type: str) -> aio_pika.Message:
    """The AMQP form of an encoded event (DESIGN §3): message_id = event id, type, persistent."""
    return aio_pika.Message(
        body=body,
        content_type=CONTENT_TYPE,
        message_id=event_id,
        type=event_type,
        timestamp=datetime.now(UTC),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )


class Broker:
    def __init__(self, url: str, topology: Topology, *, service: str, publish_timeout_s: float):
        self._url = url
        self.topology = topology
        self.service = service
        self.publish_timeout_s = publish_timeout_s
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None
        #: passive declarations only: a missing queue closes the channel it was asked on
        self._inspecting: aio_pika.abc.AbstractChannel | None = None
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[OnConnected] = []
        self.connections_made = 0

    @classmethod
    def from_settings(cls, settings: CommonSettings, service: str) -> Broker:
        return cls(
            settings.amqp_url.get_secret_value(),
            Topology.load(settings.topology_file),
            service=service,
            publish_timeout_s=settings.publish_timeout_s,
        )

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._task = asyncio.create_task(self._supervise(), name="amqp-connection")

    def on_connected(self, listener: OnConnected) -> None:
        """Run ``listener`` after every (re)connection, once the topology is declared."""
        self._listeners.append(listener)

    async def _supervise(self) -> None:
        while True:
            lost = asyncio.Event()
            try:
                connection = await aio_pika.connect(
                    self._url,
                    client_properties={"connection_name": f"docuvault-{self.service}"},
                    timeout=10,
                )
            except CONNECTION_ERRORS as exc:
                log.warning("RabbitMQ not reachable, retrying: %s", exc)
                await asyncio.sleep(RECONNECT_INTERVAL_S)
                continue
            connection.close_callbacks.add(_setter(lost))
            try:
                await self._attach(connection, lost)
                await lost.wait()
                log.warning("connection to RabbitMQ lost; reconnecting")
            except CONNECTION_ERRORS as exc:
                log.warning("RabbitMQ connection failed while attaching: %s", exc)
            finally:
                self._connected.clear()
                with contextlib.suppress(Exception):
                    await connection.close()
            await asyncio.sleep(RECONNECT_INTERVAL_S)

    async def _attach(
        self, connection: aio_pika.abc.AbstractConnection, lost: asyncio.Event
    ) -> None:
        self._connection = connection
        self._channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        # a channel error (e.g. a refused declaration) closes only the channel: start over
        self._channel.close_callbacks.add(_setter(lost))
        self._exchange = await self.declare(self.topology.queues_of(self.service))
        self.connections_made += 1
        # listeners (consumers) attach before `connected` is set, so a consumer that starts
        # meanwhile is attached exactly once: by this loop, which also sees late additions
        for listener in self._listeners:
            await listener(connection)
        self._connected.set()
        log.info("connected to RabbitMQ")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()

    async def connection(self) -> aio_pika.abc.AbstractConnection:
        await self._connected.wait()
        assert self._connection is not None
        return self._connection

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def check(self) -> None:
        """Readiness: connected right now."""
        if self._connection is None or not self._connected.is_set():
            raise ConnectionError("not connected to RabbitMQ; reconnecting")

    async def queue_depths(self, names: Sequence[str]) -> dict[str, tuple[int, int]]:
        """Ready messages and consumers of each queue, by passive declaration (which needs no
        permission on the queue). Waits for a connection; a missing queue raises."""
        connection = await self.connection()
        channel = self._inspecting
        if channel is None or channel.is_closed:
            channel = self._inspecting = await connection.channel()
        depths = {}
        for name in names:
            found = (await channel.declare_queue(name, passive=True)).declaration_result
            depths[name] = (found.message_count or 0, found.consumer_count or 0)
        return depths

    # --- topology --------------------------------------------------------------------------
    async def declare(self, specs: list[QueueSpec]) -> aio_pika.abc.AbstractExchange:
        """Idempotently declare the exchange, the history stream and the given work queues."""
        channel = self._channel
        assert channel is not None
        exchange = await channel.declare_exchange(
            self.topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        history = await channel.declare_queue(
            self.topology.history.queue, durable=True, arguments={"x-queue-type": "stream"}
        )
        await history.bind(exchange, "#")
        for spec in specs:
            names = [spec.name, spec.dlq]
            names += [spec.retry_queue(t) for t in range(1, len(self.topology.retry_delays_s) + 1)]
            queues = {
                name: await channel.declare_queue(
                    name, durable=True, arguments={"x-queue-type": "quorum"}
                )
                for name in names
            }
            for key in spec.bindings:
                await queues[spec.name].bind(exchange, key)
        return exchange

    # --- publishing ------------------------------------------------------------------------
    async def publish(self, event: CloudEvent[Any]) -> None:
        """Publish to ``docuvault.events`` and wait for the broker's confirm."""
        await self.publish_raw(
            encode(event),
            event_id=str(event.id),
            event_type=event.type,
            routing_key=event.routing_key,
        )

    async def publish_raw(
        self, body: bytes, *, event_id: str, event_type: str, routing_key: str
    ) -> None:
        """Publish an already encoded event (the outbox keeps events as bytes)."""
        await self.publish_message(
            event_message(body, event_id=event_id, event_type=event_type),
            exchange=self.topology.exchange,
            routing_key=routing_key,
        )
        metrics.events_published.labels(event_type).inc()

    async def publish_message(
        self, message: aio_pika.Message, *, exchange: str, routing_key: str
    ) -> None:
        """Confirmed, mandatory publish, retried across reconnects until the deadline.

        ``exchange`` is ``docuvault.events`` or ``""`` (the default exchange, straight to a
        queue: retry tiers and DLQs).
        """
        try:
            async with asyncio.timeout(self.publish_timeout_s):
                while True:
                    await self._connected.wait()
                    channel, events = self._channel, self._exchange
                    assert channel is not None
                    assert events is not None
                    target = channel.default_exchange if exchange == "" else events
                    try:
                        await target.publish(message, routing_key=routing_key, mandatory=True)
                        return
                    except (DeliveryError, PublishError) as exc:
                        raise PublishFailed(
                            f"broker refused {message.type} to {exchange or 'queue'}"
                            f" {routing_key!r}: {exc}"
                        ) from exc
                    except CONNECTION_ERRORS as exc:
                        log.warning("publish interrupted (%s); retrying after reconnect", exc)
                        await asyncio.sleep(0.2)
        except TimeoutError as exc:
            metrics.publish_failures.labels(message.type or "").inc()
            raise PublishFailed(
                f"no confirm for {message.type} within {self.publish_timeout_s:g} s"
            ) from exc
        except PublishFailed:
            metrics.publish_failures.labels(message.type or "").inc()
            raise
