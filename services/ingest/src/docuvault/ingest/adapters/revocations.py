"""Ingest's deny-list of revoked tokens, in its own database (learnt from auth.token_revoked.v1)."""

from __future__ import annotations

import uuid
from datetime import datetime

from docuvault.runtime.revocations import RevokedTokens


class PostgresRevocations(RevokedTokens):
    async def add(self, jti: str, owner_id: uuid.UUID | None, expires_at: datetime) -> None:
        """Idempotent: a second revocation of the same token keeps the later expiry."""
        await self._pool.execute(
            "INSERT INTO revoked_tokens (jti, owner_id, expires_at) VALUES ($1, $2, $3)"
            " ON CONFLICT (jti) DO UPDATE SET expires_at ="
            " greatest(revoked_tokens.expires_at, EXCLUDED.expires_at)",
            jti,
            owner_id,
            expires_at,
        )
