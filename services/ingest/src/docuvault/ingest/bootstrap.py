"""The only place that builds ingest's real adapters and wires them to handlers."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from docuvault.contracts.events import DocumentDeleted, TokenRevoked
from docuvault.ingest import handlers
from docuvault.ingest.adapters.ledger import PostgresLedger, PostgresUploadIndex
from docuvault.ingest.adapters.revocations import PostgresRevocations
from docuvault.ingest.admission import Admission
from docuvault.ingest.config import IngestSettings
from docuvault.ingest.limits import OwnerLimiter
from docuvault.ingest.sweeper import Sweeper
from docuvault.runtime import db
from docuvault.runtime.auth import DenyList
from docuvault.runtime.blobstore import BlobStore, open_blobstore
from docuvault.runtime.bus import Broker
from docuvault.runtime.bus.group import ConsumerGroup
from docuvault.runtime.health import ReadinessChecks
from docuvault.runtime.outbox import OutboxRelay
from docuvault.runtime.revocations import kept_fresh

SERVICE = "ingest"
MIGRATIONS = {"outbox": db.OUTBOX_MIGRATIONS, "ingest": Path(__file__).parent / "migrations"}


@dataclass(frozen=True)
class Ingest:
    settings: IngestSettings
    blobs: BlobStore
    ledger: PostgresLedger
    checks: ReadinessChecks
    limiter: OwnerLimiter
    #: holds new uploads while the pipeline is backed up
    admission: Admission
    #: revoked tokens: the API refuses them (filled from ingest's database)
    deny_list: DenyList


@asynccontextmanager
async def running(
    settings: IngestSettings, deny_list: DenyList | None = None
) -> AsyncIterator[Ingest]:
    async with AsyncExitStack() as stack:
        blobs = await stack.enter_async_context(open_blobstore(settings))
        pool = await db.create_pool(settings.database_url.get_secret_value(), min_size=0)
        stack.push_async_callback(pool.close)
        ledger = PostgresLedger(pool)
        revocations = PostgresRevocations(pool)
        deny = deny_list if deny_list is not None else DenyList()
        await stack.enter_async_context(kept_fresh(revocations, deny))
        broker = Broker.from_settings(settings, SERVICE)
        broker.start()
        stack.push_async_callback(broker.close)
        relay = OutboxRelay(pool, broker)
        relay.start()
        stack.push_async_callback(relay.stop)
        subscriptions = {
            "ingest.purge": {
                DocumentDeleted.event_name: functools.partial(
                    handlers.on_document_deleted, blobs=blobs, ledger=ledger
                )
            },
            "ingest.tokens": {
                TokenRevoked.event_name: functools.partial(
                    handlers.on_token_revoked, revocations=revocations, deny_list=deny
                )
            },
        }
        consumers = ConsumerGroup(broker, subscriptions, prefetch=settings.prefetch)
        consumers.start()
        stack.push_async_callback(consumers.stop)
        if settings.sweep_interval_s > 0:
            sweeper = Sweeper(
                blobs,
                PostgresUploadIndex(pool),
                interval_s=settings.sweep_interval_s,
                grace_s=settings.sweep_grace_s,
            )
            sweeper.start()
            stack.push_async_callback(sweeper.stop)
        admission = Admission(
            broker,
            settings.watched_queues,
            limit=settings.backlog_limit,
            max_wait_s=settings.backlog_wait_s,
        )
        admission.start()
        stack.push_async_callback(admission.stop)
        checks = {"postgres": ledger.check, "s3": blobs.check, "rabbitmq": broker.check}
        yield Ingest(
            settings,
            blobs,
            ledger,
            checks,
            OwnerLimiter(settings.max_concurrent_uploads_per_owner),
            admission,
            deny,
        )
