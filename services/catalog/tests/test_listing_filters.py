"""Listing filters has_failure, duplicate_of and filename over HTTP against the private stack:
alone, with ``q``, across cursor pages, in facets and in reprocess; owner isolation."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api

FINAL = {"classified", "extraction_failed", "classification_failed"}
#: sniffed as a PDF, but nothing in it parses: extraction fails
BROKEN_PDF = b"%PDF-1.7\n" + b"\x00\x17 not a pdf body \xff" * 64
MINUTES = b"Minutes of the meeting about the new roof."
FILES = [
    ("Budget_50%.txt", b"Invoice for the garden budget, half paid."),
    # what `_50%` would match were `_` and `%` wildcards
    ("BudgetX50Y.txt", b"Invoice for the kitchen tiles."),
    ("MEETING notes.txt", MINUTES),
    ("broken.pdf", BROKEN_PDF),
    ("copy.txt", MINUTES),  # a duplicate of the meeting notes (same bytes)
]
BUDGETS = ["Budget_50%.txt", "BudgetX50Y.txt"]


@pytest.fixture(scope="module")
def owners() -> tuple[str, str]:
    return f"filters-{uuid.uuid4()}", f"filters-stranger-{uuid.uuid4()}"


@pytest.fixture(scope="module")
def docs(api: Api, owners: tuple[str, str]) -> dict[str, str]:
    """The owner's five documents, processed (filename → id); the stranger's one, named like
    one of them (key ``stranger``)."""
    return asyncio.run(_upload_all(api, owners))


async def _upload(client: httpx.AsyncClient, api: Api, owner: str, files: Any) -> dict[str, str]:
    answer = await client.post(
        f"{api.ingest}/v1/documents",
        files=[("file", f) for f in files],
        headers=api.auth(owner),
    )
    assert answer.status_code == 202, answer.text
    return {d["filename"]: d["document_id"] for d in answer.json()["documents"]}


async def _upload_all(api: Api, owners: tuple[str, str]) -> dict[str, str]:
    owner, stranger = owners
    async with httpx.AsyncClient(timeout=30) as client:
        ids = await _upload(client, api, owner, FILES)
        theirs = await _upload(client, api, stranger, [("Budget_50%.txt", b"Not yours.")])
        pending = {**{i: owner for i in ids.values()}, **{i: stranger for i in theirs.values()}}
        for _ in range(300):
            for document_id, who in list(pending.items()):
                seen = await client.get(
                    f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(who)
                )
                if seen.status_code == 200 and seen.json()["status"] in FINAL:
                    del pending[document_id]
            if not pending:
                return {**ids, "stranger": theirs["Budget_50%.txt"]}
            await asyncio.sleep(0.1)
    raise AssertionError(f"not processed in time: {pending}")


def _client(api: Api, owner: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=20)


async def _names(client: httpx.AsyncClient, **params: Any) -> set[str]:
    page = await client.get("/v1/documents", params=params)
    assert page.status_code == 200, page.text
    assert page.json()["next_cursor"] is None
    return {d["filename"] for d in page.json()["items"]}


async def _all_pages(client: httpx.AsyncClient, **params: Any) -> list[str]:
    """Every page of one item, following the cursors; the filenames in order."""
    names: list[str] = []
    cursor = None
    for _ in range(10):
        page = await client.get(
            "/v1/documents", params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})}
        )
        assert page.status_code == 200, page.text
        names += [d["filename"] for d in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return names
    raise AssertionError(f"more pages than documents: {names}")


async def test_has_failure_alone_with_q_and_across_pages(
    api: Api, owners: tuple[str, str], docs: dict[str, str]
) -> None:
    async with _client(api, owners[0]) as client:
        assert await _names(client, has_failure="true") == {"broken.pdf"}
        others = {"Budget_50%.txt", "BudgetX50Y.txt", "MEETING notes.txt", "copy.txt"}
        assert await _names(client, has_failure="false") == others
        assert await _names(client, has_failure="false", q="invoice") == {
            "Budget_50%.txt",
            "BudgetX50Y.txt",
        }
        assert await _names(client, has_failure="true", q="invoice") == set()
        for sort in ("-uploaded_at", "filename", "-size_bytes"):
            paged = await _all_pages(client, has_failure="false", sort=sort)
            assert sorted(paged) == sorted(others), sort
        paged = await _all_pages(client, has_failure="false", q="invoice OR minutes")
        assert sorted(paged) == sorted(others)
        refused = await client.get("/v1/documents", params={"has_failure": "maybe"})
        assert refused.status_code == 422
        assert "has_failure" in refused.json()["detail"]


async def test_duplicate_of_alone_with_q_and_across_pages(
    api: Api, owners: tuple[str, str], docs: dict[str, str]
) -> None:
    original = docs["MEETING notes.txt"]
    async with _client(api, owners[0]) as client:
        assert await _names(client, duplicate_of=original) == {"copy.txt"}
        assert await _names(client, duplicate_of=original, q="minutes") == {"copy.txt"}
        assert await _names(client, duplicate_of=original, q="invoice") == set()
        assert await _names(client, duplicate_of=original, has_failure="true") == set()
        assert await _names(client, duplicate_of=docs["copy.txt"]) == set()
        assert await _all_pages(client, duplicate_of=original, sort="filename") == ["copy.txt"]
        refused = await client.get("/v1/documents", params={"duplicate_of": "not-an-id"})
        assert refused.status_code == 422
    async with _client(api, owners[1]) as stranger:
        assert await _names(stranger, duplicate_of=original) == set()


async def test_filename_is_a_case_insensitive_literal_substring(
    api: Api, owners: tuple[str, str], docs: dict[str, str]
) -> None:
    async with _client(api, owners[0]) as client:
        # `_` and `%` match only themselves: BudgetX50Y.txt does not match
        assert await _names(client, filename="t_50%") == {"Budget_50%.txt"}
        assert await _names(client, filename="%") == {"Budget_50%.txt"}
        assert await _names(client, filename="_") == {"Budget_50%.txt"}
        assert await _names(client, filename="BUDGET") == {"Budget_50%.txt", "BudgetX50Y.txt"}
        assert await _names(client, filename="meeting NOTES") == {"MEETING notes.txt"}
        assert await _names(client, filename="x50y") == {"BudgetX50Y.txt"}
        assert await _names(client, filename="nothing like it") == set()
        # with every other kind of filter and with q
        assert await _names(client, filename="budget", q="garden") == {"Budget_50%.txt"}
        assert await _names(client, filename=".pdf", has_failure="true") == {"broken.pdf"}
        assert await _names(client, filename=".txt", status="extraction_failed") == set()
        original = docs["MEETING notes.txt"]
        assert await _names(client, filename="COPY", duplicate_of=original) == {"copy.txt"}
        for sort in ("filename", "-filename", "-uploaded_at", "page_count"):
            paged = await _all_pages(client, filename="budget", sort=sort)
            assert sorted(paged) == sorted(BUDGETS), sort
        paged = await _all_pages(client, filename="budget", q="invoice")
        assert sorted(paged) == sorted(BUDGETS)
    async with _client(api, owners[1]) as stranger:
        found = await stranger.get("/v1/documents", params={"filename": "budget"})
        assert [d["document_id"] for d in found.json()["items"]] == [docs["stranger"]]


async def test_facets_count_with_the_new_filters(
    api: Api, owners: tuple[str, str], docs: dict[str, str]
) -> None:
    async with _client(api, owners[0]) as client:
        failed = await client.get("/v1/documents/facets", params={"has_failure": "true"})
        assert failed.status_code == 200, failed.text
        assert failed.json()["total"] == 1
        assert failed.json()["statuses"] == [{"status": "extraction_failed", "count": 1}]
        named = await client.get("/v1/documents/facets", params={"filename": "budget"})
        assert named.json()["total"] == 2
        duplicates = await client.get(
            "/v1/documents/facets", params={"duplicate_of": docs["MEETING notes.txt"]}
        )
        assert duplicates.json()["total"] == 1


async def test_reprocess_takes_the_new_filters(
    api: Api, owners: tuple[str, str], docs: dict[str, str]
) -> None:
    async with _client(api, owners[0]) as client:

        async def reprocess(**body: Any) -> dict[str, Any]:
            answer = await client.post("/v1/documents/reprocess", json=body)
            assert answer.status_code == 202, answer.text
            result: dict[str, Any] = answer.json()
            return result

        # the failed PDF has no text to classify
        assert await reprocess(stage="classify", has_failure=True) == {
            "requested": 0,
            "skipped": 1,
        }
        assert await reprocess(stage="classify", filename="_50%") == {
            "requested": 1,
            "skipped": 0,
        }
        original = docs["MEETING notes.txt"]
        assert await reprocess(stage="classify", duplicate_of=original, q="roof") == {
            "requested": 1,
            "skipped": 0,
        }
        # a boolean is a JSON boolean: 0 is not "false" (it would select nearly everything)
        refused = await client.post(
            "/v1/documents/reprocess", json={"stage": "classify", "has_failure": 0}
        )
        assert refused.status_code == 422
        classified_again = await client.get(f"/v1/documents/{docs['Budget_50%.txt']}")
        history = [h["type"] for h in classified_again.json()["history"]]
        assert "io.docuvault.document.reprocess_requested.v1" in history
    async with _client(api, owners[1]) as stranger:
        theirs = await stranger.get(f"/v1/documents/{docs['stranger']}")
        history = [h["type"] for h in theirs.json()["history"]]
        assert "io.docuvault.document.reprocess_requested.v1" not in history
