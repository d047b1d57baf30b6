"""The catalog's event handlers: every consumed event is projected into the read model."""

from __future__ import annotations

import logging
from typing import Protocol

from docuvault.catalog.search import TEXT_CAP
from docuvault.contracts import CloudEvent, EventData
from docuvault.contracts.events import TextExtracted
from docuvault.runtime.blobstore import BlobNotFound, BlobStore

log = logging.getLogger("docuvault.catalog")
#: the inbox consumer of every projection (the catalog's queue has the same name); the catalog's
#: own events and a rebuild's replay are recorded under it too
CONSUMER = "catalog.projections"


class Projections(Protocol):
    async def project(
        self, consumer: str, event: CloudEvent[EventData], search_text: str | None = None
    ) -> bool: ...


async def on_event(
    event: CloudEvent[EventData], *, projections: Projections, blobs: BlobStore
) -> None:
    """Apply once: the inbox makes a redelivered event a no-op."""
    search_text = None
    if isinstance(event.data, TextExtracted):
        search_text = await text_for_search(blobs, event.data.text_object_key)
    if not await projections.project(CONSUMER, event, search_text):
        log.info("duplicate %s ignored", event.type)


async def text_for_search(blobs: BlobStore, key: str) -> str | None:
    """The beginning of the extracted text, up to the search cap (UTF-8: ≤ 4 bytes a char)."""
    try:
        head = await blobs.get(key, max_bytes=TEXT_CAP * 4)
    except BlobNotFound:
        log.warning("extracted text %s is gone; the document is indexed without it", key)
        return None
    return head.decode("utf-8", errors="ignore")[:TEXT_CAP]
