"""``POST /v1/documents/reprocess`` end to end on the private stack: a new generation per
document, the request in the history, the stage run again by the extractor or classifier."""

import asyncio
import functools
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api
from docuvault.devstack.stack import Stack
from docuvault.runtime import db

REPROCESS = "io.docuvault.document.reprocess_requested.v1"
EXTRACTED = "io.docuvault.document.text_extracted.v1"
CLASSIFIED = "io.docuvault.document.classified.v1"
FINAL = {"classified", "extraction_failed", "classification_failed"}
#: sniffed as a PDF, but nothing in it parses: extraction fails, no text
BROKEN_PDF = b"%PDF-1.7\n" + b"\x00\x17 not a pdf body \xff" * 64


@pytest.fixture
async def catalog_db(stack: Stack) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(stack.config.database_url("catalog", "app"))
    yield pool
    await pool.close()


async def _until(check: Callable[[], Awaitable[bool]], what: str, within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"not within {within_s} s: {what}")


async def _doc(api: Api, owner: str, document_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.get(
            f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(owner)
        )
    if answer.status_code != 200:
        return {"status": None, "history": []}
    body: dict[str, Any] = answer.json()
    return body


async def _settled(api: Api, owner: str, ids: list[str]) -> None:
    async def done() -> bool:
        docs = [await _doc(api, owner, i) for i in ids]
        return all(d["status"] in FINAL for d in docs)

    await _until(done, f"{ids} processed")


async def _generations(pool: asyncpg.Pool, document_id: str) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT generation, extract_generation, classify_generation,"
        " text_extracted->>'text_object_key' AS text_key FROM documents WHERE document_id = $1",
        uuid.UUID(document_id),
    )
    assert row is not None
    return dict(row)


async def _reprocess(api: Api, owner: str, body: dict[str, Any], *scopes: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            f"{api.catalog}/v1/documents/reprocess", json=body, headers=api.auth(owner, *scopes)
        )


def _types(doc: dict[str, Any]) -> list[str]:
    return [h["type"] for h in doc["history"]]


async def test_reprocess_extract_with_a_filter(api: Api, catalog_db: asyncpg.Pool) -> None:
    owner, stranger = f"reprocess-{uuid.uuid4()}", f"stranger-{uuid.uuid4()}"
    a, b, md = await api.upload(
        owner,
        [
            ("a.txt", b"An invoice for garden work."),
            ("b.txt", b"Minutes of the annual meeting."),
            ("c.md", b"# Notes\nnothing to see"),
        ],
    )
    [theirs] = await api.upload(stranger, [("d.txt", b"Someone else's letter.")])
    await _settled(api, owner, [a, b, md])
    await _settled(api, stranger, [theirs])

    answer = await _reprocess(api, owner, {"stage": "extract", "content_type": "text/plain"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"requested": 2, "skipped": 0}
    for chosen in (a, b):
        assert (await _generations(catalog_db, chosen))["generation"] == 2
    # neither the document outside the filter nor another owner's (also text/plain) moves
    assert (await _generations(catalog_db, md))["generation"] == 1
    assert (await _generations(catalog_db, theirs))["generation"] == 1

    async def reprocessed(document_id: str) -> bool:
        g = await _generations(catalog_db, document_id)
        doc = await _doc(api, owner, document_id)
        return bool(
            g["extract_generation"] == 2
            and g["classify_generation"] == 2
            and doc["status"] == "classified"
        )

    for chosen in (a, b):
        await _until(
            functools.partial(reprocessed, chosen), f"{chosen} extracted and classified again"
        )
        generations = await _generations(catalog_db, chosen)
        assert generations["text_key"].endswith("/extracted/2/text.txt")
        types = _types(await _doc(api, owner, chosen))
        assert types.count(REPROCESS) == 1
        assert types.count(EXTRACTED) == 2
        assert types.count(CLASSIFIED) == 2
        # the request comes before the new extraction
        last_extracted = len(types) - 1 - types[::-1].index(EXTRACTED)
        assert types.index(REPROCESS) < last_extracted
    assert REPROCESS not in _types(await _doc(api, owner, md))
    assert REPROCESS not in _types(await _doc(api, stranger, theirs))
    assert (await _generations(catalog_db, theirs))["generation"] == 1


async def test_reprocess_classify_skips_documents_without_text(
    api: Api, catalog_db: asyncpg.Pool
) -> None:
    owner = f"reclassify-{uuid.uuid4()}"
    good, broken = await api.upload(
        owner, [("good.txt", b"Travel expenses for May."), ("broken.pdf", BROKEN_PDF)]
    )
    await _settled(api, owner, [good, broken])
    assert (await _doc(api, owner, broken))["status"] == "extraction_failed"

    answer = await _reprocess(api, owner, {"stage": "classify"})
    assert answer.status_code == 202, answer.text
    assert answer.json() == {"requested": 1, "skipped": 1}
    assert (await _generations(catalog_db, broken))["generation"] == 1

    async def classified_again() -> bool:
        g = await _generations(catalog_db, good)
        return bool(
            g["classify_generation"] == 2
            and (await _doc(api, owner, good))["status"] == "classified"
        )

    await _until(classified_again, "the good document classified again")
    generations = await _generations(catalog_db, good)
    # classification alone: the text of generation 1 is classified again
    assert generations["extract_generation"] == 1
    types = _types(await _doc(api, owner, good))
    assert types.count(REPROCESS) == 1
    assert types.count(EXTRACTED) == 1
    assert types.count(CLASSIFIED) == 2

    only_failed = await _reprocess(
        api, owner, {"stage": "classify", "status": ["extraction_failed"]}
    )
    assert only_failed.json() == {"requested": 0, "skipped": 1}
    nothing = await _reprocess(api, owner, {"stage": "extract", "status": ["received"]})
    assert nothing.json() == {"requested": 0, "skipped": 0}


async def test_reprocess_needs_documents_write_and_a_valid_body(api: Api) -> None:
    owner = f"reprocess-auth-{uuid.uuid4()}"
    refused = await _reprocess(api, owner, {"stage": "extract"}, "documents:read")
    assert refused.status_code == 403
    assert "documents:write" in refused.json()["detail"]
    async with httpx.AsyncClient(timeout=10) as client:
        anonymous = await client.post(
            f"{api.catalog}/v1/documents/reprocess", json={"stage": "extract"}
        )
    assert anonymous.status_code == 401
    bad_stage = await _reprocess(api, owner, {"stage": "ocr"})
    assert bad_stage.status_code == 422
    assert bad_stage.json()["detail"].startswith("body.stage")
    # a misspelt filter is refused rather than widening the selection to everything
    misspelt = await _reprocess(api, owner, {"stage": "extract", "statuses": ["classified"]})
    assert misspelt.status_code == 422
    assert "statuses" in misspelt.json()["detail"]
    empty = await _reprocess(api, owner, {"stage": "extract"})
    assert empty.status_code == 202
    assert empty.json() == {"requested": 0, "skipped": 0}
