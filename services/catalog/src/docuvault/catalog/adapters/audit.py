"""The audit trail (append-only for the app role): what the catalog records, and the queries of
``GET /v1/audit``.

The catalog's own entries are ``audit.recorded.v1`` events it emits like its other changes:
projected into ``audit_trail`` and queued in the outbox in one transaction, so a rebuild from
the history keeps them. Ingest's entries arrive as the same events.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from docuvault.catalog.adapters.documents import emit
from docuvault.contracts import CloudEvent
from docuvault.contracts.events import AuditRecorded
from docuvault.runtime import db, outbox


class BadCursor(ValueError):
    pass


@dataclass(frozen=True)
class AuditQuery:
    owner_id: uuid.UUID | None = None
    jti: str | None = None
    action: str | None = None
    target: str | None = None
    result: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    cursor: str | None = None


@dataclass
class AuditPage:
    items: list[dict[str, Any]] = field(default_factory=list)
    next_cursor: str | None = None


def _encode_cursor(time: datetime, event_id: uuid.UUID) -> str:
    raw = json.dumps({"t": time.isoformat(), "id": str(event_id)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
        return datetime.fromisoformat(data["t"]), uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BadCursor("cursor is not one this API gave out") from exc


class PostgresAudit:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def record(
        self, events: Sequence[CloudEvent[AuditRecorded]], conn: outbox.Connection | None = None
    ) -> None:
        """Append entries: in the caller's transaction, or in one of their own."""
        if conn is not None:
            await emit(conn, *events)
            return
        async with db.transaction(self._pool) as own:
            await emit(own, *events)

    async def query(self, query: AuditQuery) -> AuditPage:
        where: list[str] = []
        params: list[Any] = []

        def add(condition: str, value: Any) -> None:
            params.append(value)
            where.append(condition.format(f"${len(params)}"))

        if query.owner_id is not None:
            add("owner_id = {}", query.owner_id)
        if query.jti is not None:
            add("jti = {}", query.jti)
        if query.action is not None:
            add("action = {}", query.action)
        if query.target is not None:
            add("target = {}", query.target)
        if query.result is not None:  # "refused" matches refused:403, refused:404 …
            add("(result = {0} OR result LIKE {0} || ':%')", query.result)
        if query.since is not None:
            add("time >= {}", query.since)
        if query.until is not None:
            add("time < {}", query.until)
        if query.cursor is not None:
            time, event_id = _decode_cursor(query.cursor)
            params.append(time)
            params.append(event_id)
            where.append(f"(time, event_id) < (${len(params) - 1}, ${len(params)})")
        params.append(query.limit + 1)
        sql = (
            "SELECT event_id, owner_id, jti, action, target, remote_address, result, time"
            " FROM audit_trail"
            + (" WHERE " + " AND ".join(where) if where else "")
            + f" ORDER BY time DESC, event_id DESC LIMIT ${len(params)}"
        )
        rows = await self._pool.fetch(sql, *params)
        page = AuditPage(items=[dict(r) for r in rows[: query.limit]])
        if len(rows) > query.limit:
            last = rows[query.limit - 1]
            page.next_cursor = _encode_cursor(last["time"], last["event_id"])
        return page
