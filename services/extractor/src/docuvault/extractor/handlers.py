"""The extractor's event handlers: plain functions; their collaborators are keyword arguments.

Idempotent: the objects are written under keys fixed by the document and generation, and the
follow-up event's id is derived from the cause, so a redelivered message yields the same event.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    DocumentUploaded,
    ExtractionFailed,
    ReprocessRequested,
    TextExtracted,
)
from docuvault.extractor.extraction.model import Failure, Outcome
from docuvault.extractor.service import Extract
from docuvault.runtime.blobstore import BlobNotFound, BlobStore
from docuvault.runtime.bus import Publish
from docuvault.runtime.events import follow_up

log = logging.getLogger("docuvault.extractor")
SOURCE = "extractor"

try:
    EXTRACTOR_VERSION = version("docuvault-extractor")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    EXTRACTOR_VERSION = "0.0.0"


def extracted_prefix(owner_id: uuid.UUID, document_id: uuid.UUID, generation: int) -> str:
    return f"{owner_id}/{document_id}/extracted/{generation}/"


async def on_document_uploaded(
    event: CloudEvent[DocumentUploaded], *, blobs: BlobStore, publish: Publish, extract: Extract
) -> None:
    data = event.data
    await _extract_and_announce(
        event,
        object_key=data.object_key,
        content_type=data.content_type,
        auto_classify=data.auto_classify,
        blobs=blobs,
        publish=publish,
        extract=extract,
    )


async def on_reprocess_requested(
    event: CloudEvent[ReprocessRequested], *, blobs: BlobStore, publish: Publish, extract: Extract
) -> None:
    """Extraction again, for the request's generation; other stages are not ours."""
    data = event.data
    if data.stage != "extract":
        return
    await _extract_and_announce(
        event,
        object_key=data.object_key,
        content_type=data.content_type,
        auto_classify=data.auto_classify,
        blobs=blobs,
        publish=publish,
        extract=extract,
    )


async def _extract_and_announce(
    event: CloudEvent[Any],
    *,
    object_key: str,
    content_type: str,
    auto_classify: bool,
    blobs: BlobStore,
    publish: Publish,
    extract: Extract,
) -> None:
    data = event.data
    ids = {
        "document_id": data.document_id,
        "owner_id": data.owner_id,
        "generation": data.generation,
    }
    with tempfile.TemporaryDirectory(prefix="docuvault-extract-") as folder:
        original = Path(folder) / "original"
        try:
            await _download(blobs, object_key, original)
        except BlobNotFound:
            outcome: Outcome = Failure(
                "internal",
                "the original file is missing from the object store; upload the document again",
            )
        else:
            outcome = await extract(original, content_type)
    if isinstance(outcome, Failure):
        failed = ExtractionFailed(**ids, reason=outcome.reason, detail=outcome.detail)
        await publish(follow_up(failed, cause=event, source=SOURCE))
        log.info("extraction failed", extra={"reason": outcome.reason, "detail": outcome.detail})
        return
    prefix = extracted_prefix(data.owner_id, data.document_id, data.generation)
    text_key, pages_key = prefix + "text.txt", prefix + "pages.json"
    await _put_both(
        blobs,
        (text_key, outcome.text_utf8, "text/plain; charset=utf-8"),
        (pages_key, outcome.pages_json, "application/json"),
    )
    extracted = TextExtracted(
        **ids,
        auto_classify=auto_classify,
        page_count=outcome.page_count,
        char_count=outcome.char_count,
        language=outcome.language,
        text_object_key=text_key,
        pages_object_key=pages_key,
        text_sha256=outcome.text_sha256,
        text_preview=outcome.preview,
        ocr_pages=list(outcome.ocr_pages),
        metadata=outcome.metadata,
        extractor_version=EXTRACTOR_VERSION,
    )
    await publish(follow_up(extracted, cause=event, source=SOURCE))
    log.info(
        "text extracted",
        extra={
            "pages": outcome.page_count,
            "chars": outcome.char_count,
            "ocr_pages": len(outcome.ocr_pages),
        },
    )


async def _put_both(blobs: BlobStore, *objects: tuple[str, bytes, str]) -> None:
    """Store the objects at the same time; all are stored before the event is published."""
    try:
        async with asyncio.TaskGroup() as writes:
            for key, data, content_type in objects:
                writes.create_task(blobs.put(key, data, content_type=content_type))
    except BaseExceptionGroup as errors:
        raise errors.exceptions[0] from None


#: chunks up to this size are written to the local file on the event loop (a write to the page
#: cache, far shorter than a thread hop); bigger ones in a thread
INLINE_WRITE_BYTES = 256 * 1024


async def _download(blobs: BlobStore, key: str, path: Path) -> None:
    """Stream the original to a local file (workers open it by path; memory stays flat)."""
    with path.open("wb") as file:
        async for chunk in blobs.stream(key):
            if len(chunk) <= INLINE_WRITE_BYTES:
                file.write(chunk)
            else:
                await asyncio.to_thread(file.write, chunk)
