"""``make bench`` part ``catalog`` (issue 8): listing and search at a million documents.

A scratch database of the private PostgreSQL gets the catalog's migrations; ``catalog_data``
loads ``DOCUVAULT_BENCH_CATALOG_DOCS`` documents (default 1,000,000) through the projection.
Then, per query kind, ``QUERIES`` queries through the catalog's query code
(``PostgresCatalog.list``: SQL built by ``listing``, rows turned into documents, snippets made
safe) alternate with the very same SQL and parameters sent directly with asyncpg.

Timers: ``ours`` covers ``PostgresCatalog.list`` (pool acquire, the transaction that forces
custom plans, for a quoted phrase the lookup of its lexeme pairs, for a ranked search the
planner's estimate and one or two page queries — see
``listing.build_list_sql`` —, decoding every row into a Document, making snippets safe);
``raw`` covers the same statements sent with asyncpg on a connection already held, with the
same choice of strategy, rows left as records. Both run one at a time, alternating per query,
each on one connection warmed up by an untimed query.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import catalog_data as data
from bench.measure import percentile
from docuvault.catalog import bootstrap
from docuvault.catalog.adapters.documents import (
    MATCHES_ONLY,
    PostgresCatalog,
    select_sql,
    with_phrase_pairs,
)
from docuvault.catalog.listing import (
    FEW_MATCHES,
    RANK_WINDOW,
    ListQuery,
    build_list_sql,
    count_estimate_sql,
    encode_cursor,
)
from docuvault.devstack import infra
from docuvault.devstack.config import StackConfig
from docuvault.runtime import db

QUERIES = int(os.environ.get("DOCUVAULT_BENCH_CATALOG_QUERIES", "200"))
TARGET_P95_MS = 50.0
KINDS = ("rare", "common", "english", "phrase", "prefix", "filtered", "deep")


def _say(line: str) -> None:
    print(f"[catalog] {line}", flush=True)


def _queries(corpus: data.Corpus, kind: str, count: int) -> list[ListQuery]:
    rng = random.Random(kind)
    words = data.common_words(corpus.pool, 12)
    phrases = data.common_phrases(corpus.pool, 12)
    made: list[ListQuery] = []
    for n in range(count):
        k = n % data.WORDS_PER_MARKER
        match kind:
            case "rare":
                made.append(ListQuery(text=data.marker("rare", k), sort="relevance"))
            case "common":
                made.append(ListQuery(text=data.marker("half", k), sort="relevance"))
            case "english":
                made.append(ListQuery(text=words[n % len(words)], sort="relevance"))
            case "phrase":
                made.append(ListQuery(text=f'"{phrases[n % len(phrases)]}"', sort="relevance"))
            case "prefix":
                made.append(ListQuery(text=words[n % len(words)][:4] + "*", sort="relevance"))
            case "filtered":
                before = data.T0 + timedelta(seconds=rng.randrange(corpus.size))
                made.append(
                    ListQuery(
                        content_type=data.CONTENT_TYPES[n % len(data.CONTENT_TYPES)],
                        statuses=["extracted"],
                        uploaded_before=before,
                    )
                )
            case "deep":
                at = rng.randrange(corpus.size // 10, corpus.size - 100)
                doc = corpus.document_id(at)
                cursor = encode_cursor("-uploaded_at", data.T0 + timedelta(seconds=at), doc)
                made.append(ListQuery(cursor=cursor))
    return made


async def _measure(
    dsn: str, corpus: data.Corpus, kind: str
) -> tuple[list[float], list[float], list[int]]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1)
    # the planner settings PostgresCatalog.list sets for its transaction (LIST_SETTINGS)
    raw = await asyncpg.connect(
        dsn,
        server_settings={
            "plan_cache_mode": "force_custom_plan",
            "jit": "off",
            "max_parallel_workers_per_gather": "0",
        },
    )
    catalog = PostgresCatalog(pool)
    # a server process loads each text search configuration's dictionaries on first use: a
    # running catalog's pooled connections have done so long before, so warm both up untimed
    await catalog.list(corpus.owner, ListQuery(text="warm up"))
    await raw.fetch(*_flat(build_list_sql(select_sql(), corpus.owner, ListQuery(text="warm up"))))
    ours_ms: list[float] = []
    raw_ms: list[float] = []
    found: list[int] = []
    try:
        for query in _queries(corpus, kind, QUERIES):
            started = time.perf_counter()
            rows = await _raw_list(raw, corpus.owner, query)
            raw_ms.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            page = await catalog.list(corpus.owner, query)
            ours_ms.append((time.perf_counter() - started) * 1000)
            found.append(len(page.items))
            if len(rows) != len(page.items) + (page.next_cursor is not None):
                raise AssertionError(f"{kind}: raw and ours disagree on {query}")
            if query.text and page.items and not any(i.snippet for i in page.items):
                raise AssertionError(f"{kind}: no snippet for {query.text!r}")
    finally:
        await raw.close()
        await pool.close()
    return ours_ms, raw_ms, found


async def _raw_list(
    conn: asyncpg.Connection, owner: uuid.UUID, query: ListQuery
) -> list[asyncpg.Record]:
    """The SQL ``PostgresCatalog.list`` sends, sent directly, with the same choice of strategy
    (the phrases' pairs, the estimate, then ``recent``, then ``matches`` if the window did not
    fill)."""
    query = await with_phrase_pairs(conn, query)  # one statement: search.PAIRS_SQL
    if query.sort_key != "relevance":
        rows: list[asyncpg.Record] = await conn.fetch(
            *_flat(build_list_sql(select_sql(), owner, query))
        )
        return rows
    plan = json.loads(await conn.fetchval(*_flat(count_estimate_sql(owner, query))))
    if plan[0]["Plan"]["Plan Rows"] >= FEW_MATCHES:
        rows = await conn.fetch(*_flat(build_list_sql(select_sql(), owner, query)))
        if rows and rows[0]["candidates"] >= RANK_WINDOW:
            return rows
    async with conn.transaction():
        await conn.execute(MATCHES_ONLY)
        return await conn.fetch(*_flat(build_list_sql(select_sql(), owner, query, "matches")))


def _flat(built: tuple[str, list[Any]]) -> list[Any]:
    return [built[0], *built[1]]


def _row(kind: str, ours: list[float], raw: list[float], found: list[int]) -> dict[str, Any]:
    p95 = percentile(ours, 95)
    ratios = [o / r for o, r in zip(ours, raw, strict=True) if r > 0]
    return {
        "kind": kind,
        "queries": len(ours),
        "items_per_page": statistics.median(found),
        "ours_p50_ms": percentile(ours, 50),
        "ours_p95_ms": p95,
        "ours_p99_ms": percentile(ours, 99),
        "raw_p50_ms": percentile(raw, 50),
        "raw_p95_ms": percentile(raw, 95),
        "ratio": statistics.median(ratios) if ratios else None,
        "target": f"p95 <= {TARGET_P95_MS:.0f} ms",
        "verdict": "pass" if p95 is not None and p95 <= TARGET_P95_MS else "FAIL",
    }


def _scratch() -> tuple[StackConfig, str]:
    config = StackConfig.isolated(Path(tempfile.mkdtemp(prefix="docuvault-bench-")))
    infra.ensure_postgres(config)
    name = f"{config.database_prefix}_catalogbench"
    infra.psql(config, f'CREATE DATABASE "{name}"')
    return config, config.superuser_url.rsplit("/", 1)[0] + f"/{name}"


async def _prepare(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:  # as infra/postgres/roles.sql does for a service database (superuser only)
        await conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    finally:
        await conn.close()
    await db.migrate(dsn, bootstrap.MIGRATIONS)


async def _drop_indexes(dsn: str) -> list[str]:
    """The documents table's secondary indexes, dropped for the bulk load (rebuilt after)."""
    conn = await asyncpg.connect(dsn)
    try:
        found = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'documents'"
            " AND indexname <> 'documents_pkey'"
        )
        for row in found:
            await conn.execute(f'DROP INDEX "{row["indexname"]}"')
        return [row["indexdef"] for row in found]
    finally:
        await conn.close()


async def _create(dsn: str, indexes: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        for definition in indexes:
            await conn.execute(definition)
    finally:
        await conn.close()


async def _analyze(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("VACUUM ANALYZE documents")
    finally:
        await conn.close()


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _load(corpus: data.Corpus, dsn: str) -> dict[str, Any]:
    asyncio.run(_prepare(dsn))
    indexes = asyncio.run(_drop_indexes(dsn))
    load_s, counts = data.load(dsn, corpus)
    _say(f"loaded in {load_s:.0f} s ({corpus.size / load_s:,.0f} documents/s)")
    index_s = _timed(lambda: asyncio.run(_create(dsn, indexes)))
    analyze_s = _timed(lambda: asyncio.run(_analyze(dsn)))
    _say(f"indexes built in {index_s:.0f} s; VACUUM ANALYZE {analyze_s:.0f} s")
    return {
        "load_s": load_s,
        "load_documents_per_s": corpus.size / load_s,
        "load": f"two events per document through project_events, {data.BATCH} documents a "
        f"transaction, {data.LOADERS} processes at once; the documents table's secondary "
        "indexes dropped for the load and built after it (index_build_s), as for a bulk load",
        "index_build_s": index_s,
        "vacuum_analyze_s": analyze_s,
        "documents_per_marker_word": {
            f: [counts.get(data.marker(f, k), 0) for k in range(data.WORDS_PER_MARKER)]
            for f in data.MARKERS
        },
    }


def run() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    size = int(os.environ.get("DOCUVAULT_BENCH_CATALOG_DOCS", "1000000"))
    #: a database an earlier run loaded with the same size and kept (to iterate on queries)
    loaded = os.environ.get("DOCUVAULT_BENCH_CATALOG_LOADED_DSN")
    pool, source = data.sentences()
    corpus = data.Corpus(owner=data.OWNER, size=size, pool=pool)
    config, dsn = (None, loaded) if loaded else _scratch()
    try:
        if loaded:
            loading: dict[str, Any] = {"load": f"loaded by an earlier run ({loaded})"}
        else:
            _say(f"loading {size:,} documents ({source})")
            loading = _load(corpus, dsn)
        rows = []
        for kind in KINDS:
            ours, raw, found = asyncio.run(_measure(dsn, corpus, kind))
            rows.append(_row(kind, ours, raw, found))
            _say(f"{kind}: p95 {rows[-1]['ours_p95_ms']:.1f} ms")
    finally:
        if config is not None and not os.environ.get("DOCUVAULT_BENCH_CATALOG_KEEP"):
            infra.drop_databases(config)
            shutil.rmtree(config.run_dir, ignore_errors=True)
    notes = {
        "documents": size,
        "sentences": source,
        **loading,
        "markers": dict(data.MARKERS),
        "rank_window": RANK_WINDOW,
        "timers": __doc__.split("Timers: ", 1)[1].strip() if __doc__ else "",
        "ratio": "median over the queries of ours / raw for the same query (raw runs first)",
    }
    return rows, notes
