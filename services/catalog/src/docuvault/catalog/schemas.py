"""The catalog API's request and response bodies (DESIGN §5)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
)

from docuvault.catalog.domain import Document, Status
from docuvault.contracts.events import DocumentMetadata, TopicMatch, TopicUpserted


def _no_nul(value: str) -> str:
    """PostgreSQL text cannot hold NUL: refuse it here (a 422), not in the database (a 500)."""
    if "\x00" in value:
        raise ValueError("must not contain the NUL character")
    return value


#: request text that can be stored
Text = Annotated[str, AfterValidator(_no_nul)]


def _iso_8601(value: Any) -> Any:
    """Only ISO 8601 text is a time here (pydantic would read ``0.5`` as a Unix time)."""
    if isinstance(value, int | float) or (isinstance(value, str) and _is_number(value)):
        raise ValueError("an ISO 8601 date-time is expected, not a number")
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


#: a date-time given as ISO 8601 text, as the OpenAPI schema says
IsoDatetime = Annotated[datetime, BeforeValidator(_iso_8601)]


class TopicRef(BaseModel):
    topic_id: uuid.UUID
    name: str
    confidence: float | None
    source: Literal["classifier", "manual"]


class FailureOut(BaseModel):
    stage: Literal["extract", "classify"]
    reason: str
    detail: str


class HistoryEntry(BaseModel):
    type: str
    time: datetime


class DocumentOut(BaseModel):
    document_id: uuid.UUID
    filename: str | None
    content_type: str | None
    size_bytes: int | None
    sha256: str | None
    status: Status
    page_count: int | None
    language: str | None
    topics: list[TopicRef]
    duplicate_of: uuid.UUID | None
    uploaded_at: datetime | None
    updated_at: datetime | None
    rank: float | None = None
    snippet: str | None = None


class DocumentDetail(DocumentOut):
    metadata: DocumentMetadata | None
    suggestions: list[TopicRef]
    failure: FailureOut | None
    history: list[HistoryEntry]


class DocumentPage(BaseModel):
    items: list[DocumentOut]
    next_cursor: str | None


class StatusCount(BaseModel):
    status: Status
    count: int


class TopicCount(BaseModel):
    topic_id: uuid.UUID
    name: str
    count: int


class FacetsOut(BaseModel):
    """Counts over every document the query matches (not only one page)."""

    total: int
    statuses: list[StatusCount]
    topics: list[TopicCount]


def topics_of(doc: Document, names: dict[uuid.UUID, str]) -> list[TopicRef]:
    if doc.manual_topic_ids is not None:
        return [
            TopicRef(topic_id=t, name=names.get(t, "?"), confidence=None, source="manual")
            for t in doc.manual_topic_ids
        ]
    return [
        TopicRef(
            topic_id=t.topic_id,
            name=names.get(t.topic_id, t.name),
            confidence=t.confidence,
            source="classifier",
        )
        for t in doc.classifier_topics
    ]


def document_out(doc: Document, names: dict[uuid.UUID, str]) -> DocumentOut:
    up, text = doc.uploaded, doc.text
    return DocumentOut(
        document_id=doc.document_id,
        filename=up.filename if up else None,
        content_type=up.content_type if up else None,
        size_bytes=up.size_bytes if up else None,
        sha256=up.sha256 if up else None,
        status=doc.status,
        page_count=text.page_count if text else None,
        language=text.language if text else None,
        topics=topics_of(doc, names),
        duplicate_of=up.duplicate_of if up else None,
        uploaded_at=doc.uploaded_at,
        updated_at=doc.updated_at,
    )


def _strict_match(value: Any) -> Any:
    """``case_sensitive`` is a JSON boolean (pydantic would take 0 or "yes" for one)."""
    if isinstance(value, dict):
        if not isinstance(value.get("case_sensitive", False), bool):
            raise ValueError("match.case_sensitive must be true or false")
        if "\x00" in str(value.get("pattern", "")):
            raise ValueError("match.pattern must not contain the NUL character")
    return value


#: a topic's match rule as a request gives it
MatchIn = Annotated[TopicMatch, BeforeValidator(_strict_match)]


class TopicIn(BaseModel):
    name: Text = Field(min_length=1, max_length=100)
    description: Text = Field(default="", max_length=2000)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    keywords: list[Text] = Field(default_factory=list, max_length=200)
    match: MatchIn = Field(default_factory=TopicMatch)


class TopicPatch(BaseModel):
    name: Text | None = Field(default=None, min_length=1, max_length=100)
    description: Text | None = Field(default=None, max_length=2000)
    color: str | None = Field(default=None, pattern=r"^#[0-9a-fA-F]{6}$")
    keywords: list[Text] | None = Field(default=None, max_length=200)
    match: MatchIn | None = None


class TopicOut(BaseModel):
    topic_id: uuid.UUID
    name: str
    description: str
    color: str | None
    keywords: list[str]
    match: TopicMatch
    document_count: int

    @classmethod
    def of(cls, topic: TopicUpserted, count: int) -> TopicOut:
        return cls(
            topic_id=topic.topic_id,
            name=topic.name,
            description=topic.description,
            color=topic.color,
            keywords=topic.keywords,
            match=topic.match,
            document_count=count,
        )


class TopicList(BaseModel):
    items: list[TopicOut]


class ClassificationSettings(BaseModel):
    provider: Text
    system_prompt: Text | None = Field(default=None, max_length=20_000)
    apply_threshold: float = Field(ge=0.0, le=1.0)


class TopicsIn(BaseModel):
    topic_ids: list[uuid.UUID] = Field(max_length=100)


class ClassifyIn(BaseModel):
    provider: Text | None = Field(default=None, description="one of the enabled providers")


class ClassifyAccepted(BaseModel):
    document_id: uuid.UUID
    generation: int


HAS_FAILURE = (
    "true: only documents whose extraction or classification failed; false: only the others"
)
DUPLICATE_OF = "only the documents recorded as duplicates of this document"
FILENAME = "part of the filename, any case (%, _ and \\ match themselves, not as wildcards)"


class ReprocessIn(BaseModel):
    """Which documents to send through a stage again: the listing's filters (all optional)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter must not widen the selection

    stage: Literal["extract", "classify"]
    q: Text | None = Field(default=None, max_length=500, description="web-search syntax")
    topic: list[uuid.UUID] = Field(default_factory=list, max_length=100)
    topic_mode: Literal["any", "all", "none"] = "any"
    status: list[Status] = Field(default_factory=list)
    content_type: Text | None = None
    uploaded_after: IsoDatetime | None = None
    uploaded_before: IsoDatetime | None = None
    has_failure: StrictBool | None = Field(default=None, description=HAS_FAILURE)
    duplicate_of: uuid.UUID | None = Field(default=None, description=DUPLICATE_OF)
    filename: Text | None = Field(default=None, max_length=255, description=FILENAME)


class ReprocessAccepted(BaseModel):
    requested: int = Field(description="documents that got a new generation and a request")
    skipped: int = Field(
        description="matching documents that cannot go through the stage: no original recorded"
        " yet, or (stage classify) no extracted text"
    )


#: documents one bulk request may name at most
BULK_CAP = 1000
DOCUMENT_IDS = Field(
    min_length=1,
    max_length=BULK_CAP,
    description=f"1 to {BULK_CAP} of the owner's documents (an id given twice counts once)",
)


class BulkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    document_ids: list[uuid.UUID] = DOCUMENT_IDS


class BulkTopicsIn(BulkIn):
    topic_ids: list[uuid.UUID] = Field(
        max_length=100, description="the topics each document gets (as PUT …/topics sets them)"
    )


class BulkClassifyIn(BulkIn):
    provider: Text | None = Field(default=None, description="one of the enabled providers")


class BulkDone(BaseModel):
    done: list[uuid.UUID] = Field(description="the documents changed, in the order given")
    not_found: list[uuid.UUID] = Field(
        description="ids of no document of the owner (unknown, deleted, or another owner's)"
    )


class BulkClassified(BaseModel):
    done: list[ClassifyAccepted] = Field(description="the documents to be classified again")
    not_found: list[uuid.UUID] = Field(
        description="ids of no document of the owner (unknown, deleted, or another owner's)"
    )
    no_text: list[uuid.UUID] = Field(
        description="documents without extracted text: nothing to classify yet"
    )
