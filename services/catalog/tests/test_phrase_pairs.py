"""Migration 0008's pair index narrows a phrase of two common words to the documents holding
it, and gives the very answers the phrase gives without it.

A read model of 20,000 documents, every one of which holds both "harbour" and "pilot", but
only one in 500 the phrase "harbour pilot" (vacuumed and analysed), queried with the SQL the
listing runs (``build_list_sql``) after the adapter's pair lookup.
"""

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import pytest

from docuvault.catalog import search
from docuvault.catalog.adapters.documents import MATCHES_ONLY, select_sql, with_phrase_pairs
from docuvault.catalog.listing import ListQuery, build_list_sql
from docuvault.runtime import db

#: the shared fixtures' types (conftest.py)
ReadModelOf = Callable[..., AbstractAsyncContextManager[asyncpg.Pool]]
PlanIndexes = Callable[[dict[str, Any]], set[str]]
OWNER = uuid.uuid4()
EVERY = 500
FILL = """
INSERT INTO documents (document_id, owner_id, uploaded_at, filename, status, search_config,
                       search_text)
SELECT gen_random_uuid(), $1::uuid, now() - i * interval '1 second', 'note-' || i || '.txt',
       'extracted', 'english',
       CASE WHEN i % $2 = 0 THEN 'the harbour pilot came aboard at dawn'
            ELSE 'a pilot flew over the harbour at dawn' END
  FROM generate_series(1, 20000) AS i
"""


@pytest.fixture(scope="module")
async def read_model(read_model_of: ReadModelOf) -> AsyncIterator[asyncpg.Pool]:
    async with read_model_of(FILL, OWNER, EVERY) as pool:
        yield pool


async def _matches(pool: asyncpg.Pool, query: ListQuery) -> tuple[set[uuid.UUID], dict[str, Any]]:
    """The ids the ``matches`` strategy ranks, and its plan."""
    sql, params = build_list_sql(select_sql(), OWNER, query, "matches")
    async with db.transaction(pool) as conn:
        await conn.execute(MATCHES_ONLY)
        plan = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *params)
        rows = await conn.fetch(sql, *params)
    return {r["document_id"] for r in rows}, json.loads(plan)[0]["Plan"]


async def test_a_phrase_is_looked_up_as_its_pairs(read_model: asyncpg.Pool) -> None:
    async with read_model.acquire() as conn:
        query = await with_phrase_pairs(conn, ListQuery(text='"harbour pilot"', limit=100))
    assert query.phrase_pairs is not None
    # every configuration's pairs, ORed: a document matches as its own configuration reads it
    assert "('harbour pilot')" in query.phrase_pairs.split(" | ")


async def test_quotes_and_backslashes_in_a_phrase_stay_lexemes(read_model: asyncpg.Pool) -> None:
    text = "the o'neil family \\ o'neil smith walked back\\slash path home"
    async with read_model.acquire() as conn:
        query = await with_phrase_pairs(conn, ListQuery(text='"o\'neil smith" "back\\slash path"'))
        assert query.phrase_pairs is not None
        held = await conn.fetchval(
            "SELECT public.lexeme_pairs(to_tsvector('english', $1)) @@ $2::tsquery",
            text,
            query.phrase_pairs,
        )
    assert held


async def test_a_phrase_with_stop_words_between_its_words_requires_no_pair(
    read_model: asyncpg.Pool,
) -> None:
    """In English "minutes of the board" is 'minut' <3> 'board': no two of its words are
    adjacent, so a match need not hold any pair, and none is required."""
    async with read_model.acquire() as conn:
        query = await with_phrase_pairs(conn, ListQuery(text='"minutes of the board"'))
    assert query.phrase_pairs is None


async def test_the_pair_index_gives_the_phrases_answer(
    read_model: asyncpg.Pool, plan_indexes: PlanIndexes
) -> None:
    plain = ListQuery(text='"harbour pilot" dawn', sort="-relevance", limit=100)
    async with read_model.acquire() as conn:
        paired = await with_phrase_pairs(conn, plain)
    assert paired.phrase_pairs
    found, plan = await _matches(read_model, paired)
    indexes = plan_indexes(plan)
    # the pair index alone: not also every configuration's scan of both words' posting lists
    assert "documents_search_pairs" in indexes
    assert "documents_search" not in indexes
    assert len(found) == 20000 // EVERY
    assert (await _matches(read_model, plain))[0] == found


@pytest.mark.parametrize(
    "text",
    [
        '"pilot flew"',  # every other document: still every match
        '"harbour pilot" OR aboard',  # an alternative: no pair is required
        'dawn -"harbour pilot"',  # a negated phrase requires nothing
        '"the harbour"',  # one word once stop words are gone: no pair
    ],
)
async def test_pairs_never_change_the_answer(read_model: asyncpg.Pool, text: str) -> None:
    plain = ListQuery(text=text, sort="-relevance", limit=100)
    async with read_model.acquire() as conn:
        paired = await with_phrase_pairs(conn, plain)
    sql, params = build_list_sql(select_sql(), OWNER, paired)
    plain_sql, plain_params = build_list_sql(select_sql(), OWNER, plain)
    ids = {r["document_id"] for r in await read_model.fetch(sql, *params)}
    assert ids == {r["document_id"] for r in await read_model.fetch(plain_sql, *plain_params)}
    assert ids  # every query here matches something


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ('"solar panels" roof', ["solar panels"]),
        ('"solar panels" "garden shed"', ["solar panels", "garden shed"]),
        ('"solar panels" OR roof', []),
        ('"solar panels" or roof', []),
        ('roof -"solar panels"', []),
        ('"solar"', []),  # one word: no pair
        ('"solar panels', []),  # unterminated: read as words
        ('"orchard trees" orbit', ["orchard trees"]),  # "or" only as a word of its own
    ],
)
def test_required_phrases(text: str, phrases: list[str]) -> None:
    assert search.required_phrases(text) == phrases


def test_the_pairs_replace_the_configuration_branches() -> None:
    query = dataclasses.replace(ListQuery(text='"a b"'), phrase_pairs="('a b')")
    sql, params = build_list_sql(select_sql(), OWNER, query)
    assert sql.count("search_pairs @@") == 1
    assert "'simple'::regconfig" not in sql
    assert "('a b')" in params
    plain, _ = build_list_sql(select_sql(), OWNER, ListQuery(text='"a b"'))
    assert "search_pairs" not in plain
    assert "'simple'::regconfig" in plain
