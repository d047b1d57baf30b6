"""``/v1/documents``: list and search, detail, text, content, topics, classify, delete, reprocess.

Every query is scoped to the token's owner: another owner's document answers 404.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Response
from fastapi.responses import StreamingResponse

from docuvault.catalog.adapters.reprocess import PostgresReprocess
from docuvault.catalog.deps import CatalogDep
from docuvault.catalog.domain import Document
from docuvault.catalog.listing import BadQuery, ListQuery, Page
from docuvault.catalog.schemas import (
    DUPLICATE_OF,
    FILENAME,
    HAS_FAILURE,
    ClassifyAccepted,
    ClassifyIn,
    DocumentDetail,
    DocumentPage,
    FacetsOut,
    FailureOut,
    HistoryEntry,
    IsoDatetime,
    ReprocessAccepted,
    ReprocessIn,
    StatusCount,
    Text,
    TopicCount,
    TopicRef,
    TopicsIn,
    document_out,
)
from docuvault.contracts import CloudEvent, EventData
from docuvault.runtime.auth import Principal
from docuvault.runtime.events import fresh
from docuvault.runtime.problems import Problem
from docuvault.runtime.security import ReaderDep, WriterDep, checked_download

router = APIRouter(prefix="/v1/documents", tags=["documents"])
StatusName = Literal[
    "received", "extracted", "classified", "extraction_failed", "classification_failed"
]
NOT_FOUND = "no such document"


def wrap_event(data: EventData) -> CloudEvent[EventData]:
    return fresh(data, source="catalog")


async def _filters(  # async: no worker-thread hop per listing
    q: Annotated[Text | None, Query(max_length=500, description="web-search syntax")] = None,
    topic: Annotated[list[uuid.UUID], Query()] = [],  # noqa: B006 - FastAPI copies defaults
    topic_mode: Literal["any", "all", "none"] = "any",
    status: Annotated[list[StatusName], Query()] = [],  # noqa: B006
    content_type: Text | None = None,
    uploaded_after: IsoDatetime | None = None,
    uploaded_before: IsoDatetime | None = None,
    has_failure: Annotated[bool | None, Query(description=HAS_FAILURE)] = None,
    duplicate_of: Annotated[uuid.UUID | None, Query(description=DUPLICATE_OF)] = None,
    filename: Annotated[Text | None, Query(max_length=255, description=FILENAME)] = None,
) -> ListQuery:
    """The listing's filters (shared by the list and its facets)."""
    text = q.strip() if q and q.strip() else None
    return ListQuery(
        text=text,
        topics=topic,
        topic_mode=topic_mode,
        statuses=list(status),
        content_type=content_type,
        uploaded_after=uploaded_after,
        uploaded_before=uploaded_before,
        has_failure=has_failure,
        duplicate_of=duplicate_of,
        filename=filename or None,
    )


FiltersDep = Annotated[ListQuery, Depends(_filters)]


@router.get("", response_model=DocumentPage, summary="List or search the owner's documents")
async def list_documents(
    principal: ReaderDep,
    catalog: CatalogDep,
    filters: FiltersDep,
    sort: Annotated[str | None, Query(pattern=r"^-?[a-z_]+$")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: str | None = None,
) -> DocumentPage:
    query = dataclasses.replace(
        filters,
        sort=sort or ("relevance" if filters.text else "-uploaded_at"),
        limit=limit,
        cursor=cursor,
    )
    try:
        page = await catalog.documents.list(principal.owner_id, query)
    except BadQuery as exc:
        raise Problem(422, str(exc)) from exc
    return await _page(catalog, principal, page)


async def _page(catalog: CatalogDep, principal: Principal, page: Page) -> DocumentPage:
    names = await catalog.documents.topic_names(principal.owner_id)
    items = [
        document_out(i.doc, names).model_copy(update={"rank": i.rank, "snippet": i.snippet})
        for i in page.items
    ]
    return DocumentPage(items=items, next_cursor=page.next_cursor)


@router.get(
    "/facets",
    response_model=FacetsOut,
    summary="How many documents the query matches, in all, per status and per topic",
)
async def facets(principal: ReaderDep, catalog: CatalogDep, filters: FiltersDep) -> FacetsOut:
    found = await catalog.documents.facets(principal.owner_id, filters)
    names = await catalog.documents.topic_names(principal.owner_id)
    return FacetsOut(
        total=found.total,
        statuses=[StatusCount(status=s, count=n) for s, n in sorted(found.statuses.items())],
        topics=[
            TopicCount(topic_id=t, name=names[t], count=n)
            for t, n in sorted(found.topics.items(), key=lambda i: (-i[1], str(i[0])))
            if t in names
        ],
    )


async def _owned(catalog: CatalogDep, principal: Principal, document_id: uuid.UUID) -> Document:
    doc = await catalog.documents.get(principal.owner_id, document_id)
    if doc is None:
        raise Problem(404, NOT_FOUND)
    return doc


@router.get("/{document_id:uuid}", response_model=DocumentDetail, summary="One document")
async def get_document(
    document_id: uuid.UUID, principal: ReaderDep, catalog: CatalogDep
) -> DocumentDetail:
    doc = await _owned(catalog, principal, document_id)
    names = await catalog.documents.topic_names(principal.owner_id)
    history = await catalog.documents.history(document_id)
    failure = doc.failure
    return DocumentDetail(
        **document_out(doc, names).model_dump(),
        metadata=doc.text.metadata if doc.text else None,
        suggestions=[
            TopicRef(
                topic_id=s.topic_id,
                name=names.get(s.topic_id, s.name),
                confidence=s.confidence,
                source="classifier",
            )
            for s in doc.suggestions
        ],
        failure=FailureOut(**vars(failure)) if failure else None,
        history=[HistoryEntry(type=h["type"], time=h["time"]) for h in history],
    )


@router.get(
    "/{document_id:uuid}/similar",
    response_model=DocumentPage,
    summary="More like this: the owner's documents sharing the most words with this one",
)
async def similar(
    document_id: uuid.UUID,
    principal: ReaderDep,
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> DocumentPage:
    await _owned(catalog, principal, document_id)
    page = await catalog.documents.similar(principal.owner_id, document_id, limit)
    return await _page(catalog, principal, page)


@router.get(
    "/{document_id:uuid}/text",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}, 409: {"description": "no text yet"}},
    summary="The full extracted text",
)
async def get_text(
    document_id: uuid.UUID, principal: ReaderDep, catalog: CatalogDep
) -> StreamingResponse:
    doc = await _owned(catalog, principal, document_id)
    if doc.text is None:
        raise Problem(409, doc.missing_text)
    return StreamingResponse(
        await checked_download(catalog.blobs, doc.text.text_object_key),
        media_type="text/plain; charset=utf-8",
    )


_BINARY = {"schema": {"type": "string", "format": "binary"}}


@router.get(
    "/{document_id:uuid}/content",
    response_class=StreamingResponse,
    responses={
        # the file's own type, sniffed at upload (PDF, DOCX, an image, text…)
        200: {"description": "the whole file", "content": {"*/*": _BINARY}},
        206: {
            "description": "the bytes of the requested range (header Range: bytes=…)",
            "content": {"*/*": _BINARY},
        },
        416: {"description": "the range lies outside the file"},
    },
    summary="The original file, as uploaded (whole, or one byte range)",
)
async def get_content(
    document_id: uuid.UUID,
    principal: ReaderDep,
    catalog: CatalogDep,
    range_: Annotated[str | None, Header(alias="Range", max_length=200)] = None,
) -> StreamingResponse:
    doc = await _owned(catalog, principal, document_id)
    if doc.uploaded is None:
        raise Problem(409, "the upload of this document is still being recorded; retry shortly")
    up = doc.uploaded
    quoted = uuid.uuid4().hex if not up.filename.isascii() else up.filename.replace('"', "")
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": f'attachment; filename="{quoted}";'
        f" filename*=UTF-8''{_rfc5987(up.filename)}",
    }
    span = _byte_range(range_, up.size_bytes)
    if span is None:
        return StreamingResponse(
            await checked_download(catalog.blobs, up.object_key),
            media_type=up.content_type,
            headers={**headers, "Content-Length": str(up.size_bytes)},
        )
    start, end = span  # end exclusive
    return StreamingResponse(
        await checked_download(catalog.blobs, up.object_key, start=start, end=end),
        status_code=206,
        media_type=up.content_type,
        headers={
            **headers,
            "Content-Length": str(end - start),
            "Content-Range": f"bytes {start}-{end - 1}/{up.size_bytes}",
        },
    )


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """``Range: bytes=a-b | a- | -n`` → [start, end); None serves the whole file (no header,
    several ranges or one this route does not read: RFC 9110 lets a server ignore them)."""
    match = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", header or "")
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.group(1), match.group(2)
    if first == "":  # the last n bytes
        start, end = max(0, size - int(last)), size
    else:
        start, end = int(first), min(size, int(last) + 1) if last else size
        if last and int(last) < start:
            return None
    if start >= end:
        raise Problem(
            416,
            f"the range is outside the file of {size} bytes",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, end


def _rfc5987(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


@router.put(
    "/{document_id:uuid}/topics", response_model=DocumentDetail, summary="Set topics by hand"
)
async def put_topics(
    document_id: uuid.UUID, body: TopicsIn, principal: WriterDep, catalog: CatalogDep
) -> DocumentDetail:
    """Manual topics replace the classifier's and always win; the classifier learns from them."""
    await _owned(catalog, principal, document_id)
    topic_ids = await known_topics(catalog, principal, body.topic_ids)
    assigned = await catalog.commands.assign_topics(
        principal.owner_id, [document_id], topic_ids, principal.name or principal.jti, wrap_event
    )
    if not assigned:  # deleted meanwhile
        raise Problem(404, NOT_FOUND)
    return await get_document(document_id, principal, catalog)


async def known_topics(
    catalog: CatalogDep, principal: Principal, topic_ids: list[uuid.UUID]
) -> tuple[uuid.UUID, ...]:
    """The topics to assign, each once; 422 if one is not the owner's (or does not exist:
    the answer tells the two apart by nothing)."""
    known = await catalog.documents.topic_names(principal.owner_id)
    unknown = [str(t) for t in topic_ids if t not in known]
    if unknown:
        raise Problem(422, f"unknown topic(s) {', '.join(unknown)}: create them first")
    return tuple(dict.fromkeys(topic_ids))


def enabled_provider(catalog: CatalogDep, provider: str | None) -> str | None:
    if provider is not None and provider not in catalog.settings.providers:
        raise Problem(
            422,
            f"provider {provider!r} is not enabled; enabled: "
            f"{', '.join(catalog.settings.providers)}",
        )
    return provider


@router.post(
    "/{document_id:uuid}/classify",
    status_code=202,
    response_model=ClassifyAccepted,
    summary="Classify again (optionally with another provider)",
)
async def classify(
    document_id: uuid.UUID,
    principal: WriterDep,
    catalog: CatalogDep,
    body: Annotated[ClassifyIn | None, Body()] = None,
) -> ClassifyAccepted:
    doc = await _owned(catalog, principal, document_id)
    if doc.text is None:
        raise Problem(409, f"nothing to classify yet: the document is {doc.status}")
    provider = enabled_provider(catalog, body.provider if body else None)
    done = await catalog.commands.request_classification(
        principal.owner_id, [document_id], provider, wrap_event, seen_text=doc.text
    )
    generation = done.get(document_id)
    if generation is None:  # deleted meanwhile
        raise Problem(404, NOT_FOUND)
    return ClassifyAccepted(document_id=document_id, generation=generation)


@router.delete("/{document_id:uuid}", status_code=204, summary="Delete a document and its files")
async def delete_document(
    document_id: uuid.UUID, principal: WriterDep, catalog: CatalogDep
) -> Response:
    if not await catalog.commands.delete(principal.owner_id, [document_id], wrap_event):
        raise Problem(404, NOT_FOUND)
    return Response(status_code=204)


@router.post(
    "/reprocess",
    status_code=202,
    response_model=ReprocessAccepted,
    summary="Send the matching documents through extraction or classification again",
)
async def reprocess(
    body: ReprocessIn, principal: WriterDep, catalog: CatalogDep
) -> ReprocessAccepted:
    """Each matching document gets a new generation and a ``document.reprocess_requested.v1``.

    Stage ``classify`` needs extracted text: documents without it are skipped and counted.
    """
    filters = await _filters(**body.model_dump(exclude={"stage"}))
    # a thin wrapper over the catalog's pool (bootstrap owns the pool and its lifetime)
    reprocessor = PostgresReprocess(catalog.documents.pool)
    try:
        done = await reprocessor.request(principal.owner_id, body.stage, filters, wrap_event)
    except BadQuery as exc:
        raise Problem(422, str(exc)) from exc
    return ReprocessAccepted(requested=done.requested, skipped=done.skipped)
