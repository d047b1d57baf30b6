"""Topics and classification settings: the catalog is their only writer (DESIGN §3).

Every change is an event (version + 1) projected by ``documents.project_event`` and queued in
the outbox in one transaction, exactly as a rebuild replays it. A deleted topic stays as a
tombstone (``deleted_at``) holding its last version.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import asyncpg

from docuvault.catalog.adapters.documents import emit
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import (
    ClassificationSettingsChanged,
    TopicDeleted,
    TopicMatch,
    TopicUpserted,
)
from docuvault.runtime import db

Wrap = Callable[[Any], CloudEvent[Any]]
_TOPIC = (
    "SELECT t.topic_id, t.owner_id, t.name, t.description, t.color, t.keywords, t.match,"
    " t.version, (SELECT count(*) FROM documents d WHERE d.owner_id = t.owner_id"
    " AND d.deleted_at IS NULL AND t.topic_id = ANY(d.topic_ids)) AS document_count"
    " FROM topics t"
)
_LIVE = "t.deleted_at IS NULL"


class TopicNameTaken(Exception):
    pass


def _upserted(row: asyncpg.Record) -> TopicUpserted:
    return TopicUpserted(
        topic_id=row["topic_id"],
        owner_id=row["owner_id"],
        version=row["version"],
        name=row["name"],
        description=row["description"],
        color=row["color"],
        keywords=list(row["keywords"]),
        match=TopicMatch.model_validate_json(row["match"]),
    )


class PostgresTopics:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def list(self, owner_id: uuid.UUID) -> list[tuple[TopicUpserted, int]]:
        found = await self.pool.fetch(
            f"{_TOPIC} WHERE t.owner_id = $1 AND {_LIVE} ORDER BY lower(t.name)", owner_id
        )
        return [(_upserted(r), r["document_count"]) for r in found]

    async def get(
        self, owner_id: uuid.UUID, topic_id: uuid.UUID
    ) -> tuple[TopicUpserted, int] | None:
        row = await self.pool.fetchrow(
            f"{_TOPIC} WHERE t.owner_id = $1 AND t.topic_id = $2 AND {_LIVE}", owner_id, topic_id
        )
        return (_upserted(row), row["document_count"]) if row else None

    async def save(self, topic: TopicUpserted, wrap: Wrap, *, create: bool) -> TopicUpserted | None:
        """Create (version 1) or change (version + 1) and announce; None when not the owner's."""
        try:
            async with db.transaction(self.pool) as conn:
                if create:
                    saved = topic.model_copy(update={"version": 1})
                else:
                    version = await conn.fetchval(
                        "SELECT version FROM topics WHERE topic_id = $1 AND owner_id = $2"
                        " AND deleted_at IS NULL FOR UPDATE",
                        topic.topic_id,
                        topic.owner_id,
                    )
                    if version is None:
                        return None
                    saved = topic.model_copy(update={"version": version + 1})
                await emit(conn, wrap(saved))
        except asyncpg.UniqueViolationError as exc:
            raise TopicNameTaken(topic.name) from exc
        return saved

    async def delete(self, owner_id: uuid.UUID, topic_id: uuid.UUID, wrap: Wrap) -> bool:
        """Tombstone the topic; it disappears from every document of the owner."""
        async with db.transaction(self.pool) as conn:
            row = await conn.fetchrow(
                "SELECT * FROM topics WHERE topic_id = $1 AND owner_id = $2"
                " AND deleted_at IS NULL FOR UPDATE",
                topic_id,
                owner_id,
            )
            if row is None:
                return False
            last = _upserted(row)
            await emit(
                conn,
                wrap(
                    TopicDeleted(
                        topic_id=topic_id,
                        owner_id=owner_id,
                        version=last.version + 1,
                        name=last.name,
                        description=last.description,
                        color=last.color,
                        keywords=last.keywords,
                        match=last.match,
                    )
                ),
            )
        return True

    async def settings(self, owner_id: uuid.UUID) -> ClassificationSettingsChanged | None:
        row = await self.pool.fetchrow(
            "SELECT * FROM classification_settings WHERE owner_id = $1", owner_id
        )
        return ClassificationSettingsChanged(**dict(row)) if row else None

    async def save_settings(
        self,
        owner_id: uuid.UUID,
        provider: str,
        system_prompt: str | None,
        threshold: float,
        wrap: Wrap,
    ) -> ClassificationSettingsChanged:
        async with db.transaction(self.pool) as conn:
            # a placeholder (version 0) gives concurrent first saves a row to queue on
            await conn.execute(
                "INSERT INTO classification_settings"
                " (owner_id, provider, system_prompt, apply_threshold, version)"
                " VALUES ($1, $2, $3, $4, 0) ON CONFLICT (owner_id) DO NOTHING",
                owner_id,
                provider,
                system_prompt,
                threshold,
            )
            version = await conn.fetchval(
                "SELECT version FROM classification_settings WHERE owner_id = $1 FOR UPDATE",
                owner_id,
            )
            saved = ClassificationSettingsChanged(
                owner_id=owner_id,
                version=version + 1,
                provider=provider,
                system_prompt=system_prompt,
                apply_threshold=threshold,
            )
            await emit(conn, wrap(saved))
        return saved
