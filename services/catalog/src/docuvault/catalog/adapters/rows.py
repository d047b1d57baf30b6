"""Document ⇄ database row."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg

from docuvault.catalog.domain import Document, Failure, ScoredTopic
from docuvault.contracts.events import DocumentUploaded, TextExtracted

COLUMNS = (
    "document_id",
    "owner_id",
    "uploaded",
    "uploaded_at",
    "generation",
    "extract_generation",
    "extract_state",
    "extract_time",
    "text_extracted",
    "extract_failure",
    "classify_generation",
    "classify_state",
    "classify_time",
    "classifier_topics",
    "suggestions",
    "classify_failure",
    "classified_by",
    "topics_generation",
    "topics_time",
    "manual_topic_ids",
    "manual_version",
    "deleted_at",
    "updated_at",
    "filename",
    "content_type",
    "size_bytes",
    "sha256",
    "duplicate_of",
    "status",
    "page_count",
    "language",
    "topic_ids",
)


def _topics(raw: str) -> tuple[ScoredTopic, ...]:
    return tuple(
        ScoredTopic(uuid.UUID(t["topic_id"]), t["name"], t["confidence"]) for t in json.loads(raw)
    )


def _failure(raw: str | None) -> Failure | None:
    return Failure(**json.loads(raw)) if raw else None


def from_row(row: asyncpg.Record) -> Document:
    return Document(
        document_id=row["document_id"],
        owner_id=row["owner_id"],
        uploaded=DocumentUploaded.model_validate_json(row["uploaded"]) if row["uploaded"] else None,
        uploaded_at=row["uploaded_at"],
        generation=row["generation"],
        extract_generation=row["extract_generation"],
        extract_state=row["extract_state"],
        extract_time=row["extract_time"],
        text=TextExtracted.model_validate_json(row["text_extracted"])
        if row["text_extracted"]
        else None,
        extract_failure=_failure(row["extract_failure"]),
        classify_generation=row["classify_generation"],
        classify_state=row["classify_state"],
        classify_time=row["classify_time"],
        classifier_topics=_topics(row["classifier_topics"]),
        suggestions=_topics(row["suggestions"]),
        classify_failure=_failure(row["classify_failure"]),
        classified_by=row["classified_by"],
        topics_generation=row["topics_generation"],
        topics_time=row["topics_time"],
        manual_topic_ids=tuple(row["manual_topic_ids"])
        if row["manual_topic_ids"] is not None
        else None,
        manual_version=row["manual_version"],
        deleted_at=row["deleted_at"],
        updated_at=row["updated_at"],
    )


def _dump_topics(topics: tuple[ScoredTopic, ...]) -> str:
    return json.dumps(
        [{"topic_id": str(t.topic_id), "name": t.name, "confidence": t.confidence} for t in topics]
    )


def _dump_failure(failure: Failure | None) -> str | None:
    return json.dumps(vars(failure)) if failure else None


def to_values(doc: Document) -> list[Any]:
    """Values in COLUMNS order: the document's fields, then the derived columns."""
    up, text = doc.uploaded, doc.text
    return [
        doc.document_id,
        doc.owner_id,
        up.model_dump_json() if up else None,
        doc.uploaded_at,
        doc.generation,
        doc.extract_generation,
        doc.extract_state,
        doc.extract_time,
        text.model_dump_json() if text else None,
        _dump_failure(doc.extract_failure),
        doc.classify_generation,
        doc.classify_state,
        doc.classify_time,
        _dump_topics(doc.classifier_topics),
        _dump_topics(doc.suggestions),
        _dump_failure(doc.classify_failure),
        doc.classified_by,
        doc.topics_generation,
        doc.topics_time,
        list(doc.manual_topic_ids) if doc.manual_topic_ids is not None else None,
        doc.manual_version,
        doc.deleted_at,
        doc.updated_at,
        up.filename if up else None,
        up.content_type if up else None,
        up.size_bytes if up else None,
        up.sha256 if up else None,
        up.duplicate_of if up else None,
        doc.status,
        text.page_count if text else None,
        text.language if text else None,
        list(doc.topic_ids),
    ]


def upsert_sql() -> str:
    """Insert or replace the whole row: every column is a function of the events applied."""
    placeholders = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in COLUMNS if c != "document_id")
    return (
        f"INSERT INTO documents ({', '.join(COLUMNS)}) VALUES ({placeholders})"
        f" ON CONFLICT (document_id) DO UPDATE SET {updates}"
    )
