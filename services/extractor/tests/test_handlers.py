"""Handlers with in-memory ports: keys, event fields, failures, the stage filter, redelivery."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    DocumentMetadata,
    DocumentUploaded,
    ReprocessRequested,
)
from docuvault.extractor import handlers
from docuvault.extractor.extraction import assemble
from docuvault.extractor.extraction.model import Failure, Outcome, Page
from docuvault.runtime.events import fresh
from docuvault.runtime.testing import InMemoryBlobStore, RecordingPublisher

OWNER = uuid.UUID("6f1c2e9a-3b7d-4e0f-8a2b-1c3d4e5f6a7b")
DOC = uuid.UUID("0b7d4c1e-5a1f-4c55-9d55-5c1b8f3b6a01")
ORIGINAL = f"{OWNER}/{DOC}/original"
TEXT = "Erste Seite mit genug deutschem Text, damit die Sprache erkannt werden kann."


class FakeExtract:
    """The extract port: records what it was given and returns a fixed outcome."""

    def __init__(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.calls: list[tuple[bytes, str]] = []

    async def __call__(self, path: Path, content_type: str) -> Outcome:
        self.calls.append((await asyncio.to_thread(path.read_bytes), content_type))
        return self.outcome


def _uploaded(**changes: Any) -> CloudEvent[DocumentUploaded]:
    data = DocumentUploaded(
        document_id=DOC,
        owner_id=OWNER,
        generation=1,
        filename="scan.pdf",
        content_type="application/pdf",
        size_bytes=4,
        sha256="ab" * 32,
        object_key=ORIGINAL,
        auto_classify=False,
    ).model_copy(update=changes)
    return fresh(data, source="ingest")


def _reprocess(stage: str) -> CloudEvent[ReprocessRequested]:
    data = ReprocessRequested(
        document_id=DOC,
        owner_id=OWNER,
        generation=3,
        stage=stage,
        object_key=ORIGINAL,
        content_type="application/pdf",
        auto_classify=True,
    )
    return fresh(data, source="catalog")


@pytest.fixture
def blobs() -> InMemoryBlobStore:
    store = InMemoryBlobStore()
    store.objects[ORIGINAL] = (b"%PDF", "application/pdf")
    return store


def _result() -> Outcome:
    pages = [Page(1, TEXT), Page(2, "Zweite Seite, gescannt.", "ocr", 0.91)]
    metadata = DocumentMetadata(title="Rechnung", author="Amt")
    return assemble(2, metadata, pages)


async def test_uploaded_document_text_is_stored_and_announced(blobs: InMemoryBlobStore) -> None:
    publish, extract = RecordingPublisher(), FakeExtract(_result())
    event = _uploaded()
    await handlers.on_document_uploaded(event, blobs=blobs, publish=publish, extract=extract)
    assert extract.calls == [(b"%PDF", "application/pdf")]
    prefix = f"{OWNER}/{DOC}/extracted/1/"
    text, text_type = blobs.objects[prefix + "text.txt"]
    assert text.decode() == TEXT + "\n\nZweite Seite, gescannt."
    assert text_type.startswith("text/plain")
    pages = json.loads(blobs.objects[prefix + "pages.json"][0])
    assert pages[1] == {
        "page": 2,
        "text": "Zweite Seite, gescannt.",
        "source": "ocr",
        "ocr_confidence": 0.91,
    }
    (announced,) = publish.of_type("document.text_extracted.v1")
    data = announced.data
    assert announced.subject == str(DOC)
    assert announced.source == "/docuvault/extractor"
    assert (data.document_id, data.owner_id, data.generation) == (DOC, OWNER, 1)
    assert data.text_object_key == prefix + "text.txt"
    assert data.pages_object_key == prefix + "pages.json"
    assert data.text_sha256 == hashlib.sha256(text).hexdigest()
    assert data.char_count == len(text.decode())
    assert data.page_count == 2
    assert data.ocr_pages == [2]
    assert data.language == "de"
    assert data.auto_classify is False  # copied from the cause
    assert data.metadata.title == "Rechnung"
    assert data.extractor_version
    assert data.text_preview == " ".join(text.decode().split())


async def test_a_failure_is_announced_with_its_reason(blobs: InMemoryBlobStore) -> None:
    publish = RecordingPublisher()
    extract = FakeExtract(Failure("encrypted", "the PDF needs a password"))
    await handlers.on_document_uploaded(_uploaded(), blobs=blobs, publish=publish, extract=extract)
    (failed,) = publish.events
    assert failed.type == "io.docuvault.document.extraction_failed.v1"
    assert (failed.data.reason, failed.data.detail) == ("encrypted", "the PDF needs a password")
    assert list(blobs.objects) == [ORIGINAL]  # nothing written


async def test_a_missing_original_fails_without_calling_the_extractor() -> None:
    publish, extract = RecordingPublisher(), FakeExtract(_result())
    await handlers.on_document_uploaded(
        _uploaded(), blobs=InMemoryBlobStore(), publish=publish, extract=extract
    )
    assert extract.calls == []
    assert publish.events[0].data.reason == "internal"
    assert "missing" in publish.events[0].data.detail


async def test_a_redelivered_upload_yields_the_same_event(blobs: InMemoryBlobStore) -> None:
    publish, event = RecordingPublisher(), _uploaded()
    for _ in range(2):
        await handlers.on_document_uploaded(
            event, blobs=blobs, publish=publish, extract=FakeExtract(_result())
        )
    first, second = publish.events
    assert first.id == second.id
    assert first.data == second.data
    assert len(blobs.objects) == 3


async def test_reprocess_extract_writes_the_new_generation(blobs: InMemoryBlobStore) -> None:
    publish, extract = RecordingPublisher(), FakeExtract(_result())
    await handlers.on_reprocess_requested(
        _reprocess("extract"), blobs=blobs, publish=publish, extract=extract
    )
    (announced,) = publish.events
    assert announced.data.generation == 3
    assert announced.data.auto_classify is True
    assert f"{OWNER}/{DOC}/extracted/3/text.txt" in blobs.objects


async def test_reprocess_of_another_stage_is_ignored(blobs: InMemoryBlobStore) -> None:
    publish, extract = RecordingPublisher(), FakeExtract(_result())
    await handlers.on_reprocess_requested(
        _reprocess("classify"), blobs=blobs, publish=publish, extract=extract
    )
    assert publish.events == []
    assert extract.calls == []
    assert list(blobs.objects) == [ORIGINAL]


async def test_reprocess_extract_follows_the_same_rules(blobs: InMemoryBlobStore) -> None:
    """A redelivered request yields the same event and objects; a failure is announced with
    the request's generation and writes nothing."""
    publish, request = RecordingPublisher(), _reprocess("extract")
    for _ in range(2):
        await handlers.on_reprocess_requested(
            request, blobs=blobs, publish=publish, extract=FakeExtract(_result())
        )
    first, second = publish.events
    assert (first.id, first.data) == (second.id, second.data)
    assert len(blobs.objects) == 3
    failing = RecordingPublisher()
    store = InMemoryBlobStore()
    store.objects[ORIGINAL] = (b"%PDF", "application/pdf")
    await handlers.on_reprocess_requested(
        _reprocess("extract"),
        blobs=store,
        publish=failing,
        extract=FakeExtract(Failure("corrupt", "damaged")),
    )
    (failed,) = failing.events
    assert failed.type == "io.docuvault.document.extraction_failed.v1"
    assert (failed.data.generation, failed.data.reason) == (3, "corrupt")
    assert list(store.objects) == [ORIGINAL]
