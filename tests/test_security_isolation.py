"""Issue 9, isolation: two owners, every route and verb of both APIs, zero cross-owner access.

The routes are enumerated from each app's own ``/openapi.json``: a route the matrix does not
know makes the test fail, so a new route cannot slip past it. Each attempt by owner B on owner
A's document or topic must answer 404 (exactly what a random id answers), and A's own request on
the same route must succeed — so the 404 is the owner check, not a malformed request.
"""

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from docuvault.devstack.pytest_plugin import Api
from docuvault.runtime.auth import owner_id_for

DONE = {"classified", "extraction_failed", "classification_failed"}
#: routes every app serves outside /v1 without a token (no owner data)
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json"}


@dataclass
class Owner:
    name: str
    headers: dict[str, str]
    document_id: str
    topic_id: str


Body = Callable[[Owner], dict[str, Any] | None]

#: (method, path) → the JSON body a well-formed request sends (None: no body)
OWNED_ROUTES: dict[tuple[str, str], Body] = {
    ("GET", "/v1/documents/{document_id}"): lambda o: None,
    ("GET", "/v1/documents/{document_id}/text"): lambda o: None,
    ("GET", "/v1/documents/{document_id}/content"): lambda o: None,
    ("GET", "/v1/documents/{document_id}/similar"): lambda o: None,
    ("PUT", "/v1/documents/{document_id}/topics"): lambda o: {"topic_ids": [o.topic_id]},
    ("POST", "/v1/documents/{document_id}/classify"): lambda o: {},
    ("GET", "/v1/topics/{topic_id}"): lambda o: None,
    ("PATCH", "/v1/topics/{topic_id}"): lambda o: {"description": "changed by its owner"},
    # deletions last: the owner's own control request removes the resource
    ("DELETE", "/v1/documents/{document_id}"): lambda o: None,
    ("DELETE", "/v1/topics/{topic_id}"): lambda o: None,
}
#: routes on the caller's own collection: they must show or touch nothing of another owner's
COLLECTION_ROUTES = {
    ("GET", "/v1/documents"),
    ("GET", "/v1/documents/facets"),
    ("POST", "/v1/documents"),  # ingest: the owner comes from the token only
    ("POST", "/v1/documents/reprocess"),
    ("POST", "/v1/documents/bulk/classify"),
    ("POST", "/v1/documents/bulk/topics"),
    ("POST", "/v1/documents/bulk/delete"),
    ("GET", "/v1/topics"),
    ("POST", "/v1/topics"),
    ("GET", "/v1/settings/classification"),
    ("PUT", "/v1/settings/classification"),
}
#: the installation operator's routes: scope admin, no owner's data (403 for owners)
ADMIN_ROUTES = {("POST", "/v1/tokens/revoke"), ("GET", "/v1/audit")}


def _routes(spec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "put", "post", "patch", "delete"}
    }


async def _owner(client: httpx.AsyncClient, api: Api, label: str) -> Owner:
    name = f"{label}-{uuid.uuid4()}"
    headers = api.auth(name)
    topic = await client.post(
        f"{api.catalog}/v1/topics", json={"name": f"{label} papers"}, headers=headers
    )
    assert topic.status_code == 201, topic.text
    uploaded = await client.post(
        f"{api.ingest}/v1/documents",
        files=[("file", (f"{label}.txt", f"private letter of {label}, do not share".encode()))],
        headers=headers,
    )
    assert uploaded.status_code == 202, uploaded.text
    document_id = uploaded.json()["documents"][0]["document_id"]
    status = None
    for _ in range(300):
        seen = await client.get(f"{api.catalog}/v1/documents/{document_id}", headers=headers)
        status = seen.json().get("status") if seen.status_code == 200 else None
        if status in DONE:
            break
        await asyncio.sleep(0.1)
    assert status in DONE, f"{label}'s document not processed in 30 s: {status}"
    return Owner(name, headers, document_id, topic.json()["topic_id"])


def _url(api: Api, path: str, owner: Owner) -> str:
    return api.catalog + path.format(document_id=owner.document_id, topic_id=owner.topic_id)


async def test_no_owner_reads_or_writes_another_owners_documents_or_topics(api: Api) -> None:
    async with httpx.AsyncClient(timeout=30) as client:
        specs = {
            name: (await client.get(f"{base}/openapi.json")).json()
            for name, base in (("ingest", api.ingest), ("catalog", api.catalog))
        }
        routes = {r for spec in specs.values() for r in _routes(spec) if r[1] not in PUBLIC}
        known = set(OWNED_ROUTES) | COLLECTION_ROUTES | ADMIN_ROUTES
        # a route the matrix does not know fails the test: a new route cannot slip past it
        assert routes - known == set(), "routes missing from the isolation matrix"

        alice, bob = await asyncio.gather(_owner(client, api, "alice"), _owner(client, api, "bob"))
        settings = await client.put(
            f"{api.catalog}/v1/settings/classification",
            json={
                "provider": "local",
                "system_prompt": "alice's own prompt",
                "apply_threshold": 0.9,
            },
            headers=alice.headers,
        )
        assert settings.status_code == 200, settings.text
        deletions = [r for r in OWNED_ROUTES if r[0] == "DELETE" and r in routes]
        others = [r for r in OWNED_ROUTES if r[0] != "DELETE" and r in routes]
        await _owned_routes_answer_404(client, api, alice, bob, others)
        await _collections_show_nothing_of_others(client, api, alice, bob, routes)
        await _owned_routes_answer_404(client, api, alice, bob, deletions)
        for method, path in ADMIN_ROUTES:
            refused = await client.request(
                method, api.catalog + path, json={"jti": "x"}, headers=bob.headers
            )
            assert refused.status_code == 403, (method, path)


async def _owned_routes_answer_404(
    client: httpx.AsyncClient,
    api: Api,
    alice: Owner,
    bob: Owner,
    routes: list[tuple[str, str]],
) -> None:
    nobody = Owner("nobody", {}, str(uuid.uuid4()), str(uuid.uuid4()))
    for method, path in routes:
        body = OWNED_ROUTES[(method, path)]
        # bob's request names alice's ids; its body names bob's own topic (a valid request)
        crossed = await client.request(
            method, _url(api, path, alice), json=body(bob), headers=bob.headers
        )
        unknown = await client.request(
            method, _url(api, path, nobody), json=body(bob), headers=bob.headers
        )
        assert crossed.status_code == 404, (method, path, crossed.text)
        assert alice.document_id not in crossed.text
        assert alice.topic_id not in crossed.text
        # nothing tells alice's ids apart from ids that do not exist
        assert crossed.json()["detail"] == unknown.json()["detail"], (method, path)
        own = await client.request(
            method, _url(api, path, alice), json=body(alice), headers=alice.headers
        )
        assert own.status_code < 300, (method, path, own.status_code, own.text)
        if method == "GET":  # HEAD (not served by FastAPI: 405) tells nothing either
            head = await client.head(_url(api, path, alice), headers=bob.headers)
            head_unknown = await client.head(_url(api, path, nobody), headers=bob.headers)
            assert head.status_code in {404, 405}, ("HEAD", path, head.status_code)
            assert head.status_code == head_unknown.status_code


async def _collections_show_nothing_of_others(
    client: httpx.AsyncClient, api: Api, alice: Owner, bob: Owner, routes: set[tuple[str, str]]
) -> None:
    """Bob's collection routes show only bob's things, even when they name alice's ids."""
    cat = api.catalog
    listed = await client.get(f"{cat}/v1/documents", headers=bob.headers)
    assert [d["document_id"] for d in listed.json()["items"]] == [bob.document_id]
    # a search for alice's words finds nothing of hers
    found = await client.get(f"{cat}/v1/documents", params={"q": "alice"}, headers=bob.headers)
    assert found.json()["items"] == []
    by_topic = await client.get(
        f"{cat}/v1/documents", params={"topic": alice.topic_id}, headers=bob.headers
    )
    assert by_topic.status_code in {200, 404, 422}
    assert alice.topic_id not in by_topic.text or by_topic.status_code != 200
    if ("GET", "/v1/documents/facets") in routes:
        counts = await client.get(f"{cat}/v1/documents/facets", headers=bob.headers)
        assert counts.status_code == 200, counts.text
        assert counts.json()["total"] == 1
        assert alice.topic_id not in counts.text
    if ("GET", "/v1/documents/{document_id}/similar") in routes:
        # alice's letter shares nearly every word with bob's: only an owner check keeps it out
        alike = await client.get(
            f"{cat}/v1/documents/{bob.document_id}/similar", headers=bob.headers
        )
        assert alike.status_code == 200, alike.text
        assert alice.document_id not in alike.text
    topics = await client.get(f"{cat}/v1/topics", headers=bob.headers)
    assert {t["topic_id"] for t in topics.json()["items"]} == {bob.topic_id}
    own_settings = await client.get(f"{cat}/v1/settings/classification", headers=bob.headers)
    assert own_settings.json()["system_prompt"] != "alice's prompt"
    reprocessed = await client.post(
        f"{cat}/v1/documents/reprocess", json={"stage": "extract"}, headers=bob.headers
    )
    assert reprocessed.status_code == 202
    assert reprocessed.json()["requested"] == 1  # bob's one document, none of alice's
    await _bulk_routes_touch_nothing_of_others(client, api, alice, bob, routes)
    # a body naming another owner's topic is told apart from an unknown id by nothing
    foreign = await client.put(
        f"{cat}/v1/documents/{bob.document_id}/topics",
        json={"topic_ids": [alice.topic_id]},
        headers=bob.headers,
    )
    random_id = str(uuid.uuid4())
    unknown = await client.put(
        f"{cat}/v1/documents/{bob.document_id}/topics",
        json={"topic_ids": [random_id]},
        headers=bob.headers,
    )
    assert foreign.status_code == unknown.status_code
    assert foreign.status_code in {404, 422}
    assert foreign.json()["detail"].replace(alice.topic_id, random_id) == unknown.json()["detail"]


async def _bulk_routes_touch_nothing_of_others(
    client: httpx.AsyncClient, api: Api, alice: Owner, bob: Owner, routes: set[tuple[str, str]]
) -> None:
    """Bob's bulk requests naming alice's document report it not found and leave it alone."""
    bodies = {
        "classify": {"document_ids": [alice.document_id]},
        "topics": {"document_ids": [alice.document_id], "topic_ids": [bob.topic_id]},
        "delete": {"document_ids": [alice.document_id]},
    }
    before = await client.get(
        f"{api.catalog}/v1/documents/{alice.document_id}", headers=alice.headers
    )
    for action, body in bodies.items():
        if ("POST", f"/v1/documents/bulk/{action}") not in routes:
            continue
        answer = await client.post(
            f"{api.catalog}/v1/documents/bulk/{action}", json=body, headers=bob.headers
        )
        assert answer.status_code < 300, (action, answer.text)
        assert answer.json()["done"] == [], action
        assert answer.json()["not_found"] == [alice.document_id], action
    after = await client.get(
        f"{api.catalog}/v1/documents/{alice.document_id}", headers=alice.headers
    )
    assert after.status_code == 200, after.text
    unchanged = ("status", "topics", "history")
    assert {k: after.json()[k] for k in unchanged} == {k: before.json()[k] for k in unchanged}


async def test_an_idempotency_key_is_per_owner(api: Api) -> None:
    """The same Idempotency-Key from two owners gives each their own upload, never a replay of
    the other's answer."""
    key = f"shared-key-{uuid.uuid4()}"
    answers = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for label in ("carol", "dave"):
            name = f"{label}-{uuid.uuid4()}"
            answer = await client.post(
                f"{api.ingest}/v1/documents",
                files=[("file", (f"{label}.txt", f"{label}'s own words".encode()))],
                headers={**api.auth(name), "Idempotency-Key": key},
            )
            assert answer.status_code == 202, answer.text
            answers[name] = answer.json()["documents"][0]
    (carol, first), (dave, second) = answers.items()
    assert first["document_id"] != second["document_id"]
    assert first["sha256"] != second["sha256"]
    assert owner_id_for(carol) != owner_id_for(dave)
