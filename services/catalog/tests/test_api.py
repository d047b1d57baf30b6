"""The catalog's HTTP API against the running private stack."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from docuvault.devstack.pytest_plugin import Api


@pytest.fixture
def owner() -> str:
    return f"catalog-{uuid.uuid4()}"


async def _client(api: Api, owner: str, *scopes: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=api.catalog, headers=api.auth(owner, *scopes), timeout=20)


async def test_topics_crud_scoped_to_the_owner(api: Api, owner: str) -> None:
    async with await _client(api, owner) as client:
        created = await client.post(
            "/v1/topics",
            json={
                "name": "Taxes",
                "description": "tax letters",
                "keywords": ["vat"],
                "color": "#aa0011",
                "match": {"algorithm": "any", "pattern": "vat tax"},
            },
        )
        assert created.status_code == 201, created.text
        topic = created.json()
        assert topic["document_count"] == 0
        assert topic["match"] == {"algorithm": "any", "pattern": "vat tax", "case_sensitive": False}
        again = await client.post("/v1/topics", json={"name": "taxes"})
        assert again.status_code == 409
        patched = await client.patch(f"/v1/topics/{topic['topic_id']}", json={"name": "Tax"})
        assert patched.json()["name"] == "Tax"
        assert patched.json()["keywords"] == ["vat"]
        listed = await client.get("/v1/topics")
        assert [t["name"] for t in listed.json()["items"]] == ["Tax"]
    async with await _client(api, f"other-{owner}") as stranger:
        for method in ("GET", "PATCH", "DELETE"):
            answer = await stranger.request(
                method,
                f"/v1/topics/{topic['topic_id']}",
                json={"name": "mine"} if method == "PATCH" else None,
            )
            assert answer.status_code == 404, method
        assert (await stranger.get("/v1/topics")).json()["items"] == []
    async with await _client(api, owner) as client:
        assert (await client.delete(f"/v1/topics/{topic['topic_id']}")).status_code == 204
        assert (await client.get(f"/v1/topics/{topic['topic_id']}")).status_code == 404


async def test_topic_writes_need_the_scope(api: Api, owner: str) -> None:
    async with await _client(api, owner, "documents:read") as client:
        answer = await client.post("/v1/topics", json={"name": "x"})
    assert answer.status_code == 403
    assert "topics:write" in answer.json()["detail"]


async def test_invalid_bodies_are_problems_naming_the_field(api: Api, owner: str) -> None:
    async with await _client(api, owner) as client:
        answer = await client.post("/v1/topics", json={"name": "", "color": "red"})
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["detail"].startswith("body.name")


async def test_classification_settings(api: Api, owner: str) -> None:
    async with await _client(api, owner) as client:
        default = await client.get("/v1/settings/classification")
        assert default.json() == {
            "provider": "local",
            "system_prompt": None,
            "apply_threshold": 0.5,
        }
        changed = await client.put(
            "/v1/settings/classification",
            json={"provider": "local", "system_prompt": "Be strict.", "apply_threshold": 0.7},
        )
        assert changed.status_code == 200
        assert (await client.get("/v1/settings/classification")).json()["apply_threshold"] == 0.7
        refused = await client.put(
            "/v1/settings/classification", json={"provider": "anthropic", "apply_threshold": 0.5}
        )
        assert refused.status_code == 422
        assert "not enabled" in refused.json()["detail"]


async def _all(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        page = await client.get(
            "/v1/documents", params={**params, "cursor": cursor} if cursor else params
        )
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


async def test_listing_filters_sorts_and_pages_stably(api: Api, owner: str) -> None:
    ids = await api.upload(
        owner,
        [
            ("b.txt", b"bb" * 10),
            ("a.md", b"# a"),
            ("c.csv", b"x,y\n" * 50),
            ("d.txt", b"d"),
        ],
    )
    async with await _client(api, owner) as client:
        for _ in range(100):
            if len((await client.get("/v1/documents")).json()["items"]) == 4:
                break
            await asyncio.sleep(0.1)
        newest_first = await _all(client, limit=1)
        assert [d["document_id"] for d in newest_first] == ids[::-1]
        by_name = await _all(client, sort="filename", limit=3)
        assert [d["filename"] for d in by_name] == ["a.md", "b.txt", "c.csv", "d.txt"]
        by_size = await _all(client, sort="-size_bytes", limit=2)
        assert [d["size_bytes"] for d in by_size] == [200, 20, 3, 1]
        text_only = await _all(client, content_type="text/plain")
        assert {d["filename"] for d in text_only} == {"b.txt", "d.txt"}
        # documents arriving between pages do not shift what comes next
        first = await client.get("/v1/documents", params={"sort": "filename", "limit": 2})
        await api.upload(owner, [("0-first.txt", b"new")])
        rest = await client.get(
            "/v1/documents",
            params={"sort": "filename", "limit": 10, "cursor": first.json()["next_cursor"]},
        )
        assert [d["filename"] for d in rest.json()["items"]] == ["c.csv", "d.txt"]
        bad = await client.get("/v1/documents", params={"cursor": "nonsense"})
        assert bad.status_code == 422
        assert bad.json()["detail"].startswith("cursor")
