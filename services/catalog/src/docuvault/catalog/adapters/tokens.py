"""The catalog's deny-list of revoked tokens (its own database) and the revocations it makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from docuvault.catalog.adapters.documents import emit
from docuvault.contracts import CloudEvent
from docuvault.runtime import db
from docuvault.runtime.revocations import RevokedTokens


class PostgresRevocations(RevokedTokens):
    async def revoke(
        self,
        jti: str,
        owner_id: uuid.UUID | None,
        expires_at: datetime,
        events: Sequence[CloudEvent[Any]],
    ) -> bool:
        """Deny the token and queue ``events`` (its auth.token_revoked.v1, the audit entry) in
        one transaction; False when it was revoked already (its expiry is then the later one)."""
        async with db.transaction(self._pool) as conn:
            new: bool = await conn.fetchval(
                "INSERT INTO revoked_tokens AS r (jti, owner_id, expires_at) VALUES ($1, $2, $3)"
                " ON CONFLICT (jti) DO UPDATE SET expires_at ="
                " greatest(r.expires_at, EXCLUDED.expires_at),"
                " owner_id = coalesce(r.owner_id, EXCLUDED.owner_id)"
                " RETURNING (xmax = 0)",
                jti,
                owner_id,
                expires_at,
            )
            await emit(conn, *events)
        return new

    async def owner_of(self, jti: str) -> uuid.UUID | None:
        """Whose token a bare jti is, if it left a trace in the audit trail."""
        found: uuid.UUID | None = await self._pool.fetchval(
            "SELECT owner_id FROM audit_trail WHERE jti = $1 AND owner_id IS NOT NULL"
            " ORDER BY time DESC LIMIT 1",
            jti,
        )
        return found
