"""Version 1 event payloads (DESIGN §3). Additive changes only: new fields must be optional."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from docuvault.contracts.envelope import EventData

Sha256 = Field(pattern=r"^[0-9a-f]{64}$")


class _Part(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class DocumentEvent(EventData):
    """Every document event names the document, its owner and the generation it belongs to."""

    document_id: uuid.UUID
    owner_id: uuid.UUID
    generation: int = Field(ge=1, description="1 at upload; each reprocess request increments it")

    def subject(self) -> str:
        return str(self.document_id)

    def owner(self) -> uuid.UUID:
        return self.owner_id


class DocumentUploaded(DocumentEvent):
    event_name: ClassVar[str] = "document.uploaded.v1"
    producer: ClassVar[str] = "ingest"
    filename: str = Field(description="Display name only, cleaned; never used in a key or path")
    content_type: str = Field(description="Detected from the bytes, not from the client")
    size_bytes: int = Field(ge=0)
    sha256: str = Sha256
    object_key: str
    auto_classify: bool = True
    duplicate_of: uuid.UUID | None = None


class DocumentMetadata(_Part):
    title: str | None = None
    author: str | None = None
    subject: str | None = None
    keywords: str | None = None
    created: datetime | None = None
    producer: str | None = None


class TextExtracted(DocumentEvent):
    event_name: ClassVar[str] = "document.text_extracted.v1"
    producer: ClassVar[str] = "extractor"
    auto_classify: bool = True
    page_count: int = Field(ge=0)
    char_count: int = Field(ge=0)
    language: str | None = Field(default=None, description="ISO 639-1 code, or null")
    text_object_key: str
    pages_object_key: str
    text_sha256: str = Sha256
    text_preview: str = Field(max_length=1000)
    ocr_pages: list[int] = Field(default_factory=list, description="1-based pages read by OCR")
    metadata: DocumentMetadata = Field(default_factory=DocumentMetadata)
    extractor_version: str


ExtractionFailureReason = Literal[
    "unsupported_type",
    "encrypted",
    "corrupt",
    "too_large",
    "timeout",
    "ocr_unavailable",
    "internal",
]


class ExtractionFailed(DocumentEvent):
    event_name: ClassVar[str] = "document.extraction_failed.v1"
    producer: ClassVar[str] = "extractor"
    reason: ExtractionFailureReason
    detail: str


class TopicScore(_Part):
    topic_id: uuid.UUID
    name: str
    confidence: float = Field(ge=0.0, le=1.0)


class Classified(DocumentEvent):
    event_name: ClassVar[str] = "document.classified.v1"
    producer: ClassVar[str] = "classifier"
    topics: list[TopicScore] = Field(description="Applied: confidence at or above the threshold")
    suggestions: list[TopicScore] = Field(default_factory=list, description="Below the threshold")
    suggested_new_topics: list[str] = Field(default_factory=list)
    provider: str
    model: str
    text_sha256: str = Sha256


class ClassificationFailed(DocumentEvent):
    event_name: ClassVar[str] = "document.classification_failed.v1"
    producer: ClassVar[str] = "classifier"
    reason: str = Field(
        description="e.g. no_text, provider_unavailable, invalid_response, internal"
    )
    detail: str
    provider: str


class ClassificationRequested(DocumentEvent):
    event_name: ClassVar[str] = "document.classification_requested.v1"
    producer: ClassVar[str] = "catalog"
    provider: str | None = Field(default=None, description="Override of the owner's provider")
    text_object_key: str
    text_sha256: str = Sha256


class ReprocessRequested(DocumentEvent):
    event_name: ClassVar[str] = "document.reprocess_requested.v1"
    producer: ClassVar[str] = "catalog"
    stage: Literal["extract", "classify"]
    object_key: str
    content_type: str
    auto_classify: bool = True
    text_object_key: str | None = None


class TopicsAssigned(DocumentEvent):
    event_name: ClassVar[str] = "document.topics_assigned.v1"
    producer: ClassVar[str] = "catalog"
    topic_ids: list[uuid.UUID]
    assigned_by: str = Field(description="Who confirmed the labels, e.g. the owner's name or jti")
    version: int = Field(ge=1)
    text_object_key: str | None = None
    text_sha256: str | None = None


class DocumentDeleted(DocumentEvent):
    event_name: ClassVar[str] = "document.deleted.v1"
    producer: ClassVar[str] = "catalog"


MatchAlgorithm = Literal["none", "any", "all", "exact", "regex", "fuzzy"]


class TopicMatch(_Part):
    algorithm: MatchAlgorithm = "none"
    pattern: str = ""
    case_sensitive: bool = False


class _OwnedEntityEvent(EventData):
    owner_id: uuid.UUID
    version: int = Field(ge=1, description="Increases with every change; apply only if higher")

    def owner(self) -> uuid.UUID:
        return self.owner_id


class TopicUpserted(_OwnedEntityEvent):
    event_name: ClassVar[str] = "topic.upserted.v1"
    producer: ClassVar[str] = "catalog"
    topic_id: uuid.UUID
    name: str
    description: str = ""
    color: str | None = None
    keywords: list[str] = Field(default_factory=list)
    match: TopicMatch = Field(default_factory=TopicMatch)

    def subject(self) -> str:
        return str(self.topic_id)


class TopicDeleted(_OwnedEntityEvent):
    event_name: ClassVar[str] = "topic.deleted.v1"
    producer: ClassVar[str] = "catalog"
    topic_id: uuid.UUID
    name: str | None = None
    description: str | None = None
    color: str | None = None
    keywords: list[str] = Field(default_factory=list)
    match: TopicMatch | None = None

    def subject(self) -> str:
        return str(self.topic_id)


class ClassificationSettingsChanged(_OwnedEntityEvent):
    event_name: ClassVar[str] = "settings.classification_changed.v1"
    producer: ClassVar[str] = "catalog"
    provider: str
    system_prompt: str | None = None
    apply_threshold: float = Field(ge=0.0, le=1.0)

    def subject(self) -> str:
        return str(self.owner_id)


class TokenRevoked(EventData):
    event_name: ClassVar[str] = "auth.token_revoked.v1"
    producer: ClassVar[str] = "catalog"
    jti: str
    owner_id: uuid.UUID | None = None
    expires_at: AwareDatetime = Field(description="Refuse the token until then; then forget it")

    def subject(self) -> str:
        return self.jti

    def owner(self) -> uuid.UUID:
        return self.owner_id or uuid.UUID(int=0)


class AuditActor(_Part):
    owner_id: uuid.UUID | None = None
    jti: str | None = None


class AuditRecorded(EventData):
    event_name: ClassVar[str] = "audit.recorded.v1"
    producer: ClassVar[str] = "ingest"
    actor: AuditActor
    action: str = Field(description="e.g. document.upload")
    target: str | None = None
    remote_address: str | None = None
    result: str = Field(description="e.g. accepted, refused:415")
    time: AwareDatetime

    def subject(self) -> str:
        return self.target or self.action

    def owner(self) -> uuid.UUID:
        return self.actor.owner_id or uuid.UUID(int=0)


class CatalogRebuildMarker(EventData):
    """Published by ``docuvault catalog rebuild`` to find "now" in ``docuvault.history``.

    The rebuild replays the stream until it reads its own marker back; projections ignore it.
    """

    event_name: ClassVar[str] = "catalog.rebuild_marker.v1"
    producer: ClassVar[str] = "catalog"
    rebuild_id: uuid.UUID = Field(description="The rebuild run that published it")
    sequence: int = Field(default=1, ge=1, description="1 for the run's first marker, then 2…")
    owner_id: uuid.UUID = Field(
        default=uuid.UUID(int=0), description="Always the nil UUID: no owner's data"
    )

    def subject(self) -> str:
        return str(self.rebuild_id)

    def owner(self) -> uuid.UUID:
        return self.owner_id


EVENT_TYPES: tuple[type[EventData], ...] = (
    DocumentUploaded,
    TextExtracted,
    ExtractionFailed,
    Classified,
    ClassificationFailed,
    ClassificationRequested,
    ReprocessRequested,
    TopicsAssigned,
    DocumentDeleted,
    TopicUpserted,
    TopicDeleted,
    ClassificationSettingsChanged,
    TokenRevoked,
    AuditRecorded,
    CatalogRebuildMarker,
)

#: routing key (``document.uploaded.v1``) → payload model
BY_NAME: dict[str, type[EventData]] = {cls.event_name: cls for cls in EVENT_TYPES}
