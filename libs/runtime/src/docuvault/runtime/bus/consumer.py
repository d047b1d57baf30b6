"""Consuming a service queue: decode, dispatch by event type, ack only after a durable outcome.

Outcomes of one delivery:
- the handler returns → ack (its effects are durable by then);
- the handler raises → a copy goes (confirmed) to the next retry wait queue, whose TTL
  dead-letters it back to the work queue; after the last tier, to ``<queue>.dlq``; then ack;
- the bytes are not a valid event → straight to the DLQ with the reason; then ack;
- the hand-off itself fails → nack with requeue, so the broker's delivery limit still applies.

The consumer re-attaches itself after every reconnection of the broker, and when the broker
cancels it (the queue was deleted, a node went away) it declares its queue again and resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aio_pika
import aio_pika.abc

from docuvault.contracts import CloudEvent, MalformedEvent, decode
from docuvault.runtime import metrics
from docuvault.runtime.bus.broker import CONNECTION_ERRORS, Broker, PublishFailed
from docuvault.runtime.bus.topology import QueueSpec
from docuvault.runtime.tracing import current_document_id, current_traceparent

log = logging.getLogger("docuvault.consumer")

Handler = Callable[[CloudEvent[Any]], Awaitable[None]]
#: what handlers get to publish a follow-up event (``Broker.publish`` in production)
Publish = Callable[[CloudEvent[Any]], Awaitable[None]]
#: routing key without prefix (``document.uploaded.v1``) → handler; one list per service
Subscriptions = Mapping[str, Handler]

ATTEMPT = "x-docuvault-attempt"
REASON = "x-docuvault-failure-reason"
FAILED_QUEUE = "x-docuvault-failed-queue"
MAX_REASON = 1000
RESUBSCRIBE_DELAY_S = 1.0


class Consumer:
    def __init__(self, broker: Broker, spec: QueueSpec, handlers: Subscriptions) -> None:
        missing = set(spec.bindings) - set(handlers)
        if missing:
            raise ValueError(f"queue {spec.name} is bound to {sorted(missing)} with no handler")
        self.broker = broker
        self.spec = spec
        self.handlers = handlers
        self._prefetch = 1
        self._channel: aio_pika.abc.AbstractChannel | None = None
        self._queue: aio_pika.abc.AbstractQueue | None = None
        self._tag: str | None = None
        self._stopping = False
        self._inflight: set[asyncio.Task[Any]] = set()
        self.attachments = 0

    async def start(self, prefetch: int) -> None:
        """Consume now and after every reconnection."""
        self._prefetch = prefetch
        self.broker.on_connected(self._attach)
        if self.broker.connected:
            await self._attach(await self.broker.connection())

    async def _attach(self, connection: aio_pika.abc.AbstractConnection) -> None:
        if self._stopping:
            return
        channel = await connection.channel(publisher_confirms=False)
        await channel.set_qos(prefetch_count=self._prefetch)
        queue = await channel.declare_queue(
            self.spec.name, durable=True, arguments={"x-queue-type": "quorum"}
        )
        underlay = await channel.get_underlay_channel()
        underlay.on_consumer_cancel_callbacks.add(self._on_broker_cancel)
        self._channel, self._queue = channel, queue
        self._tag = await queue.consume(self._on_message)
        self.attachments += 1
        log.info("consuming %s", self.spec.name)

    def _on_broker_cancel(self, frame: Any) -> None:
        if self._stopping or frame.consumer_tag != self._tag:
            return
        log.warning("the broker cancelled the consumer of %s; subscribing again", self.spec.name)
        task = asyncio.create_task(self._resubscribe(), name=f"resubscribe-{self.spec.name}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _resubscribe(self) -> None:
        while not self._stopping:
            await asyncio.sleep(RESUBSCRIBE_DELAY_S)
            try:
                old = self._channel
                await self.broker.declare([self.spec])  # the queue may be gone: bring it back
                await self._attach(await self.broker.connection())
                if old is not None:
                    with contextlib.suppress(Exception):
                        await old.close()
                return
            except CONNECTION_ERRORS as exc:
                log.warning("subscribing to %s again failed (%s); retrying", self.spec.name, exc)

    async def stop(self, grace_s: float = 10.0) -> None:
        """Stop taking messages, let in-flight ones finish (unfinished ones are redelivered)."""
        self._stopping = True
        if self._queue is not None and self._tag is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(self._tag)
        if self._inflight:
            await asyncio.wait(self._inflight, timeout=grace_s)
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await self._channel.close()

    async def _on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._inflight.add(task)
        try:
            await self._handle(message)
        finally:
            if task is not None:
                self._inflight.discard(task)

    async def _handle(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        queue = self.spec.name
        try:
            event = decode(message.body)
            handler = self.handlers.get(event.routing_key)
            if handler is None:
                raise MalformedEvent(f"{queue} has no handler for {event.type}")
        except MalformedEvent as exc:
            log.warning("malformed message on %s: %s", queue, exc)
            metrics.events_consumed.labels(queue, message.type or "", "malformed").inc()
            await self._hand_off(message, self.spec.dlq, f"malformed: {exc}", attempt=0)
            return
        current_traceparent.set(event.traceparent)
        document_id = getattr(event.data, "document_id", None)
        current_document_id.set(str(document_id) if document_id else None)
        started = time.perf_counter()
        try:
            await handler(event)
        except Exception as exc:
            attempt = int(_header(message, ATTEMPT, 0)) + 1
            tiers = len(self.broker.topology.retry_delays_s)
            target = self.spec.retry_queue(attempt) if attempt <= tiers else self.spec.dlq
            outcome = "retry" if attempt <= tiers else "dead_letter"
            log.warning(
                "handling %s failed (attempt %d), to %s: %s",
                event.type,
                attempt,
                target,
                exc,
                exc_info=exc,
            )
            metrics.events_consumed.labels(queue, event.type, outcome).inc()
            await self._hand_off(message, target, f"{type(exc).__name__}: {exc}", attempt=attempt)
            return
        finally:
            metrics.event_handling_seconds.labels(queue, event.type).observe(
                time.perf_counter() - started
            )
        metrics.events_consumed.labels(queue, event.type, "ok").inc()
        await _settle(message.ack())

    async def _hand_off(
        self,
        message: aio_pika.abc.AbstractIncomingMessage,
        target_queue: str,
        reason: str,
        *,
        attempt: int,
    ) -> None:
        headers: dict[str, Any] = dict(message.headers or {})
        headers.update(
            {ATTEMPT: attempt, REASON: reason[:MAX_REASON], FAILED_QUEUE: self.spec.name}
        )
        copy = aio_pika.Message(
            body=message.body,
            content_type=message.content_type,
            message_id=message.message_id,
            type=message.type,
            timestamp=message.timestamp,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            headers=headers,
        )
        try:
            await self.broker.publish_message(copy, exchange="", routing_key=target_queue)
        except PublishFailed as exc:
            log.error("could not hand %s to %s (%s); requeueing", message.type, target_queue, exc)
            await _settle(message.nack(requeue=True))
            return
        await _settle(message.ack())


def _header(message: aio_pika.abc.AbstractIncomingMessage, name: str, default: Any) -> Any:
    return (message.headers or {}).get(name, default)


async def _settle(action: Awaitable[None]) -> None:
    """Ack/nack; after a reconnect the delivery tag is stale and the broker redelivers anyway."""
    try:
        await action
    except Exception as exc:
        log.warning("could not settle message (it will be redelivered): %s", exc)
