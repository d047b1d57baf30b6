"""Facets of a query and "more like this": the SQL, built from the listing's filters.

Facets count per status and per topic over every document the query matches (filters and
``q``), with the total. "Similar" takes the document's most frequent words (lexemes of its
own search vector, as its language's configuration normalised them) and ranks the owner's
other documents by them, within the listing's bounded window of the newest matches.
"""

# ruff: noqa: S608 - SQL text is built from constants; every value is a parameter
from __future__ import annotations

import uuid
from typing import Any

from docuvault.catalog import search
from docuvault.catalog.listing import RANK_WINDOW, SORT_SQL, ListQuery, Params, where_sql

#: words of a document that make its "more like this" query
SIMILAR_TERMS = 12


def build_facets_sql(owner_id: uuid.UUID, q: ListQuery) -> tuple[str, list[Any]]:
    """Rows ``(facet, value, count)``: facet ``status`` or ``topic`` (value: the topic id), and
    one row ``total`` (value NULL)."""
    params = Params([owner_id])
    where, _ = where_sql(q, params)
    matching = f"SELECT status, topic_ids FROM documents WHERE {' AND '.join(where)}"
    return (
        f"WITH matching AS MATERIALIZED ({matching})"
        " SELECT 'total' AS facet, NULL AS value, count(*) AS count FROM matching"
        " UNION ALL SELECT 'status', status, count(*) FROM matching GROUP BY status"
        " UNION ALL SELECT 'topic', topic::text, count(*)"
        " FROM matching, unnest(topic_ids) AS topic GROUP BY topic",
        params,
    )


def build_similar_sql(
    select: str, owner_id: uuid.UUID, document_id: uuid.UUID, limit: int
) -> tuple[str, list[Any]]:
    """The owner's live documents sharing the most words with ``document_id`` (not itself),
    best first, with ``rank`` and ``snippet``; no rows if the document is not the owner's."""
    columns = select.removeprefix("SELECT ").removesuffix(" FROM documents")
    # the lexemes quoted for tsquery input ('' for a quote, \\ for a backslash), ORed
    quoted = "'''' || replace(replace(t.lexeme, '\\', '\\\\'), '''', '''''') || ''''"
    terms = (
        f"SELECT string_agg({quoted}, ' | ')::tsquery AS query FROM ("
        " SELECT u.lexeme FROM documents AS d, unnest(d.search_vector) AS u"
        " WHERE d.document_id = $2 AND d.owner_id = $1 AND d.deleted_at IS NULL"
        " AND length(u.lexeme) > 2 AND u.lexeme !~ '^[0-9]+$'"
        f" ORDER BY cardinality(u.positions) DESC, u.lexeme LIMIT {SIMILAR_TERMS}) AS t"
    )
    newest = SORT_SQL["uploaded_at"]
    window = (
        f"SELECT {columns}, search_config, search_text, filename AS search_filename,"
        " search_vector, terms.query"
        f" FROM documents, ({terms}) AS terms"
        " WHERE owner_id = $1 AND deleted_at IS NULL AND document_id <> $2"
        " AND search_vector @@ terms.query"
        f" ORDER BY {newest} DESC, document_id DESC LIMIT {RANK_WINDOW}"
    )
    ranked = (
        f"SELECT *, ts_rank_cd(search_vector, query) AS rank FROM ({window}) AS w"
        " ORDER BY rank DESC, document_id DESC LIMIT $3"
    )
    headline = search.headline_sql("page.query")
    return (
        f"SELECT {columns}, rank, {headline} AS snippet FROM ({ranked}) AS page"
        " ORDER BY rank DESC, document_id DESC",
        [owner_id, document_id, limit],
    )
