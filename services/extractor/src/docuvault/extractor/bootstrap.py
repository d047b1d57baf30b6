"""The only place that builds the extractor's real adapters and wires them to handlers."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from docuvault.contracts.events import DocumentUploaded, ReprocessRequested
from docuvault.extractor import handlers
from docuvault.extractor.config import ExtractorSettings
from docuvault.extractor.extraction import ocr
from docuvault.extractor.pool import WorkerPool
from docuvault.extractor.service import Extractor
from docuvault.runtime.blobstore import open_blobstore
from docuvault.runtime.bus import Broker
from docuvault.runtime.bus.group import ConsumerGroup
from docuvault.runtime.health import ReadinessChecks

SERVICE = "extractor"
QUEUE = "extractor.documents"


@dataclass(frozen=True)
class Running:
    settings: ExtractorSettings
    extractor: Extractor
    checks: ReadinessChecks


@asynccontextmanager
async def running(settings: ExtractorSettings) -> AsyncIterator[Running]:
    async with AsyncExitStack() as stack:
        pool = WorkerPool(settings.extractor_workers)
        stack.push_async_callback(pool.close)
        extractor = Extractor(pool, settings.limits(), timeout_s=settings.extractor_timeout_s)
        blobs = await stack.enter_async_context(open_blobstore(settings))
        broker = Broker.from_settings(settings, SERVICE)
        broker.start()
        stack.push_async_callback(broker.close)
        subscriptions = {
            QUEUE: {
                DocumentUploaded.event_name: functools.partial(
                    handlers.on_document_uploaded,
                    blobs=blobs,
                    publish=broker.publish,
                    extract=extractor,
                ),
                ReprocessRequested.event_name: functools.partial(
                    handlers.on_reprocess_requested,
                    blobs=blobs,
                    publish=broker.publish,
                    extract=extractor,
                ),
            }
        }
        consumers = ConsumerGroup(broker, subscriptions, prefetch=settings.consumer_prefetch)
        consumers.start()
        stack.push_async_callback(consumers.stop)

        async def ocr_ready() -> None:
            await asyncio.to_thread(ocr.check_languages, settings.ocr_languages)

        checks = {
            "rabbitmq": broker.check,
            "s3": blobs.check,
            "workers": pool.check,
            "ocr": ocr_ready,
        }
        yield Running(settings, extractor, checks)
