"""Commands on documents — delete, assign topics, request a classification — for one document
or many: the same code path either way.

A command locks the owner's live documents it names, builds one event from each (the document
as it is under the lock), and projects and queues those events in the outbox (``emit``), all in
one transaction: a bulk command commits every document's change or none. Ids of another owner,
unknown or deleted ones are not found, and told apart by nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg

from docuvault.catalog import domain
from docuvault.catalog.adapters import rows
from docuvault.catalog.adapters.documents import emit, select_sql
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    ClassificationRequested,
    DocumentDeleted,
    TextExtracted,
    TopicsAssigned,
)
from docuvault.runtime import db

#: the event of a command on a document, or None when the command does not apply to it
Build = Callable[[domain.Document], CloudEvent[Any] | None]
#: what a command did per document found: its event, or None (found, not applicable)
Done = dict[uuid.UUID, CloudEvent[Any] | None]


class PostgresCommands:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def run(
        self, owner_id: uuid.UUID, document_ids: Sequence[uuid.UUID], build: Build
    ) -> Done:
        """Lock the owner's live documents among ``document_ids``, build each one's event,
        record them all; the ids missing from the answer were not found."""
        async with db.transaction(self.pool) as conn:
            found = await conn.fetch(
                f"{select_sql()} WHERE document_id = ANY($1::uuid[]) AND owner_id = $2"
                " AND deleted_at IS NULL ORDER BY document_id FOR UPDATE",
                list(document_ids),
                owner_id,
            )
            done: Done = {r["document_id"]: build(rows.from_row(r)) for r in found}
            events = [e for e in done.values() if e is not None]
            if events:
                await emit(conn, *events)
        return done

    async def delete(
        self,
        owner_id: uuid.UUID,
        document_ids: Sequence[uuid.UUID],
        wrap: Callable[[DocumentDeleted], CloudEvent[Any]],
    ) -> list[uuid.UUID]:
        """Tombstone the documents and announce it; returns the ids found (and deleted)."""

        def build(doc: domain.Document) -> CloudEvent[Any]:
            return wrap(
                DocumentDeleted(
                    document_id=doc.document_id, owner_id=doc.owner_id, generation=doc.generation
                )
            )

        return list(await self.run(owner_id, document_ids, build))

    async def assign_topics(
        self,
        owner_id: uuid.UUID,
        document_ids: Sequence[uuid.UUID],
        topic_ids: tuple[uuid.UUID, ...],
        assigned_by: str,
        wrap: Callable[[TopicsAssigned], CloudEvent[Any]],
    ) -> list[uuid.UUID]:
        """Store a person's topics (they win over the classifier's) and announce the labels;
        returns the ids found (and assigned)."""

        def build(current: domain.Document) -> CloudEvent[Any]:
            text = current.text
            return wrap(
                TopicsAssigned(
                    document_id=current.document_id,
                    owner_id=current.owner_id,
                    generation=current.generation,
                    topic_ids=list(topic_ids),
                    assigned_by=assigned_by,
                    version=current.manual_version + 1,
                    text_object_key=text.text_object_key if text else None,
                    text_sha256=text.text_sha256 if text else None,
                )
            )

        return list(await self.run(owner_id, document_ids, build))

    async def request_classification(
        self,
        owner_id: uuid.UUID,
        document_ids: Sequence[uuid.UUID],
        provider: str | None,
        wrap: Callable[[ClassificationRequested], CloudEvent[Any]],
        seen_text: TextExtracted | None = None,
    ) -> dict[uuid.UUID, int | None]:
        """A new generation per document with extracted text, announced for the classifier.

        Returns, per document found, its new generation, or None: no text, nothing to
        classify. ``seen_text``: the text a caller saw before the lock, classified should the
        document have lost its own meanwhile (the single route promised it)."""

        def build(current: domain.Document) -> CloudEvent[Any] | None:
            latest = current.text or seen_text
            if latest is None:
                return None
            return wrap(
                ClassificationRequested(
                    document_id=current.document_id,
                    owner_id=current.owner_id,
                    generation=current.generation + 1,
                    provider=provider,
                    text_object_key=latest.text_object_key,
                    text_sha256=latest.text_sha256,
                )
            )

        done = await self.run(owner_id, document_ids, build)
        return {d: e.data.generation if e else None for d, e in done.items()}
