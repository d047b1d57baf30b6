"""Flow control: uploads wait while the pipeline behind ingest is backed up.

Ingest accepts small files faster than the extractor and classifier can process them. Without
a brake, a bulk upload piles thousands of documents into ``extractor.documents`` and each waits
minutes before anyone reads it, although the client could simply have sent more slowly. So a
new upload waits, before its body is read, while any watched queue holds ``limit`` or more ready
messages — at most ``max_wait_s``; then it is taken anyway (a durable backlog is better than a
refusal). Waiting uploads are let in first come, first served as the queues drain.

A queue without consumers is not a reason to wait (nothing would drain it: the service is down,
and the upload is kept until it returns), nor is a broker that cannot be asked: like DESIGN §4's
"broker down → still 202", flow control never turns into a refusal. Passive declarations need no
permission on the queue, so ingest's RabbitMQ user keeps reaching only its own queues.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from prometheus_client import Counter, Gauge, Histogram

from docuvault.runtime.bus import Broker
from docuvault.runtime.tasks import cancel_and_wait

log = logging.getLogger("docuvault.ingest.admission")

backlog_gauge = Gauge(
    "docuvault_ingest_pipeline_backlog",
    "Ready messages in a watched queue of the pipeline (-1: not known)",
    ["queue"],
)
admission_wait = Histogram(
    "docuvault_ingest_admission_wait_seconds",
    "How long uploads waited for the pipeline's backlog to drain",
    buckets=(0.01, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
admitted_late = Counter(
    "docuvault_ingest_admitted_over_backlog_total",
    "Uploads taken after waiting the longest allowed while the backlog was still over the limit",
)


class Admission:
    def __init__(
        self,
        broker: Broker,
        queues: Sequence[str],
        *,
        limit: int,
        max_wait_s: float,
        interval_s: float = 0.25,
    ) -> None:
        self._broker = broker
        self._queues = tuple(queues)
        self.limit = limit
        self.max_wait_s = max_wait_s
        self._interval_s = interval_s
        #: ready messages per drained queue at the last look; None: not known (let everyone in)
        self._backlog: int | None = None
        #: uploads let in since the last look (on their way into the queues)
        self._admitted = 0
        self._looked = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return self.limit > 0 and self.max_wait_s > 0 and bool(self._queues)

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._watch(), name="admission")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    def _open(self) -> bool:
        return self._backlog is None or self._backlog + self._admitted < self.limit

    async def admit(self) -> float:
        """Wait for room in the pipeline; the seconds waited."""
        if not self.enabled:
            return 0.0
        started = time.monotonic()
        async with self._looked:
            try:
                async with asyncio.timeout(self.max_wait_s):
                    await self._looked.wait_for(self._open)
            except TimeoutError:
                admitted_late.inc()
                log.info(
                    "pipeline backlog still %s (limit %d) after %g s: upload taken anyway",
                    self._backlog,
                    self.limit,
                    self.max_wait_s,
                )
            self._admitted += 1
        waited = time.monotonic() - started
        admission_wait.observe(waited)
        return waited

    async def _watch(self) -> None:
        while True:
            backlog: int | None = None
            if self._broker.connected:
                try:
                    backlog = self._largest(await self._broker.queue_depths(self._queues))
                except Exception as exc:  # the broker's own supervisor reconnects
                    log.debug("pipeline backlog not known: %s", exc)
            if backlog is None:
                for queue in self._queues:
                    backlog_gauge.labels(queue).set(-1)
            async with self._looked:
                self._backlog, self._admitted = backlog, 0
                self._looked.notify_all()
            await asyncio.sleep(self._interval_s)

    @staticmethod
    def _largest(depths: dict[str, tuple[int, int]]) -> int:
        """The largest ready count among watched queues that have consumers."""
        for name, (ready, _) in depths.items():
            backlog_gauge.labels(name).set(ready)
        return max((ready for ready, consumers in depths.values() if consumers), default=0)
