"""Migration 0007's indexes serve the listing's new filters, and a database without pg_trgm is
refused with a clear message at migration and at start (not at the first filename search).

The plans are read from a read model of 40,000 documents of four owners (vacuumed and
analysed), with the very SQL the listing runs (``build_list_sql``) and the planner's settings
untouched.
"""

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest

from docuvault.catalog import bootstrap
from docuvault.catalog.adapters.documents import PostgresCatalog, select_sql
from docuvault.catalog.listing import ListQuery, build_list_sql
from docuvault.runtime import db

#: the shared fixtures' types (conftest.py)
ReadModelOf = Callable[..., AbstractAsyncContextManager[asyncpg.Pool]]
PlanIndexes = Callable[[dict[str, Any]], set[str]]
OWNERS = [uuid.uuid4() for _ in range(4)]
ORIGINAL = uuid.uuid4()
#: every 1000th document is a "budget" file, every 200th failed, every 500th a duplicate (all
#: of them the first owner's: i % 4 == 0)
FILL = """
INSERT INTO documents (document_id, owner_id, uploaded_at, filename, status, duplicate_of)
SELECT gen_random_uuid(), ($1::uuid[])[1 + i % 4], now() - i * interval '1 second',
       'scan-' || i || CASE WHEN i % 1000 = 0 THEN '-Budget_50%.pdf' ELSE '.pdf' END,
       CASE WHEN i % 200 = 0 THEN 'extraction_failed' ELSE 'classified' END,
       CASE WHEN i % 500 = 0 THEN $2::uuid END
  FROM generate_series(1, 40000) AS i
"""


@pytest.fixture(scope="module")
async def read_model(read_model_of: ReadModelOf) -> AsyncIterator[asyncpg.Pool]:
    async with read_model_of(FILL, OWNERS, ORIGINAL) as pool:
        yield pool


async def _plan(pool: asyncpg.Pool, query: ListQuery, plan_indexes: PlanIndexes) -> set[str]:
    sql, params = build_list_sql(select_sql(), OWNERS[0], query)
    raw = await pool.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)
    return plan_indexes(json.loads(raw)[0]["Plan"])


@pytest.mark.parametrize(
    ("query", "index"),
    [
        (ListQuery(filename="budget_50%"), "documents_filename_trgm"),
        (ListQuery(filename="BUDGET", sort="filename"), "documents_filename_trgm"),
        (ListQuery(has_failure=True), "documents_owner_failed"),
        (ListQuery(has_failure=True, sort="-size_bytes"), "documents_owner_failed"),
        (ListQuery(duplicate_of=ORIGINAL), "documents_owner_duplicate_of"),
    ],
)
async def test_the_listing_uses_the_filters_index(
    read_model: asyncpg.Pool, plan_indexes: PlanIndexes, query: ListQuery, index: str
) -> None:
    assert index in await _plan(read_model, query, plan_indexes)


async def test_the_filename_filter_finds_literal_substrings_only(read_model: asyncpg.Pool) -> None:
    sql, params = build_list_sql(select_sql(), OWNERS[0], ListQuery(filename="T_50%", limit=100))
    found = await read_model.fetch(sql, *params)
    assert len(found) == 40
    assert all("-Budget_50%.pdf" in r["filename"] for r in found)
    sql, params = build_list_sql(select_sql(), OWNERS[0], ListQuery(filename="T-50"))
    assert await read_model.fetch(sql, *params) == []


@pytest.fixture
async def without_trgm(scratch_database: str) -> AsyncIterator[str]:
    """A database of its own without the extension; returns its DSN."""
    name = f"no_trgm_{uuid.uuid4().hex[:10]}"
    admin = await asyncpg.connect(scratch_database)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield scratch_database.rsplit("/", 1)[0] + f"/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def test_without_pg_trgm_migration_and_start_fail_clearly(without_trgm: str) -> None:
    with pytest.raises(asyncpg.RaiseError, match="extension pg_trgm is missing") as raised:
        await db.migrate(without_trgm, bootstrap.MIGRATIONS)
    assert "CREATE EXTENSION pg_trgm" in str(raised.value.hint)
    pool = await asyncpg.create_pool(without_trgm, min_size=0, max_size=1)
    assert pool is not None
    try:
        with pytest.raises(bootstrap.MissingExtension, match="pg_trgm"):
            await bootstrap.require_extensions(pool)
    finally:
        await pool.close()


@pytest.mark.parametrize(
    "query",
    [
        # common: the bounded walk fills each page
        ListQuery(filename="SCAN-1", limit=7),
        ListQuery(filename="scan-1", sort="-filename", limit=50),
        # rare near the top (8 of the newest 2,000): the walk does not fill a page, the
        # trigram index gives every match
        ListQuery(filename="budget_50%"),
        ListQuery(filename="budget_50%", sort="size_bytes", limit=15),
        ListQuery(filename="budget_50%", has_failure=True, limit=3),
        ListQuery(filename="nowhere"),
    ],
)
async def test_every_page_of_a_filename_filter_is_the_plain_querys(
    read_model: asyncpg.Pool, query: ListQuery
) -> None:
    """Pages by the walk or by the trigram index, across cursors, are those of one plain
    query for everything."""
    everything = dataclasses.replace(query, limit=50_000)
    sql, params = build_list_sql(select_sql(), OWNERS[0], everything)
    expected = [r["document_id"] for r in await read_model.fetch(sql, *params)]
    catalog = PostgresCatalog(read_model)
    listed: list[uuid.UUID] = []
    page = await catalog.list(OWNERS[0], query)
    for _ in range(4):
        listed += [i.doc.document_id for i in page.items]
        if page.next_cursor is None:
            break
        page = await catalog.list(OWNERS[0], dataclasses.replace(query, cursor=page.next_cursor))
    assert listed == expected[: len(listed)]
    assert len(listed) == min(len(expected), 4 * query.limit)
