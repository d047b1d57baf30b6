"""``db.transaction`` against real PostgreSQL: what a broken connection means for a commit."""

from collections.abc import AsyncIterator

import asyncpg
import pytest

from docuvault.runtime import db


@pytest.fixture
async def dsn(scratch_database: str) -> str:
    conn = await asyncpg.connect(scratch_database)
    await conn.execute("CREATE TABLE IF NOT EXISTS notes (n int PRIMARY KEY)")
    await conn.execute("DELETE FROM notes")
    await conn.close()
    return scratch_database


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(dsn)
    yield pool
    await pool.close()


@pytest.fixture
async def killer(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A second connection that terminates the backend of the one under test."""
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


async def _notes(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["n"] for r in await conn.fetch("SELECT n FROM notes ORDER BY n")]
    finally:
        await conn.close()


async def test_commits_when_the_block_ends(dsn: str, pool: asyncpg.Pool) -> None:
    async with db.transaction(pool) as conn:
        await conn.execute("INSERT INTO notes VALUES (1)")
    assert await _notes(dsn) == [1]


async def test_an_error_in_the_block_rolls_back_and_propagates(
    dsn: str, pool: asyncpg.Pool
) -> None:
    async def fail_after_insert() -> None:
        async with db.transaction(pool) as conn:
            await conn.execute("INSERT INTO notes VALUES (2)")
            raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await fail_after_insert()
    assert await _notes(dsn) == []


async def test_a_failure_after_the_commit_is_not_the_transactions(dsn: str) -> None:
    """asyncpg resets a connection on its way back to the pool and re-raises if that fails."""

    async def broken_reset(conn: asyncpg.Connection) -> None:
        raise ConnectionResetError("the server went away after the commit")

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=broken_reset)
    try:
        async with db.transaction(pool) as conn:
            await conn.execute("INSERT INTO notes VALUES (3)")
    finally:
        pool.terminate()
    assert await _notes(dsn) == [3]


async def test_a_connection_lost_at_commit_is_uncertain(
    dsn: str, pool: asyncpg.Pool, killer: asyncpg.Connection
) -> None:
    async def die_before_commit() -> None:
        async with db.transaction(pool) as conn:
            await conn.execute("INSERT INTO notes VALUES (4)")
            # the backend dies between the block's last statement and its COMMIT
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())

    with pytest.raises(db.CommitUncertain, match="during COMMIT"):
        await die_before_commit()
    assert await _notes(dsn) == []


async def test_a_connection_lost_inside_the_block_is_an_ordinary_failure(
    dsn: str, pool: asyncpg.Pool, killer: asyncpg.Connection
) -> None:
    async def die_inside() -> None:
        async with db.transaction(pool) as conn:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            await conn.execute("INSERT INTO notes VALUES (5)")

    with pytest.raises(Exception) as caught:  # noqa: PT011  # which one depends on timing
        await die_inside()
    assert not isinstance(caught.value, db.CommitUncertain)
    assert await _notes(dsn) == []
