"""Start a service's consumers once the broker is reachable, and stop them gracefully."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

from docuvault.runtime.bus.broker import Broker
from docuvault.runtime.bus.consumer import Consumer, Subscriptions
from docuvault.runtime.tasks import cancel_and_wait

log = logging.getLogger("docuvault.consumer")


class ConsumerGroup:
    """One consumer per queue of the service; ``subscriptions`` is its one subscription list."""

    def __init__(
        self, broker: Broker, subscriptions: Mapping[str, Subscriptions], *, prefetch: int
    ) -> None:
        self.consumers = [
            Consumer(broker, broker.topology.queue(name), handlers)
            for name, handlers in subscriptions.items()
        ]
        self._prefetch = prefetch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._start_all(), name="consumers-start")

    async def _start_all(self) -> None:
        for consumer in self.consumers:
            await consumer.start(self._prefetch)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            await cancel_and_wait(self._task)
        await asyncio.gather(*(c.stop() for c in self.consumers), return_exceptions=True)
