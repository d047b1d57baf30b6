"""Reprocessing many documents at once (``POST /v1/documents/reprocess``).

The documents are chosen with the listing's filters and visited in keyset pages (oldest upload
first). Each page is one transaction: every document that can go through the stage gets a
``document.reprocess_requested.v1`` of the next generation, projected like every event the
catalog emits (the generation, a history row, the inbox: a rebuild from the history gives the
same rows) and queued in the outbox; the extractor acts on stage ``extract``, the classifier on
``classify``.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import asyncpg

from docuvault.catalog.adapters.documents import emit
from docuvault.catalog.listing import ListQuery, build_list_sql, encode_cursor
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import ReprocessRequested
from docuvault.runtime import db

Stage = Literal["extract", "classify"]
Wrap = Callable[[ReprocessRequested], CloudEvent[Any]]
#: documents per transaction
BATCH = 200
#: what a document needs for each stage: the original (and for classify, extracted text)
_READY: dict[Stage, str] = {
    "extract": "uploaded IS NOT NULL",
    "classify": "uploaded IS NOT NULL AND text_extracted IS NOT NULL",
}
_SORT = "uploaded_at"


@dataclass(frozen=True)
class Requested:
    #: documents that got a new generation and a request
    requested: int
    #: documents that matched the filters but cannot go through the stage (see ``_READY``)
    skipped: int


class PostgresReprocess:
    def __init__(self, pool: asyncpg.Pool, *, batch: int = BATCH) -> None:
        self.pool = pool
        self.batch = batch

    async def request(
        self, owner_id: uuid.UUID, stage: Stage, filters: ListQuery, wrap: Wrap
    ) -> Requested:
        """Request ``stage`` again for every document of the owner that matches ``filters``."""
        query = dataclasses.replace(filters, sort=_SORT, limit=self.batch, cursor=None)
        requested = skipped = 0
        while True:
            sql, params = build_list_sql("SELECT document_id FROM documents", owner_id, query)
            found = await self.pool.fetch(sql, *params)
            page = found[: self.batch]
            if page:
                done = await self._request_batch(
                    owner_id, stage, [r["document_id"] for r in page], wrap
                )
                requested += done
                skipped += len(page) - done
            if len(found) <= self.batch:
                return Requested(requested, skipped)
            last = page[-1]
            query = dataclasses.replace(
                query, cursor=encode_cursor(_SORT, last["sort_value"], last["document_id"])
            )

    async def _request_batch(
        self, owner_id: uuid.UUID, stage: Stage, ids: list[uuid.UUID], wrap: Wrap
    ) -> int:
        """One transaction: lock the documents that can go through ``stage``, then emit one
        request each (projected like any event: new generation, history, inbox; and queued)."""
        async with db.transaction(self.pool) as conn:
            rows = await conn.fetch(
                "SELECT document_id, owner_id, generation, content_type,"
                " uploaded->>'object_key' AS object_key,"
                " COALESCE((uploaded->>'auto_classify')::boolean, true) AS auto_classify,"
                " text_extracted->>'text_object_key' AS text_object_key"
                " FROM documents"
                " WHERE document_id = ANY($1::uuid[]) AND owner_id = $2 AND deleted_at IS NULL"
                f" AND {_READY[stage]}"
                " ORDER BY document_id FOR UPDATE",
                ids,
                owner_id,
            )
            events = [
                wrap(
                    ReprocessRequested(
                        document_id=r["document_id"],
                        owner_id=r["owner_id"],
                        generation=r["generation"] + 1,
                        stage=stage,
                        object_key=r["object_key"],
                        content_type=r["content_type"],
                        auto_classify=r["auto_classify"],
                        text_object_key=r["text_object_key"],
                    )
                )
                for r in rows
            ]
            if events:
                await emit(conn, *events)
        return len(events)
