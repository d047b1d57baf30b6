"""Rebuild the catalog's read model from ``docuvault.history`` and swap it in atomically.

``python -m docuvault.catalog rebuild`` / ``docuvault catalog rebuild`` (the migration role):

1. a fresh schema ``catalog_rebuild_<time>_<id>`` gets the catalog's migrations (a connection
   whose ``search_path`` is that schema makes every unqualified name resolve there, so the
   migrations and the projections are reused unchanged);
2. a marker event (``catalog.rebuild_marker.v1``) is published, and the history stream is read
   from its first offset, every event projected into the fresh schema, until the marker comes
   back: that is "now";
3. a second marker catches up, without locks, with what arrived meanwhile;
4. the swap, in one transaction: the live tables are locked against writes (reads go on), a
   third marker brings in the tail, the events still in the live outbox (committed, not yet
   published) are projected too, and the live inbox must hold no event the rebuilt one lacks —
   so nothing the live catalog applied is lost; then the live read-model tables move to
   ``catalog_backup_<time>_<id>`` and the rebuilt ones into ``public``, with the live tables'
   grants. The outbox stays (it holds unsent events). PostgreSQL re-plans the running
   catalog's prepared statements when their tables change, so it carries on with the new ones.

Lock waits are bounded by ``lock_timeout`` below ``deadlock_timeout``: should the swap ever wait
on a transaction that waits on it, the swap gives way (and is tried again), never the catalog.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import sys
import time
import urllib.parse
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

import aio_pika
import aio_pika.abc
import aio_pika.exceptions
import asyncpg

from docuvault.catalog import bootstrap, handlers
from docuvault.catalog.adapters.documents import PROJECTED, project_event, project_events
from docuvault.catalog.config import CatalogSettings
from docuvault.contracts import CloudEvent, EventData, MalformedEvent, decode
from docuvault.contracts.events import CatalogRebuildMarker, TextExtracted
from docuvault.runtime import db
from docuvault.runtime.blobstore import BlobStore, open_blobstore
from docuvault.runtime.bus import Broker
from docuvault.runtime.events import fresh

log = logging.getLogger("docuvault.catalog.rebuild")

#: the read model: every table that is a function of the events
REBUILT = (
    "inbox",
    "topics",
    "classification_settings",
    "documents",
    "document_history",
    "audit_trail",
)
#: never rebuilt: unsent events and the migrations applied stay where they are
KEPT = ("outbox", "schema_migrations")
#: the order the swap locks the live tables in: the projections' (inbox, then documents …)
LOCK_ORDER = (
    "inbox",
    "topics",
    "classification_settings",
    "documents",
    "outbox",
    "document_history",
    "audit_trail",
)
#: while the live tables are locked, the stream must bring the marker back within this
LOCKED_IDLE_S = 10.0
#: errors of one event's data: the live catalog dead-letters such an event; the replay skips it
EVENT_ERRORS = (ValueError, asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class RebuildFailed(Exception):
    """The rebuild stopped; the live catalog is untouched. The message says why."""


@dataclass
class Options:
    keep_backup: bool = True
    #: events per projection transaction
    batch: int = 500
    #: stream messages in flight (the consumer's prefetch)
    prefetch: int = 2000
    #: give up when the stream is silent this long before the marker is back
    idle_timeout_s: float = 60.0
    #: swap attempts (each gives way at once to a conflicting writer)
    swap_attempts: int = 30
    #: concurrent reads of extracted text from the object store
    text_reads: int = 16


@dataclass
class Summary:
    rebuild_id: str
    schema: str
    backup_schema: str | None = None
    events: int = 0
    projected: int = 0
    duplicates: int = 0
    ignored: int = 0
    malformed: int = 0
    rejected: int = 0
    markers: int = 0
    tail_events: int = 0
    outbox_events: int = 0
    swap_attempts: int = 0
    replay_s: float = 0.0
    #: where the replay's time went: waiting for extracted text, writing to the database
    text_s: float = 0.0
    database_s: float = 0.0
    locked_s: float = 0.0
    elapsed_s: float = 0.0
    events_per_s: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    #: other tables of the live schema: not the read model, so left as they are
    untouched: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        rows = ", ".join(f"{v} {k}" for k, v in self.rows.items())
        return [
            f"rebuilt the catalog from {self.events} events in {self.elapsed_s:.1f} s"
            f" ({self.events_per_s:,.0f} events/s replayed; waited {self.text_s:.1f} s for the"
            f" object store, {self.database_s:.1f} s for the database)",
            f"  projected {self.projected}, duplicates {self.duplicates},"
            f" not for the read model {self.ignored}, markers {self.markers},"
            f" malformed {self.malformed}, rejected {self.rejected}",
            f"  swap: attempt {self.swap_attempts}, writes held {self.locked_s * 1000:.0f} ms,"
            f" {self.tail_events} events in the tail, {self.outbox_events} from the outbox",
            f"  now live: {rows}",
            *(
                [f"  left as they were (not the read model): {', '.join(self.untouched)}"]
                if self.untouched
                else []
            ),
            f"  the previous tables are in schema {self.backup_schema}"
            if self.backup_schema
            else "  the previous tables were dropped",
        ]


def _dsn(dsn: str, **settings: str) -> str:
    """``dsn`` with server settings (asyncpg passes unknown query parameters to the server)."""
    parts = urllib.parse.urlsplit(dsn)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(settings)
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Progress:
    """Events replayed and the rate, on stderr, about once a second."""

    def __init__(self, out: TextIO, summary: Summary) -> None:
        self.out = out
        self.summary = summary
        self.started = time.monotonic()
        self._last = self.started
        self._last_events = 0

    def tick(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < 1.0:
            return
        events = self.summary.events
        rate = (events - self._last_events) / max(now - self._last, 1e-6)
        print(
            f"rebuild: {events:,} events replayed ({rate:,.0f}/s now,"
            f" {events / max(now - self.started, 1e-6):,.0f}/s overall)",
            file=self.out,
            flush=True,
        )
        self._last, self._last_events = now, events


@dataclass
class _Read:
    """A message of the stream, decoded on arrival; its text (for search) is read meanwhile."""

    message: aio_pika.abc.AbstractIncomingMessage
    event: CloudEvent[EventData] | None
    text: asyncio.Task[str | None] | None = None


class Replay:
    """Reads the history stream and projects it into the rebuild schema, marker by marker.

    Messages are decoded as they arrive and the extracted text of each ``text_extracted`` is
    read from the object store right away (bounded), so those reads overlap the database
    writes of the batches before.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        blobs: BlobStore,
        broker: Broker,
        summary: Summary,
        progress: Progress,
        options: Options,
    ) -> None:
        self.pool = pool
        self.blobs = blobs
        self.broker = broker
        self.summary = summary
        self.progress = progress
        self.options = options
        self.rebuild_id = uuid.UUID(summary.rebuild_id)
        self.sequence = 0
        self._incoming: asyncio.Queue[_Read] = asyncio.Queue()
        self._pending: deque[_Read] = deque()
        self._texts = asyncio.Semaphore(options.text_reads)

    async def on_message(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        try:
            event: CloudEvent[EventData] | None = decode(message.body)
        except MalformedEvent as exc:
            log.warning("skipping a malformed message %s: %s", message.message_id, exc)
            event = None
        await self._incoming.put(_Read(message, event, self._read_text(event)))

    def _read_text(self, event: CloudEvent[EventData] | None) -> asyncio.Task[str | None] | None:
        if event is None or not isinstance(event.data, TextExtracted):
            return None
        return asyncio.create_task(self._search_text(event.data))

    async def _search_text(self, data: TextExtracted) -> str | None:
        async with self._texts:
            return await handlers.text_for_search(self.blobs, data.text_object_key)

    async def _next(self, idle_s: float) -> _Read:
        if self._pending:
            return self._pending.popleft()
        try:
            async with asyncio.timeout(idle_s):
                return await self._incoming.get()
        except TimeoutError as exc:
            raise RebuildFailed(
                f"the history stream was silent for {idle_s:g} s before marker"
                f" {self.sequence} came back; is the stream bound to the exchange?"
            ) from exc

    def _take_ready(self, into: list[_Read], limit: int) -> None:
        while len(into) < limit:
            if self._pending:
                into.append(self._pending.popleft())
            elif not self._incoming.empty():
                into.append(self._incoming.get_nowait())
            else:
                return

    async def mark(self) -> int:
        """Publish the next marker (confirmed); returns its sequence number."""
        self.sequence += 1
        marker = CatalogRebuildMarker(rebuild_id=self.rebuild_id, sequence=self.sequence)
        await self.broker.publish(fresh(marker, source="catalog"))
        return self.sequence

    async def until_marker(self, sequence: int, idle_s: float | None = None) -> int:
        """Project everything up to our marker ``sequence``; returns how many events it read."""
        read = 0
        while True:
            batch = [await self._next(idle_s or self.options.idle_timeout_s)]
            self._take_ready(batch, self.options.batch)
            found = False
            for position, item in enumerate(batch):
                self.summary.events += 1
                read += 1
                data = item.event.data if item.event is not None else None
                if data is None:
                    self.summary.malformed += 1
                elif isinstance(data, CatalogRebuildMarker):
                    self.summary.markers += 1
                    if data.rebuild_id == self.rebuild_id and data.sequence == sequence:
                        found = True
                        # what came after the marker is the next phase's
                        self._pending.extendleft(reversed(batch[position + 1 :]))
                        batch = batch[: position + 1]
                        break
            await self.project(batch)
            await batch[-1].message.ack(multiple=True)
            self.progress.tick()
            if found:
                return read

    async def project_outbox(self, events: Sequence[CloudEvent[EventData]]) -> None:
        """Project events that did not come from the stream (the live outbox's)."""
        texts = [self._read_text(e) for e in events]
        clock = time.monotonic()
        read = [await t if t is not None else None for t in texts]
        self.summary.text_s += time.monotonic() - clock
        await self._project(events, read)

    async def project(self, batch: Sequence[_Read]) -> None:
        items = [
            i
            for i in batch
            if i.event is not None and not isinstance(i.event.data, CatalogRebuildMarker)
        ]
        clock = time.monotonic()  # how long the replay waits for the object store
        texts = [await i.text if i.text is not None else None for i in items]
        self.summary.text_s += time.monotonic() - clock
        await self._project([i.event for i in items if i.event is not None], texts)

    async def _project(
        self, events: Sequence[CloudEvent[EventData]], texts: Sequence[str | None]
    ) -> None:
        """One transaction for the batch; on an error, event by event to skip the bad ones."""
        if not events:
            return
        clock = time.monotonic()
        outcomes: list[bool | None] = []
        try:
            async with db.transaction(self.pool) as conn:
                outcomes += await project_events(conn, handlers.CONSUMER, events, texts)
        except EVENT_ERRORS:
            outcomes = []
            async with self.pool.acquire() as conn:
                for event, text in zip(events, texts, strict=True):
                    try:
                        async with conn.transaction():
                            applied = await project_event(conn, handlers.CONSUMER, event, text)
                    except EVENT_ERRORS as exc:
                        log.warning("skipping event %s (%s): %s", event.id, event.type, exc)
                        applied = None
                    outcomes.append(applied)
        self.summary.database_s += time.monotonic() - clock
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome is None:
                self.summary.rejected += 1
            elif not isinstance(event.data, PROJECTED):
                self.summary.ignored += 1
            elif outcome:
                self.summary.projected += 1
            else:
                self.summary.duplicates += 1


async def _grants(conn: asyncpg.Connection, table: str) -> list[str]:
    """GRANT statements giving ``public.<table>``'s privileges to the same roles (not owner)."""
    found = await conn.fetch(
        "SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE quote_ident(pg_get_userbyid(a.grantee))"
        " END AS grantee, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS privs"
        " FROM pg_class c CROSS JOIN LATERAL aclexplode(c.relacl) a"
        " WHERE c.oid = $1::regclass AND a.grantee <> c.relowner GROUP BY 1",
        f"public.{table}",
    )
    return [f"GRANT {r['privs']} ON TABLE {{table}} TO {r['grantee']}" for r in found]


async def _migrations(conn: asyncpg.Connection, schema: str) -> set[tuple[str, int]]:
    found = await conn.fetch(
        f"SELECT component, version FROM {_ident(schema)}.schema_migrations"  # noqa: S608
    )
    return {(r["component"], r["version"]) for r in found}


class Rebuild:
    def __init__(
        self, settings: CatalogSettings, options: Options, out: TextIO = sys.stderr
    ) -> None:
        self.settings = settings
        self.options = options
        self.out = out
        stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
        rebuild_id = uuid.uuid4()
        self.schema = f"catalog_rebuild_{stamp}_{rebuild_id.hex[:8]}"
        self.backup = f"catalog_backup_{stamp}_{rebuild_id.hex[:8]}"
        self.summary = Summary(rebuild_id=str(rebuild_id), schema=self.schema)
        self.dsn = settings.migration_dsn()

    def say(self, line: str) -> None:
        print(f"rebuild: {line}", file=self.out, flush=True)

    async def run(self) -> Summary:
        started = time.monotonic()
        admin = await asyncpg.connect(self.dsn, timeout=10)
        swapped = False
        try:
            await self._check_live(admin)
            await admin.execute(f"CREATE SCHEMA {_ident(self.schema)}")
            self.say(f"schema {self.schema}: applying the catalog's migrations")
            await db.migrate(
                _dsn(self.dsn, search_path=f"{_ident(self.schema)}, public"),
                bootstrap.MIGRATIONS,
            )
            if await _migrations(admin, "public") != await _migrations(admin, self.schema):
                raise RebuildFailed(
                    "the live catalog's migrations differ from this code's: run"
                    " `python -m docuvault.catalog migrate` with the same version first"
                )
            swapped = await self._replay_and_swap(admin)
        finally:
            with contextlib.suppress(Exception):
                await admin.execute(f"DROP SCHEMA IF EXISTS {_ident(self.schema)} CASCADE")
            if swapped and not self.options.keep_backup and self.summary.backup_schema:
                await admin.execute(f"DROP SCHEMA {_ident(self.summary.backup_schema)} CASCADE")
                self.summary.backup_schema = None
            await admin.close()
        self.summary.elapsed_s = round(time.monotonic() - started, 3)
        self.summary.text_s = round(self.summary.text_s, 3)
        self.summary.database_s = round(self.summary.database_s, 3)
        return self.summary

    async def _check_live(self, admin: asyncpg.Connection) -> None:
        missing = [
            t
            for t in (*REBUILT, "outbox")
            if await admin.fetchval("SELECT to_regclass($1)", f"public.{t}") is None
        ]
        if missing:
            raise RebuildFailed(
                f"the live catalog has no table {', '.join(missing)}: run"
                " `python -m docuvault.catalog migrate` first"
            )
        found = await admin.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename"
        )
        self.summary.untouched = [
            r["tablename"] for r in found if r["tablename"] not in (*REBUILT, *KEPT)
        ]

    async def _replay_and_swap(self, admin: asyncpg.Connection) -> bool:
        settings = self.settings
        pool = await asyncpg.create_pool(
            self.dsn,
            min_size=1,
            max_size=2,
            # the rebuild schema only: nothing the replay does can reach a live table
            server_settings={"search_path": _ident(self.schema), "synchronous_commit": "off"},
        )
        assert pool is not None
        broker = Broker.from_settings(settings, "catalog-rebuild")
        broker.start()
        reader: aio_pika.abc.AbstractConnection | None = None
        try:
            async with open_blobstore(settings) as blobs:
                progress = Progress(self.out, self.summary)
                replay = Replay(pool, blobs, broker, self.summary, progress, self.options)
                reader = await aio_pika.connect(
                    settings.amqp_url.get_secret_value(),
                    client_properties={"connection_name": "docuvault-catalog-rebuild"},
                )
                channel = await reader.channel()
                await channel.set_qos(prefetch_count=self.options.prefetch)
                history = await channel.get_queue(broker.topology.history.queue, ensure=True)
                first = await replay.mark()
                await history.consume(replay.on_message, arguments={"x-stream-offset": "first"})
                self.say(f"replaying {history.name} from its first offset")
                replay_started = time.monotonic()
                replayed = await replay.until_marker(first)
                progress.tick(force=True)
                self.summary.replay_s = round(time.monotonic() - replay_started, 3)
                self.summary.events_per_s = round(replayed / max(self.summary.replay_s, 1e-6), 1)
                caught_up = await replay.until_marker(await replay.mark())
                self.say(f"caught up with {caught_up} events that came meanwhile; swapping")
                await self._swap(admin, replay)
                self.summary.rows = await self._count(admin)
        finally:
            if reader is not None:
                with contextlib.suppress(Exception):
                    await reader.close()
            await broker.close()
            await pool.close()
        return True

    async def _lock_timeout_ms(self, admin: asyncpg.Connection) -> int:
        """Half the deadlock timeout: the swap times out before anyone else sees a deadlock."""
        deadlock_ms = await admin.fetchval(
            "SELECT setting::int FROM pg_settings WHERE name = 'deadlock_timeout'"
        )
        return max(50, int(deadlock_ms) // 2)

    async def _swap(self, admin: asyncpg.Connection, replay: Replay) -> None:
        lock_ms = await self._lock_timeout_ms(admin)
        for attempt in range(1, self.options.swap_attempts + 1):
            self.summary.swap_attempts = attempt
            try:
                await self._swap_once(admin, replay, lock_ms)
                return
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError) as exc:
                wait = min(0.05 * 2**attempt, 2.0)
                self.say(f"swap attempt {attempt} gave way to the live catalog ({exc}); retrying")
                await asyncio.sleep(wait)
        raise RebuildFailed(
            f"the live tables stayed busy through {self.options.swap_attempts} swap attempts;"
            " nothing was changed, try again when the catalog is quieter"
        )

    async def _swap_once(self, admin: asyncpg.Connection, replay: Replay, lock_ms: int) -> None:
        schema, backup = _ident(self.schema), _ident(self.backup)
        async with admin.transaction():
            await admin.execute(f"SET LOCAL lock_timeout = '{lock_ms}ms'")
            await admin.execute("SET LOCAL synchronous_commit = on")
            tables = ", ".join(f"public.{t}" for t in LOCK_ORDER)
            await admin.execute(f"LOCK TABLE {tables} IN EXCLUSIVE MODE")
            locked = time.monotonic()
            # the tail: everything published before the live tables stopped changing
            self.summary.tail_events += await replay.until_marker(
                await replay.mark(), idle_s=LOCKED_IDLE_S
            )
            # committed in the live catalog, not yet published: project them from its outbox
            bodies = await admin.fetch("SELECT body FROM public.outbox ORDER BY seq")
            pending = []
            for row in bodies:
                with contextlib.suppress(MalformedEvent):
                    pending.append(decode(bytes(row["body"])))
            await replay.project_outbox(pending)
            self.summary.outbox_events = len(pending)
            missing = await self._missing(admin)
            if missing:
                # not expected (the tail was read after the lock); one more look, then give up
                self.summary.tail_events += await replay.until_marker(
                    await replay.mark(), idle_s=LOCKED_IDLE_S
                )
                missing = await self._missing(admin)
            if missing:
                raise RebuildFailed(
                    f"{missing} event(s) the live catalog applied are not in the history"
                    " (retention?); the live catalog is left as it was"
                )
            grants = {t: await _grants(admin, t) for t in REBUILT}
            await admin.execute(f"CREATE SCHEMA {backup}")
            for table in REBUILT:
                await admin.execute(f"ALTER TABLE public.{table} SET SCHEMA {backup}")
            for table in REBUILT:
                await admin.execute(f"ALTER TABLE {schema}.{table} SET SCHEMA public")
                for grant in grants[table]:
                    await admin.execute(grant.format(table=f"public.{table}"))
            self.summary.locked_s = round(time.monotonic() - locked, 3)
        self.summary.backup_schema = self.backup

    async def _missing(self, admin: asyncpg.Connection) -> int:
        """Events in the live inbox that the rebuilt one lacks."""
        rebuilt = f"{_ident(self.schema)}.inbox"
        sql = (
            "SELECT count(*) FROM public.inbox l WHERE l.consumer = $1 AND NOT EXISTS"  # noqa: S608
            f" (SELECT 1 FROM {rebuilt} r WHERE r.consumer = l.consumer"
            " AND r.event_id = l.event_id)"
        )
        count: int = await admin.fetchval(sql, handlers.CONSUMER)
        return count

    async def _count(self, admin: asyncpg.Connection) -> dict[str, int]:
        row = await admin.fetchrow(
            "SELECT (SELECT count(*) FROM public.documents WHERE deleted_at IS NULL) AS documents,"
            " (SELECT count(*) FROM public.documents WHERE deleted_at IS NOT NULL) AS tombstones,"
            " (SELECT count(*) FROM public.topics WHERE deleted_at IS NULL) AS topics,"
            " (SELECT count(*) FROM public.topics WHERE deleted_at IS NOT NULL)"
            " AS deleted_topics,"
            " (SELECT count(*) FROM public.classification_settings) AS settings,"
            " (SELECT count(*) FROM public.document_history) AS history_entries,"
            " (SELECT count(*) FROM public.audit_trail) AS audit_entries"
        )
        assert row is not None
        return dict(row)


async def rebuild(
    settings: CatalogSettings, options: Options | None = None, out: TextIO = sys.stderr
) -> Summary:
    return await Rebuild(settings, options or Options(), out).run()


def parse(argv: Sequence[str]) -> tuple[Options, bool]:
    parser = argparse.ArgumentParser(
        prog="python -m docuvault.catalog rebuild",
        description="Replay docuvault.history into fresh tables and swap them in atomically.",
    )
    parser.add_argument(
        "--drop-backup", action="store_true", help="drop the previous tables after the swap"
    )
    parser.add_argument("--batch", type=int, default=Options.batch, help="events per transaction")
    parser.add_argument("--json", action="store_true", help="the summary as JSON on stdout")
    args = parser.parse_args(list(argv))
    return Options(keep_backup=not args.drop_backup, batch=max(1, args.batch)), bool(args.json)


def run(
    settings: CatalogSettings,
    options: Options,
    *,
    as_json: bool = False,
    report: Callable[[str], None] | None = None,
) -> int:
    """Run a rebuild and print its summary; returns the exit status."""
    try:
        summary = asyncio.run(rebuild(settings, options))
    except RebuildFailed as exc:
        print(f"rebuild failed: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError, aio_pika.exceptions.AMQPError) as exc:
        print(f"rebuild failed, the live catalog is unchanged: {exc}", file=sys.stderr)
        return 1
    for line in summary.lines():
        print(line, file=sys.stderr)
    if as_json:
        (report or print)(json.dumps(summary.as_dict(), indent=2))
    return 0


def main(settings: CatalogSettings, argv: Sequence[str]) -> int:
    """``python -m docuvault.catalog rebuild [--drop-backup] [--batch N] [--json]``."""
    options, as_json = parse(argv)
    return run(settings, options, as_json=as_json)
