"""The table of revoked tokens each API service keeps in its own database (``revoked_tokens``),
and the deny-list kept filled from it while the service runs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import asyncpg

from docuvault.runtime.auth import DenyList
from docuvault.runtime.tasks import cancel_and_wait


class RevokedTokens:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def load(self) -> dict[str, datetime]:
        """Every revocation still in force."""
        rows = await self._pool.fetch(
            "SELECT jti, expires_at FROM revoked_tokens WHERE expires_at > now()"
        )
        return {r["jti"]: r["expires_at"] for r in rows}

    async def prune(self) -> int:
        """Forget revocations of tokens that have expired by now (with a day to spare)."""
        done: str = await self._pool.execute(
            "DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 day'"
        )
        return int(done.split()[-1])


@contextlib.asynccontextmanager
async def kept_fresh(tokens: RevokedTokens, deny: DenyList) -> AsyncIterator[DenyList]:
    """``deny`` filled from ``tokens`` now (if the database answers) and reloaded until exit."""
    with contextlib.suppress(Exception):  # the database may be down: the loop retries
        deny.replace(await tokens.load())
    refresher = asyncio.create_task(
        deny.keep_fresh(tokens.load, prune=tokens.prune), name="deny-list"
    )
    try:
        yield deny
    finally:
        await cancel_and_wait(refresher)
