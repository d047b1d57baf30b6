"""The only place that builds the catalog's real adapters and wires them to handlers."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from docuvault.catalog import handlers
from docuvault.catalog.adapters.audit import PostgresAudit
from docuvault.catalog.adapters.commands import PostgresCommands
from docuvault.catalog.adapters.documents import PostgresCatalog
from docuvault.catalog.adapters.tokens import PostgresRevocations
from docuvault.catalog.adapters.topics import PostgresTopics
from docuvault.catalog.config import CatalogSettings
from docuvault.runtime import db
from docuvault.runtime.auth import DenyList
from docuvault.runtime.blobstore import BlobStore, open_blobstore
from docuvault.runtime.bus import Broker
from docuvault.runtime.bus.group import ConsumerGroup
from docuvault.runtime.health import ReadinessChecks
from docuvault.runtime.outbox import OutboxRelay
from docuvault.runtime.revocations import kept_fresh

log = logging.getLogger("docuvault.catalog")
SERVICE = "catalog"
#: extensions the catalog's indexes need; only a superuser can create them
EXTENSIONS = ("pg_trgm",)
MIGRATIONS = {"outbox": db.OUTBOX_MIGRATIONS, "catalog": Path(__file__).parent / "migrations"}


@dataclass(frozen=True)
class Catalog:
    settings: CatalogSettings
    documents: PostgresCatalog
    topics: PostgresTopics
    blobs: BlobStore
    checks: ReadinessChecks
    audit: PostgresAudit
    revocations: PostgresRevocations
    #: revoked tokens the API refuses (reloaded from the database every second)
    deny_list: DenyList
    #: delete, assign topics, classify: for one document or many
    commands: PostgresCommands


class MissingExtension(RuntimeError):
    """The database lacks an extension the catalog needs."""


async def require_extensions(pool: asyncpg.Pool) -> None:
    """Refuse to start without them: the filename search would otherwise scan every document
    (its trigram index cannot exist), found out at the first slow query instead of here.

    A database that cannot be reached is not a reason to refuse: the catalog starts unready,
    as it always has, and waits for it."""
    try:
        found = await pool.fetch(
            "SELECT extname FROM pg_extension WHERE extname = ANY($1::text[])", list(EXTENSIONS)
        )
    except (OSError, TimeoutError, asyncpg.CannotConnectNowError) as exc:
        log.warning("extensions not checked, the database is unavailable: %s", exc)
        return
    missing = sorted(set(EXTENSIONS) - {r["extname"] for r in found})
    if missing:
        raise MissingExtension(
            f"the catalog's database lacks the PostgreSQL extension(s) {', '.join(missing)}:"
            " a superuser creates them (CREATE EXTENSION …, as infra/postgres/roles.sql does),"
            " then `python -m docuvault.catalog migrate`"
        )


@asynccontextmanager
async def running(
    settings: CatalogSettings, deny_list: DenyList | None = None
) -> AsyncIterator[Catalog]:
    async with AsyncExitStack() as stack:
        blobs = await stack.enter_async_context(open_blobstore(settings))
        pool = await db.create_pool(settings.database_url.get_secret_value(), min_size=0)
        stack.push_async_callback(pool.close)
        await require_extensions(pool)
        documents = PostgresCatalog(pool)
        revocations = PostgresRevocations(pool)
        deny = deny_list if deny_list is not None else DenyList()
        await stack.enter_async_context(kept_fresh(revocations, deny))
        broker = Broker.from_settings(settings, SERVICE)
        broker.start()
        stack.push_async_callback(broker.close)
        relay = OutboxRelay(pool, broker)
        relay.start()
        stack.push_async_callback(relay.stop)
        project = functools.partial(handlers.on_event, projections=documents, blobs=blobs)
        queue = broker.topology.queue(handlers.CONSUMER)
        consumers = ConsumerGroup(
            broker,
            {queue.name: dict.fromkeys(queue.bindings, project)},
            prefetch=settings.prefetch,
        )
        consumers.start()
        stack.push_async_callback(consumers.stop)
        checks = {"postgres": documents.check, "s3": blobs.check, "rabbitmq": broker.check}
        yield Catalog(
            settings,
            documents,
            PostgresTopics(pool),
            blobs,
            checks,
            PostgresAudit(pool),
            revocations,
            deny,
            PostgresCommands(pool),
        )
