"""The document read model as pure logic: how each event changes a document, in any order.

Rules (DESIGN §4): an event for an unknown document creates it; a stage result applies only if
its generation is at least the one stored for that stage (at an equal generation the later
event wins, so two results of one generation give the same document in either order); a
deleted document is a tombstone that ignores later events; the classifier's topics are kept
apart from manual ones, which win; a manual assignment applies only if its ``version`` is
higher than the stored one; a deleted topic disappears from every document and is never
applied again.

Everything stored is a function of the events, never of when they were applied: ``updated_at``
is the time of the latest event of the document, so replaying the history (``rebuild``) gives
the same rows as the live catalog, whatever order the events came in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from docuvault.contracts import CloudEvent, EventData
from docuvault.contracts.events import (
    ClassificationFailed,
    Classified,
    DocumentDeleted,
    DocumentUploaded,
    ExtractionFailed,
    TextExtracted,
    TopicsAssigned,
)

Status = Literal[
    "received", "extracted", "classified", "extraction_failed", "classification_failed"
]
StageState = Literal["ok", "failed"] | None
NO_TOPICS: frozenset[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class Failure:
    stage: Literal["extract", "classify"]
    reason: str
    detail: str


@dataclass(frozen=True)
class ScoredTopic:
    topic_id: uuid.UUID
    name: str
    confidence: float


@dataclass(frozen=True)
class Document:
    document_id: uuid.UUID
    owner_id: uuid.UUID
    uploaded: DocumentUploaded | None = None
    uploaded_at: datetime | None = None
    generation: int = 1
    extract_generation: int = 0
    extract_state: StageState = None
    #: time of the event that set the extract stage (breaks ties within one generation)
    extract_time: datetime | None = None
    text: TextExtracted | None = None
    extract_failure: Failure | None = None
    classify_generation: int = 0
    classify_state: StageState = None
    classify_time: datetime | None = None
    classify_failure: Failure | None = None
    #: the latest successful classification, kept when a later one fails; it has its own
    #: generation and time, so the topics do not depend on the order results came in
    classifier_topics: tuple[ScoredTopic, ...] = ()
    suggestions: tuple[ScoredTopic, ...] = ()
    classified_by: str | None = None
    topics_generation: int = 0
    topics_time: datetime | None = None
    #: set by a person (``PUT …/topics``); when set, it wins over the classifier's topics
    manual_topic_ids: tuple[uuid.UUID, ...] | None = None
    #: version of the last manual assignment applied (``document.topics_assigned.v1``)
    manual_version: int = 0
    #: set by ``document.deleted.v1``: the row is a tombstone from then on
    deleted_at: datetime | None = None
    #: time of the latest event of this document
    updated_at: datetime | None = None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def topic_ids(self) -> tuple[uuid.UUID, ...]:
        if self.manual_topic_ids is not None:
            return self.manual_topic_ids
        return tuple(t.topic_id for t in self.classifier_topics)

    @property
    def status(self) -> Status:
        if self.extract_state == "failed":
            return "extraction_failed"
        current = self.classify_generation >= self.extract_generation
        if self.classify_state == "failed" and current:
            return "classification_failed"
        if self.classify_state == "ok" and current:
            return "classified"
        if self.extract_state == "ok":
            return "extracted"
        return "received"

    @property
    def missing_text(self) -> str:
        """Why ``/text`` has nothing to give, and what to do: said to the person asking."""
        if self.status == "received":
            return (
                "the document's text is not extracted yet (status received); ask again once its "
                "status is extracted or classified"
            )
        failure = self.failure
        if failure is not None and failure.stage == "extract":
            return (
                f"the document's text could not be extracted ({failure.reason}: {failure.detail})"
            )
        # events of a document arrive in any order: the classifier may be done while the
        # catalog still retries reading the text (the object store was unreachable)
        return (
            f"the document's text has not reached the catalog yet (status {self.status}); "
            "it is being retried, ask again in a minute"
        )

    @property
    def failure(self) -> Failure | None:
        if self.status == "extraction_failed":
            return self.extract_failure
        if self.status == "classification_failed":
            return self.classify_failure
        return None


def new_document(event: CloudEvent[Any]) -> Document:
    data = event.data
    return Document(document_id=data.document_id, owner_id=data.owner_id)


def topics_named(data: EventData) -> frozenset[uuid.UUID]:
    """The topic ids an event would put on a document (to look up which are deleted)."""
    match data:
        case Classified():
            return frozenset(t.topic_id for t in (*data.topics, *data.suggestions))
        case TopicsAssigned():
            return frozenset(data.topic_ids)
    return NO_TOPICS


def _later(stored: datetime | None, time: datetime) -> datetime:
    return time if stored is None or time > stored else stored


def _wins(generation: int, time: datetime, stored_generation: int, stored: datetime | None) -> bool:
    """Whether a stage result replaces the stored one: newer generation, or same and later."""
    if generation != stored_generation:
        return generation > stored_generation
    return stored is None or time >= stored


def _scored(topics: list[Any], deleted_topics: frozenset[uuid.UUID]) -> tuple[ScoredTopic, ...]:
    return tuple(
        ScoredTopic(t.topic_id, t.name, t.confidence)
        for t in topics
        if t.topic_id not in deleted_topics
    )


def apply(
    doc: Document,
    event: CloudEvent[EventData],
    *,
    deleted_topics: frozenset[uuid.UUID] = NO_TOPICS,
) -> Document:
    """The document after ``event``; unchanged when the document is deleted.

    ``deleted_topics``: topics of the owner known to be deleted; they never reach the document
    (a deletion strips them from documents that had them already: see ``forget_topic``).
    """
    if doc.deleted:
        return doc
    data = event.data
    if isinstance(data, DocumentDeleted):
        return tombstone(doc, event)
    generation: int = getattr(data, "generation", 1)
    time = event.time
    doc = replace(
        doc,
        generation=max(doc.generation, generation),
        updated_at=_later(doc.updated_at, time),
    )
    match data:
        case DocumentUploaded() if doc.uploaded_at is None or time < doc.uploaded_at:
            # one upload per document; should it be announced twice, the first one counts
            return replace(doc, uploaded=data, uploaded_at=time)
        case TextExtracted() if _wins(generation, time, doc.extract_generation, doc.extract_time):
            return replace(
                doc,
                extract_generation=generation,
                extract_state="ok",
                extract_time=time,
                text=data,
                extract_failure=None,
            )
        case ExtractionFailed() if _wins(
            generation, time, doc.extract_generation, doc.extract_time
        ):
            failure = Failure("extract", data.reason, data.detail)
            return replace(
                doc,
                extract_generation=generation,
                extract_state="failed",
                extract_time=time,
                text=None,
                extract_failure=failure,
            )
        case Classified():
            if _wins(generation, time, doc.topics_generation, doc.topics_time):
                doc = replace(
                    doc,
                    classifier_topics=_scored(data.topics, deleted_topics),
                    suggestions=_scored(data.suggestions, deleted_topics),
                    classified_by=f"{data.provider}/{data.model}",
                    topics_generation=generation,
                    topics_time=time,
                )
            if _wins(generation, time, doc.classify_generation, doc.classify_time):
                doc = replace(
                    doc,
                    classify_generation=generation,
                    classify_state="ok",
                    classify_time=time,
                    classify_failure=None,
                )
            return doc
        case ClassificationFailed() if _wins(
            generation, time, doc.classify_generation, doc.classify_time
        ):
            failure = Failure("classify", data.reason, data.detail)
            return replace(
                doc,
                classify_generation=generation,
                classify_state="failed",
                classify_time=time,
                classify_failure=failure,
            )
        case TopicsAssigned() if data.version > doc.manual_version:
            kept = tuple(t for t in dict.fromkeys(data.topic_ids) if t not in deleted_topics)
            return replace(doc, manual_topic_ids=kept, manual_version=data.version)
    # classification_requested / reprocess_requested: a new generation (above); stale results
    return doc


def tombstone(doc: Document, event: CloudEvent[Any]) -> Document:
    """What is kept of a deleted document: who, which generation, and when.

    Nothing of its content stays (the objects are purged by ingest), and the tombstone depends
    on the deletion event only, so it is the same whatever the document had received before.
    """
    if doc.deleted:
        return doc
    return Document(
        document_id=doc.document_id,
        owner_id=doc.owner_id,
        generation=event.data.generation,
        deleted_at=event.time,
        updated_at=event.time,
    )


def forget_topic(doc: Document, topic_id: uuid.UUID) -> Document:
    """The document once topic ``topic_id`` is deleted: gone from every list of topics.

    ``updated_at`` stays: it is the time of the document's own latest event, so the result does
    not depend on whether the document was classified before or after the deletion.
    """
    if doc.deleted:
        return doc
    manual = doc.manual_topic_ids
    return replace(
        doc,
        classifier_topics=tuple(t for t in doc.classifier_topics if t.topic_id != topic_id),
        suggestions=tuple(t for t in doc.suggestions if t.topic_id != topic_id),
        manual_topic_ids=tuple(t for t in manual if t != topic_id) if manual is not None else None,
    )
