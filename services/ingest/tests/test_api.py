"""``POST /v1/documents`` against the running private stack."""

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from docuvault.devstack.pytest_plugin import Api

TEXT = b"The quarterly invoice from Acme Corporation is attached.\n"


async def _upload(api: Api, files: list[tuple[str, bytes]], **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(
            f"{api.ingest}/v1/documents",
            files=[("file", (name, data)) for name, data in files],
            headers=headers,
        )


async def _document(api: Api, owner: str, document_id: str) -> dict[str, Any]:
    """The catalog's view once the upload has been projected (it is asynchronous)."""
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):
            answer = await client.get(
                f"{api.catalog}/v1/documents/{document_id}", headers=api.auth(owner)
            )
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
            await asyncio.sleep(0.1)
    raise AssertionError(f"{document_id} never reached the catalog: {answer.text}")


async def test_upload_is_accepted_and_reaches_the_catalog(api: Api) -> None:
    owner = f"owner-{uuid.uuid4()}"
    answer = await _upload(api, [("invoice.txt", TEXT)], **api.auth(owner))
    assert answer.status_code == 202, answer.text
    [doc] = answer.json()["documents"]
    assert answer.json()["errors"] == []
    assert doc["filename"] == "invoice.txt"
    assert doc["content_type"] == "text/plain"
    assert doc["size_bytes"] == len(TEXT)
    assert doc["sha256"] == hashlib.sha256(TEXT).hexdigest()
    seen = await _document(api, owner, doc["document_id"])
    assert seen["filename"] == "invoice.txt"
    assert seen["size_bytes"] == len(TEXT)
    assert seen["sha256"] == doc["sha256"]
    assert seen["status"] in {"received", "extracted", "classified"}
    assert seen["history"][0]["type"] == "io.docuvault.document.uploaded.v1"
    async with httpx.AsyncClient() as client:
        listed = await client.get(f"{api.catalog}/v1/documents", headers=api.auth(owner))
    assert [d["document_id"] for d in listed.json()["items"]] == [doc["document_id"]]


async def test_another_owner_gets_404(api: Api) -> None:
    answer = await _upload(api, [("mine.txt", TEXT)], **api.auth("alice"))
    document_id = answer.json()["documents"][0]["document_id"]
    await _document(api, "alice", document_id)
    async with httpx.AsyncClient() as client:
        for method in ("GET", "DELETE"):
            stranger = await client.request(
                method, f"{api.catalog}/v1/documents/{document_id}", headers=api.auth("mallory")
            )
            assert stranger.status_code == 404, method
            assert stranger.headers["content-type"] == "application/problem+json"
        listed = await client.get(f"{api.catalog}/v1/documents", headers=api.auth("mallory"))
    assert document_id not in {d["document_id"] for d in listed.json()["items"]}


async def test_no_token_is_401_and_a_read_only_token_is_403(api: Api) -> None:
    missing = await _upload(api, [("a.txt", TEXT)])
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert missing.json()["detail"].startswith("missing bearer token")
    garbage = await _upload(api, [("a.txt", TEXT)], Authorization="Bearer nope")
    assert garbage.status_code == 401
    read_only = await _upload(api, [("a.txt", TEXT)], **api.auth("reader", "documents:read"))
    assert read_only.status_code == 403
    assert "documents:write" in read_only.json()["detail"]


async def test_duplicates_are_flagged(api: Api) -> None:
    owner = f"dup-{uuid.uuid4()}"
    first = await _upload(api, [("a.txt", TEXT)], **api.auth(owner))
    again = await _upload(api, [("copy.txt", TEXT)], **api.auth(owner))
    original = first.json()["documents"][0]["document_id"]
    assert again.json()["documents"][0]["duplicate_of"] == original
    other_owner = await _upload(api, [("a.txt", TEXT)], **api.auth(f"x-{owner}"))
    assert other_owner.json()["documents"][0]["duplicate_of"] is None


async def test_refusals_carry_a_problem_and_per_file_errors(api: Api) -> None:
    owner = f"bad-{uuid.uuid4()}"
    unsupported = await _upload(api, [("x.bin", b"\x00\x01\x02garbage\x00")], **api.auth(owner))
    assert unsupported.status_code == 415
    assert unsupported.headers["content-type"] == "application/problem+json"
    assert unsupported.json()["errors"][0]["filename"] == "x.bin"
    mixed = await _upload(api, [("ok.txt", TEXT), ("empty.txt", b"")], **api.auth(owner))
    assert mixed.status_code == 202
    assert mixed.json()["errors"] == [
        {"filename": "empty.txt", "status": 400, "detail": "file is empty"}
    ]


async def test_request_over_the_cap_is_refused_from_content_length(api: Api) -> None:
    """413 before a byte of the body is read: the client only sends the headers."""
    cap = 12 * 1024 * 1024 * 5  # the test stack's per-file limit times files per request
    host, port = api.ingest.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /v1/documents HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: {api.auth('big')['Authorization']}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n"
        f"Content-Length: {cap + 1}\r\n\r\n"
    )
    writer.write(head.encode())
    await writer.drain()
    answer = b""
    while b"\r\n\r\n" not in answer or b"over the limit" not in answer:
        chunk = await asyncio.wait_for(reader.read(4096), 10)
        if not chunk:
            break
        answer += chunk
    writer.close()
    status_line, _, rest = answer.decode().partition("\r\n")
    assert status_line == "HTTP/1.1 413 Request Entity Too Large"
    assert "over the limit" in rest


async def test_service_reports_ready_with_each_check(api: Api) -> None:
    async with httpx.AsyncClient() as client:
        answer = await client.get(f"{api.ingest}/readyz")
        metrics = await client.get(f"{api.ingest}/metrics")
    assert answer.json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "s3": "ok", "rabbitmq": "ok"},
    }
    assert "docuvault_events_published_total" in metrics.text


async def test_idempotency_key_replays_the_first_answer_and_creates_nothing(api: Api) -> None:
    owner = f"idem-{uuid.uuid4()}"
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    files = [("one.txt", b"first file"), ("two.txt", b"second file")]
    first = await _upload(api, files, **api.auth(owner), **key)
    again = await _upload(api, files, **api.auth(owner), **key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other = await _upload(
        api, [("one.txt", b"first file"), ("two.txt", b"changed")], **api.auth(owner), **key
    )
    assert other.status_code == 422
    assert "another body" in other.json()["detail"]
    ids = {d["document_id"] for d in first.json()["documents"]}
    for document_id in ids:
        await _document(api, owner, document_id)
    async with httpx.AsyncClient() as client:
        listed = await client.get(f"{api.catalog}/v1/documents", headers=api.auth(owner))
    assert {d["document_id"] for d in listed.json()["items"]} == ids  # nothing new
    # the same key of another owner is another key
    stranger = await _upload(api, files, **api.auth(f"x-{owner}"), **key)
    assert "idempotent-replayed" not in stranger.headers


async def test_a_refusal_is_remembered_for_its_key_too(api: Api) -> None:
    owner = f"idem-refused-{uuid.uuid4()}"
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    first = await _upload(api, [("x.bin", b"\x00\x01binary\x00")], **api.auth(owner), **key)
    again = await _upload(api, [("x.bin", b"\x00\x01binary\x00")], **api.auth(owner), **key)
    assert first.status_code == again.status_code == 415
    assert again.headers["idempotent-replayed"] == "true"
    assert again.headers["content-type"] == "application/problem+json"
    bad_key = await _upload(
        api, [("a.txt", TEXT)], **api.auth(owner), **{"Idempotency-Key": "with spaces"}
    )
    assert bad_key.status_code == 422
    assert "idempotency-key" in bad_key.json()["detail"].lower()


async def test_too_many_uploads_of_one_owner_at_once_is_429(api: Api) -> None:
    """Uploads whose bodies stall hold their slots; one more is refused with Retry-After."""
    owner = f"busy-{uuid.uuid4()}"
    release = asyncio.Event()
    limit = 8  # DOCUVAULT_MAX_CONCURRENT_UPLOADS_PER_OWNER's default

    async def stalled_body() -> AsyncIterator[bytes]:
        yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="s.txt"\r\n\r\n'
        await release.wait()
        yield b"finally\r\n--b--\r\n"

    async with httpx.AsyncClient(timeout=60) as client:
        headers = {**api.auth(owner), "content-type": "multipart/form-data; boundary=b"}
        holders = [
            asyncio.create_task(
                client.post(f"{api.ingest}/v1/documents", headers=headers, content=stalled_body())
            )
            for _ in range(limit)
        ]
        await asyncio.sleep(1.0)  # every holder is in flight, its slot taken
        for _ in range(50):
            busy = await client.post(
                f"{api.ingest}/v1/documents",
                headers=api.auth(owner),
                files={"file": ("one-more.txt", b"x")},
            )
            if busy.status_code == 429:
                break
            await asyncio.sleep(0.1)
        release.set()
        answers = await asyncio.gather(*holders)
    assert busy.status_code == 429
    assert busy.headers["retry-after"] == "1"
    assert all(a.status_code == 202 for a in answers)
    other = await _upload(
        api, [("free.txt", b"another owner is not limited")], **api.auth(f"free-{owner}")
    )
    assert other.status_code == 202
