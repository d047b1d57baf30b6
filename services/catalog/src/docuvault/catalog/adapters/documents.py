"""The catalog's database: projections (with the inbox) and document queries.

Every change of the read model goes through ``project_event``, whether the event came from the
bus or was emitted by the catalog itself (a command writes its event to the outbox and projects
it in the same transaction): so replaying the history (``rebuild``) gives exactly the rows the
live catalog has.

Events consumed from the bus are projected in **group commits**: the consumer handles up to
``prefetch`` messages at once, and the events that arrive while a transaction is running are
projected together in the next one (``project_events``: a few statements for the whole group,
the result of projecting them one by one). A message is still acked only after the transaction
holding its event has committed. Should a group fail, each of its events is projected again in
a transaction of its own, so that one bad event cannot hold the others back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from docuvault.catalog import discovery, domain, search
from docuvault.catalog.adapters import rows
from docuvault.catalog.handlers import CONSUMER
from docuvault.catalog.listing import (
    FEW_MATCHES,
    RANK_WINDOW,
    SCAN_CAP,
    Listed,
    ListQuery,
    Page,
    build_list_sql,
    count_estimate_sql,
)
from docuvault.contracts import CloudEvent, EventData
from docuvault.contracts.events import (
    AuditRecorded,
    ClassificationSettingsChanged,
    DocumentEvent,
    TopicDeleted,
    TopicUpserted,
)
from docuvault.runtime import db, outbox

_UPSERT = rows.upsert_sql()
_SELECT = f"SELECT {', '.join(rows.COLUMNS)} FROM documents"
#: what the catalog projects; other events (auth.token_revoked.v1, rebuild markers …) leave
#: no trace, not even in the inbox
PROJECTED = (
    DocumentEvent,
    TopicUpserted,
    TopicDeleted,
    ClassificationSettingsChanged,
    AuditRecorded,
)

#: a page's planner settings. Planned for these very values: how common a search term is
#: decides the plan (a generic plan would walk a 50 % term's whole posting list, or scan for a
#: rare one). No JIT: a page's estimated cost often passes jit_above_cost, and compiling took
#: 40 to 50 ms of a phrase page's 70 at a million documents. No parallel workers: they start for a
#: window of 200 rows, on a machine whose cores serve other requests (27 ms instead of 12 measured)
LIST_SETTINGS = (
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL jit = off;"
    " SET LOCAL max_parallel_workers_per_gather = 0"
)
#: the planner settings of the ``matches`` strategy (bitmap scans of the GIN index only)
MATCHES_ONLY = "SET LOCAL enable_indexscan = off; SET LOCAL enable_seqscan = off"


def _flat(built: tuple[str, list[Any]]) -> list[Any]:
    return [built[0], *built[1]]


async def with_phrase_pairs(conn: outbox.Connection, query: ListQuery) -> ListQuery:
    """``query`` with the lexeme pairs of its phrases, when it has any (one round trip)."""
    phrases = search.required_phrases(query.text or "")
    if not phrases:
        return query
    pairs = await conn.fetchval(search.PAIRS_SQL, list(search.ALL_CONFIGS), phrases)
    return dataclasses.replace(query, phrase_pairs=pairs)


def select_sql() -> str:
    """``SELECT <every column Document needs> FROM documents`` (for ``build_list_sql``)."""
    return _SELECT


log = logging.getLogger("docuvault.catalog")
#: events projected in one group commit at most
MAX_GROUP = 64


@dataclass
class Facets:
    """How many documents a query matches, in all and per status and topic."""

    total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    topics: dict[uuid.UUID, int] = field(default_factory=dict)


@dataclass(eq=False)
class _Waiting:
    """An event waiting for a group commit, and where its outcome goes."""

    consumer: str
    event: CloudEvent[EventData]
    search_text: str | None
    outcome: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class PostgresCatalog:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self._waiting: list[_Waiting] = []
        self._committing = asyncio.Lock()

    async def check(self) -> None:
        async with self.pool.acquire(timeout=3) as conn:
            await conn.fetchval("SELECT 1")

    # --- projections -----------------------------------------------------------------------
    async def project(
        self, consumer: str, event: CloudEvent[EventData], search_text: str | None = None
    ) -> bool:
        """Apply an event once (inbox); returns False when it was already applied.

        ``search_text`` is the (capped) text of a ``text_extracted`` event, kept for search
        when that event is the document's current extraction. Returns once the transaction
        that applied it has committed; the events of concurrent calls share transactions.
        """
        mine = _Waiting(consumer, event, search_text)
        self._waiting.append(mine)
        try:
            async with self._committing:  # one group at a time, FIFO
                while not mine.outcome.done():  # no group took it yet: lead the next one
                    group = self._waiting[:MAX_GROUP]
                    del self._waiting[:MAX_GROUP]
                    await self._commit(group)
        except asyncio.CancelledError:
            if mine in self._waiting:
                self._waiting.remove(mine)
            raise
        return await mine.outcome

    async def _commit(self, group: list[_Waiting]) -> None:
        """Project the group in one transaction; if that fails, each event in its own."""
        try:
            try:
                outcomes = await self._project_group(group)
            except Exception as exc:
                if len(group) == 1:
                    group[0].outcome.set_exception(exc)
                    return
                log.warning("%d events projected together failed (%s); one by one", len(group), exc)
                for waiting in group:
                    await self._commit([waiting])
                return
            for waiting in group:
                waiting.outcome.set_result(outcomes[waiting])
        finally:  # cancelled (shutdown): the callers are told; their messages are redelivered
            for waiting in group:
                if not waiting.outcome.done():
                    waiting.outcome.set_exception(RuntimeError("projection interrupted"))

    async def _project_group(self, group: list[_Waiting]) -> dict[_Waiting, bool]:
        outcomes: dict[_Waiting, bool] = {}
        async with db.transaction(self.pool) as conn:
            for consumer in dict.fromkeys(w.consumer for w in group):
                ours = [w for w in group if w.consumer == consumer]
                applied = await project_events(
                    conn, consumer, [w.event for w in ours], [w.search_text for w in ours]
                )
                outcomes.update(zip(ours, applied, strict=True))
        return outcomes

    # --- queries ---------------------------------------------------------------------------
    async def get(self, owner_id: uuid.UUID, document_id: uuid.UUID) -> domain.Document | None:
        row = await self.pool.fetchrow(
            f"{_SELECT} WHERE document_id = $1 AND owner_id = $2 AND deleted_at IS NULL",
            document_id,
            owner_id,
        )
        return rows.from_row(row) if row else None

    async def history(self, document_id: uuid.UUID) -> list[asyncpg.Record]:
        return await self.pool.fetch(
            "SELECT type, time FROM document_history WHERE document_id = $1 ORDER BY time, type",
            document_id,
        )

    async def list(self, owner_id: uuid.UUID, query: ListQuery) -> Page:
        async with db.transaction(self.pool) as conn:
            await conn.execute(LIST_SETTINGS)
            found = await self._ranked(conn, owner_id, await with_phrase_pairs(conn, query))
        return Page.from_rows([rows.from_row(r) for r in found], [dict(r) for r in found], query)

    async def _ranked(
        self, conn: outbox.Connection, owner_id: uuid.UUID, query: ListQuery
    ) -> Sequence[asyncpg.Record]:
        """The page; by relevance, within the window of the strategy that suits the term; by
        name, from a bounded walk in page order if it fills the page (see ``build_list_sql``)."""
        if query.filename and not query.text:
            walked = await conn.fetch(*_flat(build_list_sql(_SELECT, owner_id, query, walk=True)))
            found = [r for r in walked if r["document_id"] is not None]
            if len(found) > query.limit or walked[0]["walked"] < SCAN_CAP:
                return found
            # few matches near the page: the trigram index finds them all, never a long walk
            await conn.execute(MATCHES_ONLY)
            return await conn.fetch(*_flat(build_list_sql(_SELECT, owner_id, query)))
        if not query.text or query.sort_key != "relevance":
            return await conn.fetch(*_flat(build_list_sql(_SELECT, owner_id, query)))
        plan = json.loads(await conn.fetchval(*_flat(count_estimate_sql(owner_id, query))))
        if plan[0]["Plan"]["Plan Rows"] >= FEW_MATCHES:
            found = await conn.fetch(*_flat(build_list_sql(_SELECT, owner_id, query)))
            if found and found[0]["candidates"] >= RANK_WINDOW:
                return found
        # take the matches from the GIN index, never from a walk (a rare term would read all)
        await conn.execute(MATCHES_ONLY)
        return await conn.fetch(*_flat(build_list_sql(_SELECT, owner_id, query, "matches")))

    async def facets(self, owner_id: uuid.UUID, query: ListQuery) -> Facets:
        async with db.transaction(self.pool) as conn:
            await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
            query = await with_phrase_pairs(conn, query)
            found = await conn.fetch(*_flat(discovery.build_facets_sql(owner_id, query)))
        facets = Facets()
        for r in found:
            if r["facet"] == "total":
                facets.total = r["count"]
            elif r["facet"] == "status":
                facets.statuses[r["value"]] = r["count"]
            else:
                facets.topics[uuid.UUID(r["value"])] = r["count"]
        return facets

    async def similar(self, owner_id: uuid.UUID, document_id: uuid.UUID, limit: int) -> Page:
        sql, params = discovery.build_similar_sql(_SELECT, owner_id, document_id, limit)
        found = await self.pool.fetch(sql, *params)
        return Page(
            [Listed(rows.from_row(r), r["rank"], search.snippet(r["snippet"])) for r in found],
            None,
        )

    async def topic_names(self, owner_id: uuid.UUID) -> dict[uuid.UUID, str]:
        """The owner's topics (deleted ones are tombstones and not listed)."""
        found = await self.pool.fetch(
            "SELECT topic_id, name FROM topics WHERE owner_id = $1 AND deleted_at IS NULL",
            owner_id,
        )
        return {r["topic_id"]: r["name"] for r in found}


# --- projections of one event, inside the caller's transaction ---------------------------------
async def emit(conn: outbox.Connection, *events: CloudEvent[Any]) -> None:
    """Project events the catalog emits and queue them in the outbox, in the caller's transaction.

    The catalog's own state changes go through the same projection as a replay of the history,
    so a rebuild reproduces them exactly; the inbox holds them too.
    """
    await project_events(conn, CONSUMER, events, [None] * len(events))
    await outbox.add(conn, *events)


async def project_event(
    conn: outbox.Connection,
    consumer: str,
    event: CloudEvent[EventData],
    search_text: str | None = None,
) -> bool:
    """Apply ``event`` once; False when the inbox shows it was applied already."""
    (applied,) = await project_events(conn, consumer, [event], [search_text])
    return applied


async def project_events(
    conn: outbox.Connection,
    consumer: str,
    events: Sequence[CloudEvent[EventData]],
    search_texts: Sequence[str | None],
) -> list[bool]:
    """``project_event`` for each event in turn, with a few statements per batch (a replay).

    Returns, per event, False when it had been applied already (the inbox, or earlier in the
    batch). Runs of document events are applied in memory and written together; a topic,
    settings or audit event first writes what came before it, so the result is the one of
    projecting the events one by one.
    """
    wanted = list(dict.fromkeys(e.id for e in events if isinstance(e.data, PROJECTED)))
    fresh = (
        {
            r["event_id"]
            for r in await conn.fetch(
                "INSERT INTO inbox (consumer, event_id) SELECT $1, unnest($2::uuid[])"
                " ON CONFLICT DO NOTHING RETURNING event_id",
                consumer,
                wanted,
            )
        }
        if wanted
        else set()
    )
    outcomes: list[bool] = []
    documents = _DocumentRun()
    for event, text in zip(events, search_texts, strict=True):
        data = event.data
        if not isinstance(data, PROJECTED):
            outcomes.append(True)
            continue
        if event.id not in fresh:
            outcomes.append(False)
            continue
        fresh.discard(event.id)  # a second copy in the batch is a duplicate
        outcomes.append(True)
        if isinstance(data, DocumentEvent):
            documents.add(event, text)
            continue
        await documents.write(conn)
        match data:
            case AuditRecorded():
                await _record_audit(conn, event.id, data)
            case TopicUpserted():
                await _topic_row(conn, event, data, deleted=False)
            case TopicDeleted():
                await _project_topic_deleted(conn, event, data)
            case ClassificationSettingsChanged():
                await _project_settings(conn, data)
    await documents.write(conn)
    return outcomes


class _DocumentRun:
    """Document events applied in memory, in order, then written with a few statements.

    Valid as long as no topic event comes in between (deleted topics are read once per run).
    """

    def __init__(self) -> None:
        self.items: list[tuple[CloudEvent[Any], str | None]] = []

    def add(self, event: CloudEvent[Any], search_text: str | None) -> None:
        self.items.append((event, search_text))

    async def write(self, conn: outbox.Connection) -> None:
        items, self.items = self.items, []
        if not items:
            return
        owners = {uuid.UUID(e.subject): e.data.owner_id for e, _ in items}
        docs = await _lock_documents(conn, owners)
        deleted_topics = await _deleted_topics(conn, items)
        changed: dict[uuid.UUID, domain.Document] = {}
        searches: dict[uuid.UUID, tuple[str | None, str]] = {}
        cleared: set[uuid.UUID] = set()
        history: list[tuple[uuid.UUID, uuid.UUID, str, datetime]] = []
        for event, text in items:
            document_id = uuid.UUID(event.subject)
            doc = docs.get(document_id) or domain.new_document(event)
            if doc.deleted:
                continue
            new = domain.apply(
                doc, event, deleted_topics=deleted_topics.get(doc.owner_id, domain.NO_TOPICS)
            )
            docs[document_id] = changed[document_id] = new
            if new.deleted:
                # nothing of a deleted document stays: neither its text nor its timeline
                searches[document_id] = (None, "simple")
                cleared.add(document_id)
                history = [h for h in history if h[1] != document_id]
            elif new.text is not doc.text or new.extract_state != doc.extract_state:
                language = new.text.language if new.text else None
                searches[document_id] = (
                    search.clean_text(text) if new.text and text else None,
                    search.config_for(language),
                )
            history.append((event.id, document_id, event.type, event.time))
        await conn.executemany(_UPSERT, [rows.to_values(d) for d in changed.values()])
        if searches:
            await conn.executemany(
                "UPDATE documents SET search_text = $2, search_config = $3::regconfig"
                " WHERE document_id = $1",
                [(d, text, config) for d, (text, config) in searches.items()],
            )
        if cleared:
            await conn.execute(
                "DELETE FROM document_history WHERE document_id = ANY($1::uuid[])", list(cleared)
            )
        if history:
            await conn.executemany(
                "INSERT INTO document_history (event_id, document_id, type, time)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                history,
            )


async def _lock_documents(
    conn: outbox.Connection, owners: dict[uuid.UUID, uuid.UUID]
) -> dict[uuid.UUID, domain.Document]:
    """The stored documents among ``owners`` (id → owner id), locked until the transaction ends.

    A document not stored yet gets a placeholder row, so that two transactions projecting the
    first events of one document queue on it instead of both inserting (the second would
    overwrite the first); the placeholder is replaced by the caller's upsert.
    """
    query = f"{_SELECT} WHERE document_id = ANY($1::uuid[]) ORDER BY document_id FOR UPDATE"
    found = await conn.fetch(query, list(owners))
    docs = {r["document_id"]: rows.from_row(r) for r in found}
    missing = [d for d in owners if d not in docs]
    if missing:
        created = await conn.fetch(
            "INSERT INTO documents (document_id, owner_id)"
            " SELECT * FROM unnest($1::uuid[], $2::uuid[]) ORDER BY 1"
            " ON CONFLICT DO NOTHING RETURNING document_id",
            missing,
            [owners[d] for d in missing],
        )
        ours = {r["document_id"] for r in created}
        raced = [d for d in missing if d not in ours]  # committed meanwhile by another
        if raced:
            docs.update(
                (r["document_id"], rows.from_row(r)) for r in await conn.fetch(query, raced)
            )
    return docs


async def _deleted_topics(
    conn: outbox.Connection, items: list[tuple[CloudEvent[Any], str | None]]
) -> dict[uuid.UUID, frozenset[uuid.UUID]]:
    """Owner → the deleted topics among those the events name."""
    named: set[uuid.UUID] = set()
    for event, _ in items:
        named |= domain.topics_named(event.data)
    if not named:
        return {}
    found = await conn.fetch(
        "SELECT owner_id, topic_id FROM topics WHERE deleted_at IS NOT NULL"
        " AND topic_id = ANY($1::uuid[])",
        list(named),
    )
    by_owner: dict[uuid.UUID, set[uuid.UUID]] = {}
    for r in found:
        by_owner.setdefault(r["owner_id"], set()).add(r["topic_id"])
    return {owner: frozenset(topics) for owner, topics in by_owner.items()}


_TOPIC_COLUMNS = (
    "topic_id, owner_id, name, description, color, keywords, match, version,"
    " created_at, updated_at, deleted_at"
)
_TOPIC_UPSERT = (
    f"INSERT INTO topics ({_TOPIC_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10)"
    " ON CONFLICT (topic_id) DO UPDATE SET name = EXCLUDED.name,"
    " description = EXCLUDED.description, color = EXCLUDED.color,"
    " keywords = EXCLUDED.keywords, match = EXCLUDED.match, version = EXCLUDED.version,"
    " updated_at = EXCLUDED.updated_at, deleted_at = EXCLUDED.deleted_at"
    " WHERE topics.version < EXCLUDED.version"
)


async def _topic_row(
    conn: outbox.Connection,
    event: CloudEvent[Any],
    data: TopicUpserted | TopicDeleted,
    deleted: bool,
) -> None:
    """Upsert the topic if the event's version is higher; created_at is its earliest event."""
    match = data.match.model_dump_json() if data.match is not None else None
    await conn.execute(
        _TOPIC_UPSERT,
        data.topic_id,
        data.owner_id,
        data.name or "",
        data.description or "",
        data.color,
        list(data.keywords),
        match or '{"algorithm": "none", "pattern": "", "case_sensitive": false}',
        data.version,
        event.time,
        event.time if deleted else None,
    )
    await conn.execute(
        "UPDATE topics SET created_at = $2 WHERE topic_id = $1 AND created_at > $2",
        data.topic_id,
        event.time,
    )


async def _project_topic_deleted(
    conn: outbox.Connection, event: CloudEvent[Any], data: TopicDeleted
) -> None:
    """A tombstone for the topic, and the topic gone from every document of the owner."""
    await _topic_row(conn, event, data, deleted=True)
    found = await conn.fetch(
        f"{_SELECT} WHERE owner_id = $1 AND deleted_at IS NULL"
        " AND ($2 = ANY(COALESCE(manual_topic_ids, '{}')) OR classifier_topics @> $3::jsonb"
        " OR suggestions @> $3::jsonb) ORDER BY document_id FOR UPDATE",
        data.owner_id,
        data.topic_id,
        json.dumps([{"topic_id": str(data.topic_id)}]),
    )
    forgotten = [domain.forget_topic(rows.from_row(row), data.topic_id) for row in found]
    await conn.executemany(_UPSERT, [rows.to_values(doc) for doc in forgotten])


async def _project_settings(conn: outbox.Connection, data: ClassificationSettingsChanged) -> None:
    await conn.execute(
        "INSERT INTO classification_settings AS s"
        " (owner_id, provider, system_prompt, apply_threshold, version)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (owner_id) DO UPDATE SET"
        " provider = EXCLUDED.provider, system_prompt = EXCLUDED.system_prompt,"
        " apply_threshold = EXCLUDED.apply_threshold, version = EXCLUDED.version"
        " WHERE s.version < EXCLUDED.version",
        data.owner_id,
        data.provider,
        data.system_prompt,
        data.apply_threshold,
        data.version,
    )


async def _record_audit(conn: outbox.Connection, event_id: uuid.UUID, data: AuditRecorded) -> None:
    await conn.execute(
        "INSERT INTO audit_trail (event_id, owner_id, jti, action, target, remote_address,"
        " result, time) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
        event_id,
        data.actor.owner_id,
        data.actor.jti,
        data.action,
        data.target,
        data.remote_address,
        data.result,
        data.time,
    )
