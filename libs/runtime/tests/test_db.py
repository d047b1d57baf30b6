"""``db.transaction`` against real PostgreSQL: what a broken connection means for a commit."""

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


async def _notes(dsn: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["n"] for r in await conn.fetch("SELECT n FROM notes ORDER BY n")]
    finally:
        await conn.close()


async def test_commits_when_the_block_ends(dsn: str) -> None:
    pool = await db.create_pool(dsn)
    async with db.transaction(pool) as conn:
        await conn.execute("INSERT INTO notes VALUES (1)")
    await pool.close()
    assert await _notes(dsn) == [1]


async def test_an_error_in_the_block_rolls_back_and_propagates(dsn: str) -> None:
    pool = await db.create_pool(dsn)

    async def fail_after_insert() -> None:
        async with db.transaction(pool) as conn:
            await conn.execute("INSERT INTO notes VALUES (2)")
            raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        await fail_after_insert()
    await pool.close()
    assert await _notes(dsn) == []


async def test_a_failure_after_the_commit_is_not_the_transactions(dsn: str) -> None:
    """asyncpg resets a connection on its way back to the pool and re-raises if that fails."""

    async def broken_reset(conn: asyncpg.Connection) -> None:
        raise ConnectionResetError("the server went away after the commit")

    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=broken_reset)
    async with db.transaction(pool) as conn:
        await conn.execute("INSERT INTO notes VALUES (3)")
    await pool.close()
    assert await _notes(dsn) == [3]


async def test_a_connection_lost_at_commit_is_uncertain(dsn: str) -> None:
    pool = await db.create_pool(dsn)
    killer = await asyncpg.connect(dsn)

    async def die_before_commit() -> None:
        async with db.transaction(pool) as conn:
            await conn.execute("INSERT INTO notes VALUES (4)")
            # the backend dies between the block's last statement and its COMMIT
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())

    with pytest.raises(db.CommitUncertain, match="during COMMIT"):
        await die_before_commit()
    await killer.close()
    await pool.close()
    assert await _notes(dsn) == []


async def test_a_connection_lost_inside_the_block_is_an_ordinary_failure(dsn: str) -> None:
    pool = await db.create_pool(dsn)
    killer = await asyncpg.connect(dsn)

    async def die_inside() -> None:
        async with db.transaction(pool) as conn:
            assert await killer.fetchval("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            await conn.execute("INSERT INTO notes VALUES (5)")

    with pytest.raises((OSError, asyncpg.PostgresError, asyncpg.InterfaceError)) as caught:
        await die_inside()
    assert not isinstance(caught.value, db.CommitUncertain)
    await killer.close()
    await pool.close()
    assert await _notes(dsn) == []
