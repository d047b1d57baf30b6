"""Listing edges, search syntax, snippets, facets, similar and owner isolation, over HTTP against
the running private stack (uploads go through ingest and the extractor, like anyone's)."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api

TEXTS = {
    "alpha.txt": b"The quarterly invoice from <Acme> & co about solar panels on the roof.",
    "beta.txt": b"A letter about the solar eclipse seen from the garden last summer.",
    "gamma.txt": b"Invoice reminder: the payment for the garden shed is overdue.",
    "delta.txt": b"Minutes of the board meeting about governance and elections.",
}
ROUTES = ("", "/text", "/content", "/similar")


@pytest.fixture(scope="module")
def owner() -> str:
    return f"search-{uuid.uuid4()}"


@pytest.fixture(scope="module")
def docs(api: Api, owner: str) -> dict[str, str]:
    """The four documents, extracted (filename → id)."""
    return asyncio.run(_upload_all(api, owner))


async def _upload_all(api: Api, owner: str) -> dict[str, str]:
    async with httpx.AsyncClient(timeout=30, headers=api.auth(owner)) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents", files=[("file", (n, b)) for n, b in TEXTS.items()]
        )
        assert answer.status_code == 202, answer.text
        ids = {d["filename"]: d["document_id"] for d in answer.json()["documents"]}
        for _ in range(300):
            # the text's projection, not the status: the classifier's answer may be projected
            # first (the catalog reads the text from the object store before projecting it)
            states = [
                [
                    h["type"]
                    for h in (await client.get(f"{api.catalog}/v1/documents/{i}"))
                    .json()
                    .get("history", [])
                ]
                for i in ids.values()
            ]
            if all(any(t.endswith("text_extracted.v1") for t in s) for s in states):
                return ids
            await asyncio.sleep(0.1)
    raise AssertionError(f"not extracted in time: {states}")


def _client(api: Api, owner: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner), timeout=20)


async def _names(client: httpx.AsyncClient, **params: Any) -> list[str]:
    page = await client.get("/v1/documents", params=params)
    assert page.status_code == 200, page.text
    return [d["filename"] for d in page.json()["items"]]


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("invoice", {"alpha.txt", "gamma.txt"}),
        ('"solar panels"', {"alpha.txt"}),
        ('"panels solar"', set()),
        ('"solar panels" roof', {"alpha.txt"}),
        ('"solar panels" OR governance', {"alpha.txt", "delta.txt"}),
        ('solar -"solar eclipse"', {"alpha.txt"}),
        ('"minutes of the board"', {"delta.txt"}),  # stop words between the words
        ("solar -eclipse", {"alpha.txt"}),
        ("eclipse OR governance", {"beta.txt", "delta.txt"}),
        ("gover*", {"delta.txt"}),
        ("invo* garden", {"gamma.txt"}),
        ("gamma.txt", {"gamma.txt"}),  # the filename is searched too
        ("nothingmatcheszz", set()),
    ],
)
async def test_search_syntax(
    api: Api, owner: str, docs: dict[str, str], q: str, expected: set[str]
) -> None:
    async with _client(api, owner) as client:
        assert set(await _names(client, q=q)) == expected


async def test_ranked_results_with_escaped_snippets(
    api: Api, owner: str, docs: dict[str, str]
) -> None:
    async with _client(api, owner) as client:
        page = (await client.get("/v1/documents", params={"q": "invoice"})).json()
    ranks = [d["rank"] for d in page["items"]]
    assert ranks == sorted(ranks, reverse=True)
    assert all(r > 0 for r in ranks)
    alpha = next(d for d in page["items"] if d["filename"] == "alpha.txt")
    assert "<mark>invoice</mark>" in alpha["snippet"]
    assert "&amp; co" in alpha["snippet"]
    # the text's markup-like parts never come out as markup
    assert "<" not in alpha["snippet"].replace("<mark>", "").replace("</mark>", "")
    async with _client(api, owner) as client:
        plain = (await client.get("/v1/documents")).json()["items"]
    assert all(d["snippet"] is None and d["rank"] is None for d in plain)


async def test_pages_end_and_empty_pages(api: Api, owner: str, docs: dict[str, str]) -> None:
    async with _client(api, owner) as client:
        whole = (await client.get("/v1/documents", params={"limit": 4})).json()
        assert len(whole["items"]) == 4
        assert whole["next_cursor"] is None
        first = (await client.get("/v1/documents", params={"limit": 3})).json()
        last = (
            await client.get("/v1/documents", params={"limit": 3, "cursor": first["next_cursor"]})
        ).json()
        assert len(last["items"]) == 1
        assert last["next_cursor"] is None
        seen = {d["document_id"] for d in first["items"] + last["items"]}
        assert seen == set(docs.values())
        empty = (await client.get("/v1/documents", params={"q": "nothingmatcheszz"})).json()
        assert empty == {"items": [], "next_cursor": None}
        q = "garden OR solar OR invoice"
        by_relevance = (await client.get("/v1/documents", params={"q": q, "limit": 2})).json()
        rest = await client.get(
            "/v1/documents", params={"q": q, "limit": 10, "cursor": by_relevance["next_cursor"]}
        )
        both = by_relevance["items"] + rest.json()["items"]
        assert {d["filename"] for d in both} == {"alpha.txt", "beta.txt", "gamma.txt"}
        assert len(both) == 3
        assert rest.json()["next_cursor"] is None
        wrong = await client.get(
            "/v1/documents", params={"sort": "filename", "cursor": by_relevance["next_cursor"]}
        )
        assert wrong.status_code == 422


async def test_date_and_status_filters_and_page_count_sort(
    api: Api, owner: str, docs: dict[str, str]
) -> None:
    async with _client(api, owner) as client:
        alpha = (await client.get(f"/v1/documents/{docs['alpha.txt']}")).json()
        assert len(await _names(client, uploaded_after="2000-01-01T00:00:00Z")) == 4
        assert await _names(client, uploaded_after="2999-01-01T00:00:00Z") == []
        assert await _names(client, uploaded_before="2000-01-01T00:00:00Z") == []
        since = await _names(client, uploaded_after=alpha["uploaded_at"])
        assert "alpha.txt" in since
        assert "alpha.txt" not in await _names(client, uploaded_before=alpha["uploaded_at"])
        assert "alpha.txt" in await _names(client, status=alpha["status"])
        assert await _names(client, status="extraction_failed") == []
        pages = (await client.get("/v1/documents", params={"sort": "-page_count"})).json()
        counts = [d["page_count"] for d in pages["items"]]
        assert counts == sorted(counts, reverse=True)
        assert len(counts) == 4


async def test_topic_filters_and_facets(api: Api, owner: str, docs: dict[str, str]) -> None:
    async with _client(api, owner) as client:
        one = (await client.post("/v1/topics", json={"name": f"one-{uuid.uuid4()}"})).json()
        two = (await client.post("/v1/topics", json={"name": f"two-{uuid.uuid4()}"})).json()
        t1, t2 = one["topic_id"], two["topic_id"]
        for name, topics in (("alpha.txt", [t1]), ("beta.txt", [t1, t2]), ("gamma.txt", [t2])):
            put = await client.put(f"/v1/documents/{docs[name]}/topics", json={"topic_ids": topics})
            assert put.status_code == 200, put.text
        both = {"topic": [t1, t2]}
        assert set(await _names(client, **both)) == {"alpha.txt", "beta.txt", "gamma.txt"}
        assert set(await _names(client, **both, topic_mode="all")) == {"beta.txt"}
        assert set(await _names(client, topic=t1, topic_mode="none")) == {"gamma.txt", "delta.txt"}
        facets = (await client.get("/v1/documents/facets", params={"q": "garden"})).json()
        assert facets["total"] == 2
        assert sum(s["count"] for s in facets["statuses"]) == 2
        assert {(t["topic_id"], t["count"]) for t in facets["topics"]} == {(t1, 1), (t2, 2)}
        everything = (await client.get("/v1/documents/facets")).json()
        assert everything["total"] == 4
        assert [t["count"] for t in everything["topics"]] == [2, 2]
        for topic in (t1, t2):
            assert (await client.delete(f"/v1/topics/{topic}")).status_code == 204
        assert (await client.get("/v1/documents/facets")).json()["topics"] == []


async def test_similar_documents(api: Api, owner: str, docs: dict[str, str]) -> None:
    async with _client(api, owner) as client:
        answer = await client.get(f"/v1/documents/{docs['gamma.txt']}/similar")
    assert answer.status_code == 200, answer.text
    names = [d["filename"] for d in answer.json()["items"]]
    assert "gamma.txt" not in names
    assert names
    assert names[0] in {"alpha.txt", "beta.txt"}
    assert all(d["rank"] > 0 for d in answer.json()["items"])


async def test_another_owner_sees_none_of_it(api: Api, owner: str, docs: dict[str, str]) -> None:
    async with _client(api, f"stranger-{uuid.uuid4()}") as stranger:
        assert (await stranger.get("/v1/documents", params={"q": "invoice"})).json()["items"] == []
        assert (await stranger.get("/v1/documents/facets")).json()["total"] == 0
        for doc in docs.values():
            for route in ROUTES:
                assert (await stranger.get(f"/v1/documents/{doc}{route}")).status_code == 404
            put = await stranger.put(f"/v1/documents/{doc}/topics", json={"topic_ids": []})
            assert put.status_code == 404
            assert (await stranger.post(f"/v1/documents/{doc}/classify")).status_code == 404
            assert (await stranger.delete(f"/v1/documents/{doc}")).status_code == 404
        redo = await stranger.post("/v1/documents/reprocess", json={"stage": "extract"})
        assert redo.json() == {"requested": 0, "skipped": 0}
    async with _client(api, owner) as client:  # still all there for their owner
        assert len(await _names(client)) == 4


async def test_deleted_is_gone_from_lists_and_search_at_once(api: Api) -> None:
    owner = f"deleter-{uuid.uuid4()}"
    async with httpx.AsyncClient(timeout=30, headers=api.auth(owner)) as client:
        answer = await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", ("epsilon.txt", b"an ephemeral zebra crossing note"))],
        )
        doc = answer.json()["documents"][0]["document_id"]
        for _ in range(300):
            found = await client.get(f"{api.catalog}/v1/documents", params={"q": "zebra"})
            if found.json()["items"]:
                break
            await asyncio.sleep(0.1)
        assert (await client.delete(f"{api.catalog}/v1/documents/{doc}")).status_code == 204
        assert (await client.get(f"{api.catalog}/v1/documents", params={"q": "zebra"})).json()[
            "items"
        ] == []
        listed = (await client.get(f"{api.catalog}/v1/documents", params={"limit": 100})).json()
        assert doc not in {d["document_id"] for d in listed["items"]}


async def test_a_wrong_method_names_the_methods_the_path_has(api: Api, owner: str) -> None:
    async with _client(api, owner) as client:
        for method, path, allowed in (
            ("GET", "/v1/documents/reprocess", "POST"),
            ("DELETE", "/v1/documents/facets", "GET"),
            ("POST", f"/v1/documents/{uuid.uuid4()}", "DELETE, GET"),
        ):
            answer = await client.request(method, path)
            assert answer.status_code == 405, (method, path)
            assert answer.headers["allow"] == allowed
            assert answer.headers["content-type"] == "application/problem+json"
