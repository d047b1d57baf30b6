"""``/v1/documents/bulk/…``: classify, assign topics or delete many documents in one request.

Each runs the single-document route's command (``adapters.commands``) over every id at once,
in one transaction, and says per id what happened. An id of another owner is not found, exactly
like an unknown one.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from docuvault.catalog.deps import CatalogDep
from docuvault.catalog.routes_documents import enabled_provider, known_topics, wrap_event
from docuvault.catalog.schemas import (
    BulkClassified,
    BulkClassifyIn,
    BulkDone,
    BulkIn,
    BulkTopicsIn,
    ClassifyAccepted,
)
from docuvault.runtime.security import WriterDep

router = APIRouter(prefix="/v1/documents/bulk", tags=["documents"])


def _once(document_ids: list[uuid.UUID]) -> list[uuid.UUID]:
    return list(dict.fromkeys(document_ids))


def _outcome(asked: list[uuid.UUID], done: list[uuid.UUID]) -> BulkDone:
    found = set(done)
    return BulkDone(
        done=[d for d in asked if d in found], not_found=[d for d in asked if d not in found]
    )


@router.post(
    "/classify",
    status_code=202,
    response_model=BulkClassified,
    summary="Classify many documents again (as POST …/{document_id}/classify does each)",
)
async def bulk_classify(
    body: BulkClassifyIn, principal: WriterDep, catalog: CatalogDep
) -> BulkClassified:
    provider = enabled_provider(catalog, body.provider)
    asked = _once(body.document_ids)
    done = await catalog.commands.request_classification(
        principal.owner_id, asked, provider, wrap_event
    )
    return BulkClassified(
        done=[
            ClassifyAccepted(document_id=d, generation=generation)
            for d in asked
            if (generation := done.get(d)) is not None
        ],
        not_found=[d for d in asked if d not in done],
        no_text=[d for d in asked if d in done and done[d] is None],
    )


@router.post(
    "/topics",
    response_model=BulkDone,
    summary="Set topics by hand on many documents (as PUT …/{document_id}/topics does each)",
)
async def bulk_topics(body: BulkTopicsIn, principal: WriterDep, catalog: CatalogDep) -> BulkDone:
    topic_ids = await known_topics(catalog, principal, body.topic_ids)
    asked = _once(body.document_ids)
    done = await catalog.commands.assign_topics(
        principal.owner_id, asked, topic_ids, principal.name or principal.jti, wrap_event
    )
    return _outcome(asked, done)


@router.post(
    "/delete",
    response_model=BulkDone,
    summary="Delete many documents and their files (as DELETE …/{document_id} does each)",
)
async def bulk_delete(body: BulkIn, principal: WriterDep, catalog: CatalogDep) -> BulkDone:
    asked = _once(body.document_ids)
    done = await catalog.commands.delete(principal.owner_id, asked, wrap_event)
    return _outcome(asked, done)
