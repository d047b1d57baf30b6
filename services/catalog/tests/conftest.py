"""Fixtures shared by the catalog's tests: a migrated read model in a schema of its own, filled
by the test module, and the indexes a query plan reads."""

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import asyncpg
import pytest

from docuvault.catalog import bootstrap
from docuvault.runtime import db

#: ``async with read_model_of(fill_sql, *args) as pool``
ReadModelOf = Callable[..., AbstractAsyncContextManager[asyncpg.Pool]]


@pytest.fixture(scope="session")
def read_model_of(scratch_database: str) -> ReadModelOf:
    """The catalog's migrations in a fresh schema, ``fill_sql`` run with ``args``, vacuumed and
    analysed; the schema is dropped afterwards."""

    @asynccontextmanager
    async def build(fill: str, *args: Any) -> AsyncIterator[asyncpg.Pool]:
        schema = f"read_model_{uuid.uuid4().hex[:10]}"
        admin = await asyncpg.connect(scratch_database)
        # as infra/postgres/roles.sql does for the catalog's database (superuser only)
        await admin.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        await admin.execute(f'CREATE SCHEMA "{schema}"')
        pool = None
        try:
            await db.migrate(f"{scratch_database}?search_path={schema}", bootstrap.MIGRATIONS)
            pool = await asyncpg.create_pool(
                scratch_database, min_size=1, max_size=2, server_settings={"search_path": schema}
            )
            assert pool is not None
            await pool.execute(fill, *args)
            # as autovacuum does after inserts: GIN entries leave the pending list (a bulk load
            # sits there until then, and the planner rightly shuns reading all of it)
            await pool.execute("VACUUM ANALYZE documents")
            yield pool
        finally:
            if pool is not None:
                await pool.close()
            await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            await admin.close()

    return build


@pytest.fixture(scope="session")
def plan_indexes() -> Callable[[dict[str, Any]], set[str]]:
    """The names of the indexes an ``EXPLAIN (FORMAT JSON)`` plan node and its children read."""

    def indexes(plan: dict[str, Any]) -> set[str]:
        found = {plan["Index Name"]} if "Index Name" in plan else set()
        for child in plan.get("Plans", []):
            found |= indexes(child)
        return found

    return indexes
