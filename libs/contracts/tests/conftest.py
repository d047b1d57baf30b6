"""A valid instance of every event type, shared by the contract tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from docuvault.contracts import events as ev
from docuvault.contracts.envelope import EventData

DOC = uuid.UUID("0b7d4c1e-5a1f-4c55-9d55-5c1b8f3b6a01")
OWNER = uuid.UUID("6f1c2e9a-3b7d-4e0f-8a2b-1c3d4e5f6a7b")
TOPIC = uuid.UUID("9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d")
SHA = "ab" * 32
WHEN = datetime(2024, 5, 17, 9, 30, 12, 345000, tzinfo=UTC)


def _samples() -> list[EventData]:
    doc: dict[str, Any] = {"document_id": DOC, "owner_id": OWNER, "generation": 2}
    score = ev.TopicScore(topic_id=TOPIC, name="Invoices", confidence=0.87)
    return [
        ev.DocumentUploaded(
            **doc,
            filename="Rechnung März.pdf",
            content_type="application/pdf",
            size_bytes=48213,
            sha256=SHA,
            object_key=f"{OWNER}/{DOC}/original",
            duplicate_of=uuid.UUID(int=7),
        ),
        ev.TextExtracted(
            **doc,
            page_count=3,
            char_count=5120,
            language="de",
            text_object_key=f"{OWNER}/{DOC}/text.txt",
            pages_object_key=f"{OWNER}/{DOC}/pages",
            text_sha256=SHA,
            text_preview="Rechnung Nr. 42",
            ocr_pages=[2, 3],
            metadata=ev.DocumentMetadata(title="Rechnung", created=WHEN),
            extractor_version="1.0.0",
        ),
        ev.ExtractionFailed(**doc, reason="encrypted", detail="PDF needs a password"),
        ev.Classified(
            **doc,
            topics=[score],
            suggestions=[score.model_copy(update={"confidence": 0.4})],
            suggested_new_topics=["Taxes"],
            provider="ollama",
            model="llama3",
            text_sha256=SHA,
        ),
        ev.ClassificationFailed(**doc, reason="no_text", detail="empty", provider="ollama"),
        ev.ClassificationRequested(**doc, provider=None, text_object_key="k", text_sha256=SHA),
        ev.ReprocessRequested(
            **doc, stage="extract", object_key="o", content_type="application/pdf"
        ),
        ev.TopicsAssigned(**doc, topic_ids=[TOPIC], assigned_by="alice", version=3),
        ev.DocumentDeleted(**doc),
        ev.TopicUpserted(
            owner_id=OWNER,
            version=1,
            topic_id=TOPIC,
            name="Invoices",
            color="#ff8800",
            keywords=["invoice"],
            match=ev.TopicMatch(algorithm="any", pattern="invoice bill"),
        ),
        ev.TopicDeleted(owner_id=OWNER, version=2, topic_id=TOPIC, name="Invoices"),
        ev.ClassificationSettingsChanged(
            owner_id=OWNER, version=4, provider="openai", apply_threshold=0.7
        ),
        ev.TokenRevoked(jti="t-123", owner_id=OWNER, expires_at=WHEN),
        ev.AuditRecorded(
            actor=ev.AuditActor(owner_id=OWNER, jti="t-123"),
            action="document.upload",
            target=str(DOC),
            remote_address="192.0.2.1",
            result="accepted",
            time=WHEN,
        ),
        ev.CatalogRebuildMarker(rebuild_id=DOC, sequence=2),
    ]


@pytest.fixture(scope="session")
def samples() -> dict[type[EventData], EventData]:
    """Event class → a valid instance of it; one per type in EVENT_TYPES."""
    return {type(sample): sample for sample in _samples()}
