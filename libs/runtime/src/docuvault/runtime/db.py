"""PostgreSQL: connection pools and versioned SQL migrations (``NNNN_name.sql`` files)."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg

log = logging.getLogger("docuvault.db")
_MIGRATION = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
#: any constant: serialises concurrent migrators of the same database
_LOCK_KEY = 0x646F6375


async def create_pool(dsn: str, *, min_size: int = 1, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, timeout=10)
    assert pool is not None
    return pool


class CommitUncertain(ConnectionError):
    """The connection broke while COMMIT was on its way: the transaction may have committed or
    not. Whoever must answer a client has to read the database again to tell."""


def _refused(exc: BaseException) -> bool:
    """The server answered the COMMIT with an error of the transaction's own (a constraint, a
    serialisation failure): it did not commit. Anything else (the socket, asyncpg's protocol
    state, "terminating connection due to administrator command") leaves it open."""
    return isinstance(exc, asyncpg.PostgresError) and not isinstance(
        exc, asyncpg.PostgresConnectionError | asyncpg.OperatorInterventionError
    )


@asynccontextmanager
async def transaction(
    pool: asyncpg.Pool,
) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy[asyncpg.Record]]:
    """A pooled connection in a transaction, committed when the block ends.

    Unlike ``pool.acquire()`` plus ``conn.transaction()``, a failure after the commit is not
    reported as the transaction's: asyncpg resets a connection on its way back to the pool and
    re-raises if that fails (PostgreSQL stopping just after our COMMIT), which made a committed
    upload look refused. That failure is logged and dropped; a connection lost during the
    COMMIT itself raises ``CommitUncertain``.
    """
    committed = False
    try:
        async with pool.acquire() as conn:
            body_done = False
            try:
                async with conn.transaction():
                    yield conn
                    body_done = True
            except Exception as exc:
                if body_done and not _refused(exc):
                    raise CommitUncertain(f"the connection broke during COMMIT: {exc}") from exc
                raise
            committed = True
    except Exception as exc:
        if not committed:
            raise
        log.warning("the connection failed after its transaction committed: %s", exc)


async def check(pool: asyncpg.Pool) -> None:
    async with pool.acquire(timeout=3) as conn:
        await conn.fetchval("SELECT 1")


def _migrations(directory: Path) -> list[tuple[int, Path]]:
    found = []
    for path in sorted(directory.iterdir()):
        match = _MIGRATION.match(path.name)
        if match:
            found.append((int(match.group(1)), path))
    return found


OUTBOX_MIGRATIONS = Path(__file__).parent / "migrations" / "outbox"


async def migrate(dsn: str, components: dict[str, Path]) -> list[str]:
    """Apply, per component (``outbox``, ``ingest``…), the migrations not applied yet.

    Each runs in its own transaction; returns the names of those applied now.
    """
    applied: list[str] = []
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " component text NOT NULL, version int NOT NULL, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (component, version))"
        )
        rows = await conn.fetch("SELECT component, version FROM schema_migrations")
        done = {(r["component"], r["version"]) for r in rows}
        for component, directory in components.items():
            for version, path in _migrations(directory):
                if (component, version) in done:
                    continue
                async with conn.transaction():
                    await conn.execute(path.read_text())
                    await conn.execute(
                        "INSERT INTO schema_migrations (component, version, name)"
                        " VALUES ($1, $2, $3)",
                        component,
                        version,
                        path.name,
                    )
                applied.append(f"{component}/{path.name}")
                log.info("applied migration %s/%s", component, path.name)
    finally:
        await conn.close()
    return applied
