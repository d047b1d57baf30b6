# PyMuPDF's document API is untyped:
# mypy: disable-error-code="no-untyped-call"
"""``rebuild``: the history replayed into fresh tables gives the catalog the API answered before.

End to end on the private stack: a populated catalog (every kind of upload, topics, a manual
assignment, a reclassification, a deleted document, a changed and a deleted topic, changed
settings) is captured through the API, rebuilt by ``python -m docuvault.catalog rebuild`` as
a separate process while the running catalog keeps serving (and another owner keeps
uploading), and captured again: the answers are identical, nothing uploaded meanwhile is lost,
and the running catalog goes on working on the swapped tables.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import sys
import time
import uuid
from typing import Any

import asyncpg
import docx
import httpx
import pymupdf
import pytest

from docuvault.catalog import rebuild
from docuvault.catalog.config import CatalogSettings
from docuvault.devstack.pytest_plugin import Api
from docuvault.devstack.stack import Stack

FINAL = {"classified", "extraction_failed", "classification_failed"}
WORDS = ["invoice", "letter", "bakery", "payment -bread", '"annual report"', "grüße"]


def _pdf() -> bytes:
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "Invoice for consulting: payment within 30 days.")
    doc.new_page().insert_text((72, 72), "Second page of the consulting invoice.")
    return bytes(doc.tobytes())


def _docx() -> bytes:
    document = docx.Document()
    document.add_paragraph("Dear reader, this letter covers the annual report translation.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


FILES: list[tuple[str, bytes]] = [
    ("consulting.pdf", _pdf()),
    ("translation.docx", _docx()),
    ("bakery.txt", "Invoice from the bakery: payment for bread. Grüße!".encode()),
    ("notes.md", b"# Letter to the landlord\n\nDear landlord, the heating is broken."),
    ("table.csv", b"item,amount\ninvoice 17,120\ninvoice 18,80\n"),
    ("broken.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 8),
]


async def _until(
    client: httpx.AsyncClient, document_id: str, ready: Any, within_s: float = 30.0
) -> dict[str, Any]:
    """Poll the document until ``ready(detail)``; bounded."""
    deadline = time.monotonic() + within_s
    seen: dict[str, Any] = {}
    while time.monotonic() < deadline:
        answer = await client.get(f"/v1/documents/{document_id}")
        if answer.status_code == 200:
            seen = answer.json()
            if ready(seen):
                return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{document_id} not ready within {within_s} s: {seen}")


def _final(doc: dict[str, Any]) -> bool:
    return doc["status"] in FINAL


async def _state(client: httpx.AsyncClient, ids: list[str]) -> dict[str, Any]:
    """Everything the API tells about the owner: details, listings, searches, topics, settings."""
    details = {}
    for document_id in ids:
        answer = await client.get(f"/v1/documents/{document_id}")
        details[document_id] = (answer.status_code, answer.json())
    listings = {}
    for sort in ("-uploaded_at", "filename", "-size_bytes", "page_count"):
        answer = await client.get("/v1/documents", params={"sort": sort, "limit": 100})
        assert answer.status_code == 200, answer.text
        listings[sort] = answer.json()
    searches = {}
    for word in WORDS:
        answer = await client.get("/v1/documents", params={"q": word})
        assert answer.status_code == 200, answer.text
        searches[word] = answer.json()
    topics = (await client.get("/v1/topics")).json()
    by_topic = {}
    for topic in topics["items"]:
        answer = await client.get("/v1/documents", params={"topic": topic["topic_id"]})
        by_topic[topic["name"]] = answer.json()
    settings = (await client.get("/v1/settings/classification")).json()
    return {
        "details": details,
        "listings": listings,
        "searches": searches,
        "topics": topics,
        "by_topic": by_topic,
        "settings": settings,
    }


async def _populate(api: Api, cat: httpx.AsyncClient, owner: str) -> list[str]:
    async def topic(name: str, description: str, *keywords: str) -> str:
        answer = await cat.post(
            "/v1/topics",
            json={"name": name, "description": description, "keywords": list(keywords)},
        )
        assert answer.status_code == 201, answer.text
        topic_id: str = answer.json()["topic_id"]
        return topic_id

    invoices = await topic("Invoices", "bills asking for payment", "invoice", "payment")
    letters = await topic("Letters", "personal letters", "letter", "dear")
    doomed = await topic("Obsolete", "to be deleted", "invoice", "obsolete")
    changed = await cat.put(
        "/v1/settings/classification",
        json={"provider": "local", "system_prompt": "Be brief.", "apply_threshold": 0.3},
    )
    assert changed.status_code == 200, changed.text
    ids = await api.upload(owner, FILES[:3]) + await api.upload(owner, FILES[3:])
    assert len(ids) == len(FILES)
    done = await asyncio.gather(*(_until(cat, i, _final) for i in ids))
    by_name = {d["filename"]: d for d in done}
    assert by_name["broken.pdf"]["status"] == "extraction_failed"
    assert by_name["consulting.pdf"]["page_count"] == 2
    # a person's topics (they win), a reclassification (generation 2), a deletion
    manual = await cat.put(
        f"/v1/documents/{by_name['notes.md']['document_id']}/topics",
        json={"topic_ids": [letters, invoices]},
    )
    assert manual.status_code == 200, manual.text
    again = await cat.put(
        f"/v1/documents/{by_name['notes.md']['document_id']}/topics",
        json={"topic_ids": [letters]},
    )
    assert [t["topic_id"] for t in again.json()["topics"]] == [letters]
    bakery = by_name["bakery.txt"]["document_id"]
    classify = await cat.post(f"/v1/documents/{bakery}/classify")
    assert classify.status_code == 202, classify.text
    assert classify.json()["generation"] == 2

    def reclassified(doc: dict[str, Any]) -> bool:
        kinds = [h["type"] for h in doc["history"]]
        return kinds.count("io.docuvault.document.classified.v1") == 2

    await _until(cat, bakery, reclassified)
    gone = by_name["table.csv"]["document_id"]
    assert (await cat.delete(f"/v1/documents/{gone}")).status_code == 204
    # a changed topic and a deleted one (it leaves every document)
    patched = await cat.patch(
        f"/v1/topics/{invoices}", json={"description": "bills and invoices", "color": "#112233"}
    )
    assert patched.status_code == 200, patched.text
    assert (await cat.delete(f"/v1/topics/{doomed}")).status_code == 204
    return ids


async def _rebuild(stack: Stack, *command: str) -> dict[str, Any]:
    """Run a rebuild as its own process with the catalog's settings; returns its summary."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCUVAULT_")}
    env.update(stack.config.service_env("catalog"))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        *(command or ("docuvault.catalog", "rebuild", "--json")),
        env=env,
        cwd=stack.config.run_dir,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(180):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    report = err.decode(errors="replace")
    assert process.returncode == 0, report
    assert "events replayed" in report, report
    summary: dict[str, Any] = json.loads(out)
    print(report, file=sys.stderr)  # the measurements, for the run's log
    return summary


async def _keep_busy(api: Api, owner: str, stop: asyncio.Event) -> tuple[list[str], list[int]]:
    """While the rebuild runs: ``owner`` uploads, and reads the catalog, again and again."""
    uploaded: list[str] = []
    answers: list[int] = []
    number = 0
    async with httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=30) as cat:
        while not stop.is_set():
            number += 1
            uploaded += await api.upload(owner, [(f"busy-{number}.txt", b"invoice %d" % number)])
            for _ in range(3):
                answer = await cat.get("/v1/documents", params={"q": "invoice"})
                answers.append(answer.status_code)
            await asyncio.sleep(0.05)
    return uploaded, answers


async def test_rebuild_gives_the_same_catalog_and_loses_nothing(api: Api, stack: Stack) -> None:
    owner, busy_owner = f"rebuild-{uuid.uuid4()}", f"busy-{uuid.uuid4()}"
    async with httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=30) as cat:
        ids = await _populate(api, cat, owner)
        before = await _state(cat, ids)
        assert before["details"][ids[4]][0] == 404  # table.csv, deleted
        assert [t["name"] for t in before["topics"]["items"]] == ["Invoices", "Letters"]

        stop = asyncio.Event()
        busy = asyncio.create_task(_keep_busy(api, busy_owner, stop))
        try:
            summary = await _rebuild(stack)
        finally:
            stop.set()
        uploaded_meanwhile, read_answers = await busy

        after = await _state(cat, ids)
        assert after == before
        await _check_schemas_and_grants(stack, summary["backup_schema"])
        assert summary["projected"] > 0
        assert summary["rows"]["documents"] >= len(FILES) - 1
        assert set(read_answers) == {200}, read_answers  # the catalog kept answering

        # nothing uploaded while the rebuild ran is lost
        assert uploaded_meanwhile
        async with httpx.AsyncClient(
            base_url=api.catalog, headers=api.auth(busy_owner), timeout=30
        ) as theirs:
            for document_id in uploaded_meanwhile:
                await _until(theirs, document_id, _final)

        # the running catalog goes on: a new upload arrives, a person's topics are kept
        (late,) = await api.upload(owner, [("late.txt", b"A late invoice, payment due.")])
        assert (await _until(cat, late, _final))["status"] == "classified"
        letters = next(t for t in after["topics"]["items"] if t["name"] == "Letters")
        put = await cat.put(
            f"/v1/documents/{late}/topics", json={"topic_ids": [letters["topic_id"]]}
        )
        assert put.status_code == 200, put.text
        assert [t["source"] for t in put.json()["topics"]] == ["manual"]
        created = await cat.post("/v1/topics", json={"name": "Obsolete"})  # the name is free
        assert created.status_code == 201, created.text

        # once more, through the CLI: the same catalog again, and no backup left behind
        settled = await _state(cat, [*ids, late])
        again = await _rebuild(
            stack, "docuvault.cli", "catalog", "rebuild", "--json", "--drop-backup"
        )
        assert again["backup_schema"] is None
        assert await _state(cat, [*ids, late]) == settled


async def _check_schemas_and_grants(stack: Stack, backup: str) -> None:
    """The previous tables are kept, the rebuild schema is gone, the app role has its rights."""
    conn = await asyncpg.connect(stack.config.database_url("catalog", "migrator"))
    try:
        kept = await conn.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = $1", backup)
        leftovers = await conn.fetch(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'catalog_rebuild_%'"
        )
        grants = await conn.fetch(
            "SELECT table_name, string_agg(privilege_type, ',' ORDER BY privilege_type) AS p"
            " FROM information_schema.role_table_grants WHERE table_schema = 'public'"
            " AND grantee = $1 GROUP BY table_name",
            "docuvault_catalog_app",
        )
    finally:
        await conn.close()
    assert kept == 6, "the previous read-model tables are kept in the backup schema"
    assert leftovers == []
    rights = {r["table_name"]: r["p"] for r in grants}
    for table in ("documents", "topics", "inbox", "document_history", "outbox"):
        assert rights.get(table) == "DELETE,INSERT,SELECT,UPDATE", (table, rights)


class _Watch(io.StringIO):
    """The rebuild's progress output; ``swapping`` is set once it starts to swap."""

    def __init__(self) -> None:
        super().__init__()
        self.swapping = asyncio.Event()

    def write(self, text: str) -> int:
        if "swapping" in text:
            self.swapping.set()
        return super().write(text)


async def test_the_swap_gives_way_to_a_live_transaction_it_would_deadlock_with(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A live transaction holds a document and then wants the inbox while the swap, holding
    the inbox, waits for the documents: the swap gives way (and retries), the catalog never
    sees a deadlock error."""
    for key, value in stack.config.service_env("catalog").items():
        monkeypatch.setenv(key, value)
    settings = CatalogSettings(_env_file=None)
    live = await asyncpg.connect(stack.config.database_url("catalog", "app"))
    watch = _Watch()
    try:
        holder = live.transaction()
        await holder.start()
        await live.fetch("SELECT document_id FROM documents LIMIT 1 FOR UPDATE")
        running = asyncio.create_task(rebuild.rebuild(settings, rebuild.Options(), watch))
        async with asyncio.timeout(120):
            await watch.swapping.wait()
        await asyncio.sleep(0.2)  # the swap now holds the inbox and waits for the documents
        await live.execute(
            "INSERT INTO inbox (consumer, event_id) VALUES ('test.swap', $1)", uuid.uuid4()
        )
        await holder.commit()
        summary = await running
    finally:
        await live.close()
    print(watch.getvalue(), file=sys.stderr)
    assert summary.swap_attempts >= 2, watch.getvalue()
    assert "gave way to the live catalog" in watch.getvalue()
    assert summary.backup_schema is not None
