"""The transactional outbox (DESIGN §4): write events with the state change, relay them after.

``add`` runs inside the caller's transaction; the relay publishes committed events in order with
publisher confirms and deletes them once confirmed. A failed publish leaves the row for the next
round, so an event is announced at least once, whenever the broker is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, TypeAlias

import asyncpg

from docuvault.contracts import CloudEvent, encode
from docuvault.runtime import db, metrics
from docuvault.runtime.bus.broker import Broker, PublishFailed
from docuvault.runtime.tasks import cancel_and_wait

log = logging.getLogger("docuvault.outbox")
#: a plain connection or one from a pool
Connection: TypeAlias = "asyncpg.Connection | asyncpg.pool.PoolConnectionProxy[Any]"
CHANNEL = "docuvault_outbox"


async def add(conn: Connection, *events: CloudEvent[Any]) -> None:
    """Queue events in the caller's transaction; they are published only if it commits."""
    await conn.executemany(
        "INSERT INTO outbox (event_id, event_type, routing_key, body) VALUES ($1, $2, $3, $4)",
        [(e.id, e.type, e.routing_key, encode(e)) for e in events],
    )
    await conn.execute(f"NOTIFY {CHANNEL}")


class OutboxRelay:
    def __init__(
        self, pool: asyncpg.Pool, broker: Broker, *, batch: int = 200, poll_s: float = 2.0
    ) -> None:
        self._pool = pool
        self._broker = broker
        self._batch = batch
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._listener: asyncpg.pool.PoolConnectionProxy[Any] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        await self._drop_listener()

    async def _drop_listener(self) -> None:
        """Forget a listening connection that may have died with the database."""
        if self._listener is not None:
            listener, self._listener = self._listener, None
            with contextlib.suppress(Exception):
                await listener.remove_listener(CHANNEL, self._on_notify)
            with contextlib.suppress(Exception):
                await self._pool.release(listener)

    async def _listen(self) -> None:
        if self._listener is None or self._listener.is_closed():
            listener = await self._pool.acquire()
            await listener.add_listener(CHANNEL, self._on_notify)
            self._listener = listener

    def _on_notify(self, *_: object) -> None:
        self._wake.set()

    async def _run(self) -> None:
        backoff = 0.5
        while True:
            try:
                await self._listen()
                relayed = await self.relay_once()
                backoff = 0.5
            except Exception as exc:  # the relay must outlive any outage of the db or broker
                log.warning("outbox relay paused %.1f s: %s", backoff, exc)
                await self._drop_listener()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            if relayed < self._batch:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_s):
                        await self._wake.wait()

    async def relay_once(self) -> int:
        """Publish one batch of committed events in order; returns how many were confirmed."""
        async with db.transaction(self._pool) as conn:
            rows = await conn.fetch(
                "SELECT seq, event_id, event_type, routing_key, body FROM outbox"
                " ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            results = await asyncio.gather(
                *(
                    self._broker.publish_raw(
                        r["body"],
                        event_id=str(r["event_id"]),
                        event_type=r["event_type"],
                        routing_key=r["routing_key"],
                    )
                    for r in rows
                ),
                return_exceptions=True,
            )
            done = [r["seq"] for r, res in zip(rows, results, strict=True) if res is None]
            failed = [(r["seq"], str(res)) for r, res in zip(rows, results, strict=True) if res]
            await conn.execute("DELETE FROM outbox WHERE seq = ANY($1::bigint[])", done)
            if failed:
                await conn.executemany(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = $2 WHERE seq = $1",
                    failed,
                )
        metrics.outbox_backlog.observe(len(done))
        if failed:
            raise PublishFailed(f"{len(failed)} event(s) not confirmed: {failed[0][1]}")
        return len(done)
