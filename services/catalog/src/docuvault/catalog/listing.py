"""Listing documents: filters, sort orders and keyset (cursor) pagination.

A cursor holds the sort key and id of the last item seen, so pages stay stable while documents
arrive: new documents never shift what the next page returns.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from docuvault.catalog import search
from docuvault.catalog.domain import Document

#: sort key → SQL expression; never NULL, so that row comparisons work for keyset pages
SORT_SQL: dict[str, str] = {
    "uploaded_at": "COALESCE(uploaded_at, '-infinity'::timestamptz)",
    "filename": "COALESCE(lower(filename), '')",
    "size_bytes": "COALESCE(size_bytes, -1)",
    "page_count": "COALESCE(page_count, -1)",
    "relevance": "rank",
}


#: how the filename filter's condition starts (``where_sql``)
FILENAME_SQL = "lower(filename) ILIKE"
#: the statuses of a document with a failure; spelt as in migration 0007's partial index, whose
#: predicate the planner must see implied by the filter
FAILED_SQL = "status IN ('extraction_failed', 'classification_failed')"


def like_pattern(text: str) -> str:
    """``%text%`` for ``LIKE``/``ILIKE``, the user's ``\\``, ``%`` and ``_`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class BadQuery(ValueError):
    """A query parameter that cannot be honoured; the message names it."""


@dataclass(frozen=True)
class ListQuery:
    sort: str = "-uploaded_at"
    limit: int = 20
    cursor: str | None = None
    topics: list[uuid.UUID] = field(default_factory=list)
    topic_mode: Literal["any", "all", "none"] = "any"
    statuses: list[str] = field(default_factory=list)
    content_type: str | None = None
    uploaded_after: datetime | None = None
    uploaded_before: datetime | None = None
    #: ``q``: web-search syntax
    text: str | None = None
    #: True: only documents whose extraction or classification failed; False: only the others
    has_failure: bool | None = None
    #: only the documents recorded as duplicates of this one
    duplicate_of: uuid.UUID | None = None
    #: a case-insensitive substring of the filename (``%``, ``_`` and ``\\`` are literal)
    filename: str | None = None
    #: the tsquery of the lexeme pairs of ``text``'s phrases (``search.PAIRS_SQL``: the
    #: database stems them; set by the adapter, not by the client)
    phrase_pairs: str | None = None

    @property
    def sort_key(self) -> str:
        key = self.sort.removeprefix("-")
        if key not in SORT_SQL:
            raise BadQuery(f"sort: unknown key {key!r}; use one of {', '.join(SORT_SQL)}")
        if key == "relevance" and not self.text:
            raise BadQuery("sort: relevance needs a search query q")
        return key

    @property
    def descending(self) -> bool:
        """``relevance`` lists the best match first; other keys ascend unless prefixed ``-``."""
        if self.sort_key == "relevance":
            return not self.sort.startswith("-")
        return self.sort.startswith("-")


#: relevance ranks at most this many matches (see ``build_list_sql``)
RANK_WINDOW = 200
#: the ``recent`` strategy looks for matches among this many newest documents at most
SCAN_CAP = 2000
Strategy = Literal["recent", "matches"]
#: below this many expected matches the ``matches`` strategy goes first (a term the planner's
#: statistics do not list is rarer than every term they do, and is expected rare)
FEW_MATCHES = 20_000


def sort_sql(q: ListQuery) -> str:
    return SORT_SQL[q.sort_key]


def encode_cursor(sort: str, key: Any, document_id: uuid.UUID) -> str:
    if isinstance(key, datetime):
        key = {"t": key.isoformat()}
    raw = json.dumps([sort, key, str(document_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, key, document_id = json.loads(raw)
        if isinstance(key, dict):
            key = datetime.fromisoformat(key["t"])
        parsed = uuid.UUID(document_id)
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise BadQuery("cursor: not a cursor this API returned") from exc
    if cursor_sort != sort:
        raise BadQuery("cursor: it belongs to another sort order; start without a cursor")
    return key, parsed


class Params(list[Any]):
    """Query parameters; ``add`` returns the placeholder of the value it appends."""

    def add(self, value: Any) -> str:
        self.append(value)
        return f"${len(self)}"


def where_sql(q: ListQuery, params: Params) -> tuple[list[str], str | None]:
    """The filters of ``q`` (owner ``$1``, live documents only) and, with ``q.text``, its
    match; returns them and the row's tsquery expression (None without text)."""
    param = params.add
    where = ["owner_id = $1", "deleted_at IS NULL"]
    if q.topics:
        ids = param(q.topics)
        where.append(
            {
                "any": f"topic_ids && {ids}::uuid[]",
                "all": f"topic_ids @> {ids}::uuid[]",
                "none": f"NOT (topic_ids && {ids}::uuid[])",
            }[q.topic_mode]
        )
    if q.statuses:
        where.append(f"status = ANY({param(q.statuses)}::text[])")
    if q.content_type:
        where.append(f"content_type = {param(q.content_type)}")
    # on the upload-time index's expression, so that a date range bounds the index walk
    uploaded = SORT_SQL["uploaded_at"]
    if q.uploaded_after:
        where.append(f"{uploaded} >= {param(q.uploaded_after)}")
    if q.uploaded_before:
        where.append(f"{uploaded} < {param(q.uploaded_before)} AND uploaded_at IS NOT NULL")
    if q.has_failure is not None:
        where.append(FAILED_SQL if q.has_failure else f"NOT ({FAILED_SQL})")
    if q.duplicate_of:
        where.append(f"duplicate_of = {param(q.duplicate_of)}")
    if q.filename:
        # on the trigram index's expression (migration 0007); ILIKE folds case on both sides
        where.append(f"{FILENAME_SQL} {param(like_pattern(q.filename))}")
    if not q.text:
        return where, None
    rest, prefixes = search.split_prefixes(q.text)
    text = param(rest)
    prefix = param(prefixes) if prefixes else None
    pairs = param(q.phrase_pairs) if q.phrase_pairs else None
    where.append(search.match_sql(text, prefix, pairs))
    return where, search.row_query_sql(text, prefix)


def build_list_sql(
    select: str,
    owner_id: uuid.UUID,
    q: ListQuery,
    strategy: Strategy = "recent",
    *,
    walk: bool = False,
) -> tuple[str, list[Any]]:
    """The page query: filters, the sort key as ``sort_value``, and with ``q`` rank and snippet.

    Every sort key has an index on its very expression (migration 0006), so a page, however
    deep its cursor, reads about ``limit`` index entries. Ranks are computed for matching rows
    only, snippets for the page only.

    **Relevance is ranked within a bounded window** of ``RANK_WINDOW`` matches, never over every
    match: a term in half of a million documents would otherwise be scored 500,000 times per
    page (≈ 4 µs each, and each match's vector read). ``strategy`` says which matches:

    - ``recent``: the newest matches among the ``SCAN_CAP`` newest documents (an upload-time
      index walk that checks at most ``SCAN_CAP`` rows). Good for common terms; the column
      ``candidates`` < ``RANK_WINDOW`` says the window did not fill, and then
    - ``matches``: the first ``RANK_WINDOW`` matches the GIN index yields (run with bitmap
      scans only): every match of a rarer term, ranked exactly; for a term of a few per cent a
      bounded sample in storage order. Taken first when the planner expects fewer than
      ``FEW_MATCHES`` matches (``count_estimate_sql``).

    **A filename filter** (without ``q``) is served by its trigram index, whose matches are
    then sorted: cheap for a rare part of a name, not for a common one (``pdf``, ``scan``: a
    tenth of every owner's documents), and the planner cannot tell them apart (it estimates a
    substring's frequency from a few characters). ``walk`` is the page for common parts:
    the next ``SCAN_CAP`` documents in page order at most, filtered by name afterwards. Its
    rows have a column ``walked`` (< ``SCAN_CAP``: there was nothing further), and there is
    one row even when no name matches: with ``walked`` and NULL in every other column.
    """
    params = Params([owner_id])
    param = params.add
    where, query = where_sql(q, params)
    columns = select.removeprefix("SELECT ").removesuffix(" FROM documents")
    direction = "DESC" if q.descending else "ASC"
    op = "<" if q.descending else ">"
    cursor = decode_cursor(q.cursor, q.sort) if q.cursor else None
    if query is None:
        expr = sort_sql(q)
        if cursor:
            where.append(f"({expr}, document_id) {op} ({param(cursor[0])}, {param(cursor[1])})")
        order = f"ORDER BY {expr} {direction}, document_id {direction}"
        if not walk:
            return (
                f"SELECT {columns}, {expr} AS sort_value FROM documents"
                f" WHERE {' AND '.join(where)} {order} LIMIT {param(q.limit + 1)}",
                params,
            )
        named = [w for w in where if w.startswith(FILENAME_SQL)]
        others = [w for w in where if w not in named]
        # the walk keeps names and keys only; the page's rows are read afterwards. One row at
        # least: the count walked, with the page's rows (none: NULL in every other column)
        matches = (
            f"SELECT document_id AS match_id, sort_value FROM w WHERE {' AND '.join(named)}"
            f" ORDER BY sort_value {direction}, document_id {direction}"
            f" LIMIT {param(q.limit + 1)}"
        )
        return (
            f"WITH w AS MATERIALIZED (SELECT document_id, filename, {expr} AS sort_value"
            f" FROM documents WHERE {' AND '.join(others)} {order} LIMIT {SCAN_CAP})"
            " SELECT page.*, c.walked FROM (SELECT count(*) AS walked FROM w) AS c"
            f" LEFT JOIN LATERAL (SELECT {columns}, sort_value FROM documents"
            f" JOIN ({matches}) AS m ON document_id = m.match_id) AS page ON true"
            f" ORDER BY page.sort_value {direction}, page.document_id {direction}",
            params,
        )
    found = (
        f"{columns}, search_config, search_text, filename AS search_filename, search_vector,"
        f" {query} AS query"
    )
    if q.sort_key == "relevance":
        newest = SORT_SQL["uploaded_at"]
        if strategy == "recent":  # the newest matches among the newest SCAN_CAP documents
            window = (
                f"SELECT {found} FROM (SELECT * FROM documents WHERE {' AND '.join(where[:-1])}"
                f" ORDER BY {newest} DESC, document_id DESC LIMIT {SCAN_CAP}) AS recent"
                f" WHERE {where[-1]} ORDER BY {newest} DESC, document_id DESC"
                f" LIMIT {RANK_WINDOW}"
            )
        else:  # the first matches the index gives (all of them when there are few)
            window = (
                f"SELECT {found} FROM documents WHERE {' AND '.join(where)} LIMIT {RANK_WINDOW}"
            )
        ranked = (
            "SELECT *, ts_rank_cd(search_vector, query) AS rank,"
            f" count(*) OVER () AS candidates FROM ({window}) AS w"
        )
        keyset = ""
        if cursor:
            keyset = f" WHERE (rank, document_id) {op} ({param(cursor[0])}, {param(cursor[1])})"
        page = (
            f"SELECT *, rank AS sort_value FROM ({ranked}) AS r{keyset}"
            f" ORDER BY rank {direction}, document_id {direction} LIMIT {param(q.limit + 1)}"
        )
    else:
        expr = sort_sql(q)
        if cursor:
            where.append(f"({expr}, document_id) {op} ({param(cursor[0])}, {param(cursor[1])})")
        page = (
            f"SELECT {found}, {expr} AS sort_value FROM documents WHERE {' AND '.join(where)}"
            f" ORDER BY {expr} {direction}, document_id {direction} LIMIT {param(q.limit + 1)}"
        )
        page = (
            "SELECT *, ts_rank_cd(search_vector, query) AS rank, NULL::bigint AS candidates"
            f" FROM ({page}) AS p"
        )
    headline = search.headline_sql("page.query")
    return (  # everything but the search columns (the vector is large)
        f"SELECT {columns}, sort_value, rank, candidates, {headline} AS snippet"
        f" FROM ({page}) AS page"
        f" ORDER BY page.sort_value {direction}, page.document_id {direction}",
        params,
    )


def count_estimate_sql(owner_id: uuid.UUID, q: ListQuery) -> tuple[str, list[Any]]:
    """``EXPLAIN`` of the query's matches: the planner's estimate, no rows read."""
    params = Params([owner_id])
    where, _ = where_sql(q, params)
    return f"EXPLAIN (FORMAT JSON) SELECT 1 FROM documents WHERE {' AND '.join(where)}", params


@dataclass(frozen=True)
class Listed:
    doc: Document
    rank: float | None = None
    snippet: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Listed]
    next_cursor: str | None

    @classmethod
    def from_rows(cls, docs: list[Document], raw: list[dict[str, Any]], q: ListQuery) -> Page:
        items = [
            Listed(doc, r.get("rank"), search.snippet(r.get("snippet")) if q.text else None)
            for doc, r in zip(docs, raw, strict=True)
        ]
        if len(items) <= q.limit:
            return cls(items, None)
        last = raw[q.limit - 1]
        cursor = encode_cursor(q.sort, last["sort_value"], last["document_id"])
        return cls(items[: q.limit], cursor)
